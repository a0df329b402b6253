/**
 * The one table that turns a failure of the Check path into a gRPC status
 * (grpc/doc/statuscodes.md). A denial is not a failure: it is an OK call whose
 * CheckResponse says PERMISSION_DENIED (check-response.ts). A failure means the
 * server could not decide; Envoy's ext_authz filter runs with
 * `failure_mode_allow: false`, so every status here denies the request.
 * `details` doubles as the metrics `reason` label.
 */
import { BouncerError } from '../core/errors.js';
import { GrpcStatus, type GrpcFailure } from './grpc-transport.js';

/** Codes with a status of their own; everything else is INTERNAL. */
const GRPC_FAILURES: Readonly<Record<string, GrpcFailure>> = {
  /**
   * A tenant or shared-state store cannot answer (database or Redis down):
   * UNAVAILABLE says "retry later" to anyone reading Envoy's logs, where
   * INTERNAL would read as a bug.
   */
  ERR_STORE_UNAVAILABLE: { code: GrpcStatus.UNAVAILABLE, details: 'store_unavailable' },
};

const INTERNAL: GrpcFailure = { code: GrpcStatus.INTERNAL, details: 'internal_error' };

/**
 * The gRPC status for a value thrown or rejected while deciding a Check.
 *
 * @example
 * ```ts
 * outcome.catch((err) => reply(grpcFailureOf(err)));
 * ```
 */
export function grpcFailureOf(err: unknown): GrpcFailure {
  return err instanceof BouncerError ? (GRPC_FAILURES[err.code] ?? INTERNAL) : INTERNAL;
}

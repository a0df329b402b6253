import type { AllowReason, DenyReason } from './reasons.js';

/** Identity taken from a verified client certificate. */
export interface ClientIdentity {
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  readonly fingerprint256: string;
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
  readonly ip: readonly string[];
  readonly notAfter: number;
}

/** The plain request the decision core judges; only the Envoy adapter knows CheckRequest. */
export interface CheckInput {
  readonly requestId: string;
  /** `:authority` (or Host) as received, port and case not yet normalized. */
  readonly authority: string;
  /** TLS SNI of the downstream connection, when Envoy reported one. */
  readonly sni: string | undefined;
  readonly method: string;
  /** Request path including any query string. */
  readonly path: string;
  /** URL-decoded PEM of the peer certificate Envoy saw in the handshake. */
  readonly peerCertificate: string | undefined;
  /** Raw x-forwarded-client-cert value, when present. */
  readonly xfcc: string | undefined;
  readonly sourceAddress: string | undefined;
}

export type Decision =
  | {
      readonly allow: true;
      readonly reason: AllowReason;
      readonly tenant: string;
      readonly identity: ClientIdentity | undefined;
      readonly cacheHit: boolean;
    }
  | {
      readonly allow: false;
      readonly reason: DenyReason;
      readonly status: number;
      /** Human-readable explanation; safe to show the client (no secrets, no internals). */
      readonly detail: string;
      readonly tenant: string | undefined;
      readonly identity: ClientIdentity | undefined;
      readonly cacheHit: boolean;
    };

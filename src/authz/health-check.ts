/**
 * grpc.health.v1.Health/Check served on the transport itself, not relayed to
 * grpc-js: Kubernetes' grpc probes and Envoy's gRPC health checks call it, and
 * relayed streams share one loopback session that a client holding many
 * streams could fill. Served here, health answers as long as Check does.
 * Watch (a server stream) stays with grpc-js, behind the relay's limits.
 *
 * Wire shapes from grpc/health/v1/health.proto: HealthCheckRequest{string
 * service = 1}, HealthCheckResponse{ServingStatus status = 1} with SERVING = 1,
 * NOT_SERVING = 2.
 */
import { GrpcStatus, type UnaryMethod } from './grpc-wire.js';

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

const RESPONSES: Readonly<Record<ServingStatus, Buffer>> = { SERVING: Buffer.from([0x08, 0x01]), NOT_SERVING: Buffer.from([0x08, 0x02]) };

/** Reads a base-128 varint at `at`; returns [value, next offset] or undefined past the end or over 32 bits. */
function readVarint(buf: Buffer, at: number): [number, number] | undefined {
  let value = 0;
  for (let shift = 0, i = at; i < buf.length && shift < 35; shift += 7, i++) {
    const b = buf[i] as number;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, i + 1];
  }
  return undefined;
}

/** The `service` field of a HealthCheckRequest; unknown fields are skipped as proto3 requires. */
export function decodeHealthService(message: Buffer): string | undefined {
  let service = '';
  let at = 0;
  while (at < message.length) {
    const key = readVarint(message, at);
    if (!key) return undefined;
    const [tag, next] = key;
    const wire = tag & 7;
    at = next;
    if (wire === 0) {
      const v = readVarint(message, at);
      if (!v) return undefined;
      at = v[1];
    } else if (wire === 1 || wire === 5) {
      at += wire === 1 ? 8 : 4;
    } else if (wire === 2) {
      const len = readVarint(message, at);
      if (!len || len[1] + len[0] > message.length) return undefined;
      if (tag >>> 3 === 1) service = message.toString('utf8', len[1], len[1] + len[0]);
      at = len[1] + len[0];
    } else return undefined;
    if (at > message.length) return undefined;
  }
  return service;
}

/** The Check method, answering from `statusOf` (undefined: a service this server does not know). */
export function createHealthCheckMethod(statusOf: (service: string) => ServingStatus | undefined): UnaryMethod {
  return {
    path: HEALTH_CHECK_PATH,
    handle(message, reply) {
      const service = decodeHealthService(message);
      if (service === undefined) return reply({ code: GrpcStatus.INTERNAL, details: 'the HealthCheckRequest could not be decoded' });
      const status = statusOf(service);
      // As grpc-health-check (and grpc-go's health server) answer an unknown service.
      if (status === undefined) return reply({ code: GrpcStatus.NOT_FOUND, details: `Health status unknown for service ${service}` });
      reply(null, RESPONSES[status]);
    },
  };
}

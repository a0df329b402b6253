import type * as grpc from '@grpc/grpc-js';
import type { CheckRequestMessage } from '../../src/authz/check-request.js';
import { loadAuthzProtos } from '../../src/authz/proto.js';

/**
 * protobufjs's Check codec, loaded from the same protos with the server's
 * options but without its hand-written codec: the reference the decoder and
 * encoder tests compare against.
 */
export const referenceCheck = (
  loadAuthzProtos()['envoy.service.auth.v3.Authorization'] as Record<string, grpc.MethodDefinition<object, object>>
).Check as grpc.MethodDefinition<object, object>;

/** The fields bouncer reads from a decoded request, as plain data (headers as sorted entries). */
export function readFields(m: CheckRequestMessage): unknown {
  const a = m.attributes;
  const h = a?.request?.http;
  return {
    address: a?.source?.address?.socket_address?.address,
    certificate: a?.source?.certificate,
    id: h?.id,
    method: h?.method,
    path: h?.path,
    host: h?.host,
    headers: h?.headers === undefined ? undefined : Object.entries(h.headers).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)),
    sni: a?.tls_session?.sni,
  };
}

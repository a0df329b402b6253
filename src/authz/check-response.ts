/**
 * The only place that knows the `CheckResponse` shape: a decision in, Envoy's
 * answer out. The parts are in `check-response/`: the message and its header
 * options (`message.ts`), the identity headers an allow sets and removes
 * (`identity-headers.ts`), a denial's status, headers and body (`denied.ts`),
 * the protobuf wire encoding (`wire.ts`), and the allow's cached encoding
 * (`identity-block.ts`).
 */
import type { Decision } from '../core/decision.js';
import { toDeniedResponse } from './check-response/denied.js';
import { forgedHeaders, identityHeaders, knownRemovals, IDENTITY_HEADERS } from './check-response/identity-headers.js';
import { encodeAllow } from './check-response/identity-block.js';
import { RPC_OK, set, type CheckResponseMessage } from './check-response/message.js';
import { encodeCheckResponse } from './check-response/wire.js';

export { IDENTITY_HEADERS } from './check-response/identity-headers.js';
export type { CheckResponseMessage } from './check-response/message.js';
export { encodeCheckResponse } from './check-response/wire.js';

/**
 * Maps a decision to Envoy's CheckResponse. On allow, identity headers are set
 * and every other `x-bouncer-*` header the client sent is removed; on deny, a
 * JSON body carries the stable reason code and the request id.
 */
export function toCheckResponse(
  decision: Decision,
  requestId: string,
  requestHeaders: Readonly<Record<string, string>>,
): CheckResponseMessage {
  if (decision.allow) {
    const own = identityHeaders(decision);
    const known = knownRemovals(own);
    const forged = forgedHeaders(requestHeaders);
    return {
      status: { code: RPC_OK },
      ok_response: { headers: [set(IDENTITY_HEADERS.requestId, requestId), ...own], headers_to_remove: forged === undefined ? known : [...known, ...forged] },
    };
  }
  return toDeniedResponse(decision, requestId);
}

/**
 * `encodeCheckResponse(toCheckResponse(...))`, byte for byte, with an allow's
 * identity headers encoded once and reused. The Check handler's encoder.
 * `headroom` bytes are left free before the message, where the gRPC transport
 * writes its frame prefix: the response is then built in the buffer that goes
 * on the wire, not copied into one.
 */
export function encodeCheckDecision(decision: Decision, requestId: string, requestHeaders: Readonly<Record<string, string>>, headroom = 0): Buffer {
  if (!decision.allow) return encodeCheckResponse(toCheckResponse(decision, requestId, requestHeaders), headroom);
  return encodeAllow(decision, requestId, requestHeaders, headroom);
}

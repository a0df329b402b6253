/**
 * The allow's fast path: identity headers encoded once per session and
 * certificate identity, so a warm allow encodes only its request id.
 */
import { forgedHeaders, identityHeaders, knownRemovals, IDENTITY_HEADERS, type AllowDecision } from './identity-headers.js';
import { RPC_OK, set } from './message.js';
import { TAG_LEN, TAG_VARINT, WireWriter, encodeOkFields, headerOptionSize, varintSize, writeHeaderOption, type Sized } from './wire.js';

/** CheckResponse.status = google.rpc.Status { code = 0 }: tag 1, length 2, tag 1, varint 0. */
const OK_STATUS = Buffer.from([TAG_LEN(1), 2, TAG_VARINT(1), RPC_OK]);

/** An allow's identity headers and their removals, encoded, with the token they were built for. */
interface IdentityBlock {
  readonly bytes: Buffer;
  readonly token: string | undefined;
}

/** Stands for "no user" or "no certificate" among the weak keys. */
const NOBODY: object = Object.freeze({});
/** Blocks per (session, certificate identity) object, then per the decision's remaining names. */
const blocks = new WeakMap<object, WeakMap<object, Map<string, IdentityBlock>>>();
/** Combinations of tenant, reason, app, policy and service token kept per pair; they come from config, so few. */
const MAX_BLOCKS_PER_PAIR = 256;

const part = (s: string | undefined): string => (s === undefined ? '-' : `${s.length}:${s}`);

/**
 * The encoded identity headers and removals of an allow. They depend only on
 * the session and certificate identity, which the caches hand out as the same
 * objects on every warm request, and a few names from config; so they are
 * encoded once and reused, and a warm allow encodes only its request id.
 */
function identityBlock(decision: AllowDecision): Buffer {
  const byUser = decision.user?.session ?? NOBODY;
  const byCert = decision.identity ?? NOBODY;
  let perUser = blocks.get(byUser);
  if (perUser === undefined) blocks.set(byUser, (perUser = new WeakMap()));
  let perPair = perUser.get(byCert);
  if (perPair === undefined) perUser.set(byCert, (perPair = new Map()));
  const key = `${part(decision.tenant)}${part(decision.reason)}${part(decision.app)}${part(decision.policy)}${part(decision.serviceToken)}`;
  const token = decision.user?.token;
  const found = perPair.get(key);
  if (found !== undefined && found.token === token) return found.bytes;
  const own = identityHeaders(decision);
  const encoded = encodeOkFields(own, knownRemovals(own));
  // A copy of its own: a small Buffer is a slice of Node's shared 8 KiB pool,
  // and a kept slice would keep its whole pool alive.
  const bytes = Buffer.alloc(encoded.length);
  encoded.copy(bytes);
  if (perPair.size >= MAX_BLOCKS_PER_PAIR) perPair.clear();
  perPair.set(key, { bytes, token });
  return bytes;
}

/**
 * An allow, encoded with its identity headers taken from {@link identityBlock}.
 * `headroom` bytes are left free before the message, where the gRPC transport
 * writes its frame prefix: the response is then built in the buffer that goes
 * on the wire, not copied into one.
 */
export function encodeAllow(decision: AllowDecision, requestId: string, requestHeaders: Readonly<Record<string, string>>, headroom: number): Buffer {
  const forged = forgedHeaders(requestHeaders);
  // The request id comes first, written straight into the response.
  const id = set(IDENTITY_HEADERS.requestId, requestId);
  const sized: Sized = { strings: [] };
  const lens: number[] = [];
  const head = headerOptionSize(id, sized, lens);
  const block = identityBlock(decision);
  const tail = forged === undefined ? undefined : encodeOkFields([], forged);
  const ok = head + block.length + (tail?.length ?? 0);
  const total = OK_STATUS.length + 1 + varintSize(ok) + ok;
  const w = new WireWriter(total, headroom);
  w.raw(OK_STATUS);
  w.varint(TAG_LEN(3));
  w.varint(ok);
  writeHeaderOption(w, 2, id, sized.strings, lens, { s: 0, l: 0 });
  w.raw(block);
  if (tail) w.raw(tail);
  if (w.pos !== headroom + total) throw new Error(`CheckResponse encoder wrote ${w.pos - headroom} bytes, expected ${total}`);
  return w.buf;
}

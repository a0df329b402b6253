import type { Decision } from '../core/decision.js';

/** Headers bouncer sets on allowed requests; a client can never supply them. */
export const IDENTITY_HEADERS = {
  tenant: 'x-bouncer-tenant',
  auth: 'x-bouncer-mtls',
  subject: 'x-bouncer-client-subject',
  issuer: 'x-bouncer-client-issuer',
  serial: 'x-bouncer-client-serial',
  fingerprint: 'x-bouncer-client-fingerprint-sha256',
  dns: 'x-bouncer-client-san-dns',
  uri: 'x-bouncer-client-san-uri',
  email: 'x-bouncer-client-san-email',
  requestId: 'x-bouncer-request-id',
  app: 'x-bouncer-app',
  jwt: 'x-bouncer-jwt-assertion',
  userSub: 'x-bouncer-user-sub',
  userEmail: 'x-bouncer-user-email',
  userName: 'x-bouncer-user-name',
  userGroups: 'x-bouncer-user-groups',
  userIdp: 'x-bouncer-user-idp',
  serviceToken: 'x-bouncer-service-token',
  policy: 'x-bouncer-policy',
} as const;

const ALL_IDENTITY_HEADERS: readonly string[] = Object.values(IDENTITY_HEADERS);
const RESERVED_PREFIX = 'x-bouncer-';
/** Each identity header's bit in the mask of headers an allow sets. */
const IDENTITY_BIT: ReadonlyMap<string, number> = new Map(ALL_IDENTITY_HEADERS.map((h, i) => [h, 1 << i]));
/**
 * The identity headers to remove, per mask of those set. An allow sets one of
 * a few dozen combinations, fixed by the decision's shape, so each list is
 * built once instead of per request.
 */
const removalsByMask = new Map<number, readonly string[]>();

function removalsFor(mask: number): readonly string[] {
  let list = removalsByMask.get(mask);
  if (list === undefined) {
    list = ALL_IDENTITY_HEADERS.filter((h) => ((IDENTITY_BIT.get(h) as number) & mask) === 0);
    removalsByMask.set(mask, list);
  }
  return list;
}

/** google.rpc.Code values Envoy understands in CheckResponse.status. */
const RPC_OK = 0;
const RPC_PERMISSION_DENIED = 7;
const RPC_UNAUTHENTICATED = 16;

/** config.core.v3.HeaderValueOption.HeaderAppendAction */
const APPEND_IF_EXISTS_OR_ADD = 0;
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c] ?? c);

/** A small deny page for browsers: what happened, which rule, and the id to quote to support. */
function renderDenyPage(p: { error: string; status: number; message: string; policy?: string; request_id: string }): string {
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Access denied</title>',
    '<style>body{font:16px system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .3em}</style></head><body>',
    '<h1>Access denied</h1>',
    `<p>${escapeHtml(p.message)}</p>`,
    p.policy !== undefined ? `<p>Rule: <code>${escapeHtml(p.policy)}</code></p>` : '',
    `<p>Reason: <code>${escapeHtml(p.error)}</code> · Request id: <code>${escapeHtml(p.request_id)}</code></p>`,
    '</body></html>',
  ].join('');
}

interface HeaderValueOption {
  header: { key: string; value: string };
  append_action: number;
}

export interface CheckResponseMessage {
  status: { code: number; message?: string };
  /** `headers_to_remove` may be a list shared between responses: never modify it. */
  ok_response?: { headers: HeaderValueOption[]; headers_to_remove: readonly string[] };
  denied_response?: { status: { code: number }; headers: HeaderValueOption[]; body: string };
}

/**
 * Header values must be visible ASCII; certificate names may carry anything, so
 * other characters are percent-encoded rather than passed through or dropped.
 */
function headerSafe(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : encodeURIComponent(value);
}

function set(key: string, value: string): HeaderValueOption {
  return { header: { key, value: headerSafe(value) }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

const MTLS_LABEL: Readonly<Record<string, string>> = {
  mtls_verified: 'verified',
  mtls_optional_absent: 'absent',
  mtls_off: 'off',
  path_exempt: 'exempt',
};

type AllowDecision = Extract<Decision, { allow: true }>;

/** The headers an allow sets besides the request id, in the order they are sent. */
function identityHeaders(decision: AllowDecision): HeaderValueOption[] {
  const headers: HeaderValueOption[] = [];
  if (decision.tenant !== undefined) {
    headers.push(set(IDENTITY_HEADERS.tenant, decision.tenant), set(IDENTITY_HEADERS.auth, MTLS_LABEL[decision.reason] ?? (decision.identity ? 'verified' : 'absent')));
  }
  if (decision.app !== undefined) headers.push(set(IDENTITY_HEADERS.app, decision.app));
  if (decision.policy !== undefined) headers.push(set(IDENTITY_HEADERS.policy, decision.policy));
  if (decision.serviceToken !== undefined) headers.push(set(IDENTITY_HEADERS.serviceToken, decision.serviceToken));
  const user = decision.user;
  if (user) {
    headers.push(set(IDENTITY_HEADERS.jwt, user.token), set(IDENTITY_HEADERS.userSub, user.session.sub), set(IDENTITY_HEADERS.userIdp, user.session.idp));
    if (user.session.email !== undefined) headers.push(set(IDENTITY_HEADERS.userEmail, user.session.email));
    if (user.session.name !== undefined) headers.push(set(IDENTITY_HEADERS.userName, user.session.name));
    if (user.session.groups.length) headers.push(set(IDENTITY_HEADERS.userGroups, user.session.groups.join(',')));
  }
  const id = decision.identity;
  if (id) {
    headers.push(
      set(IDENTITY_HEADERS.subject, id.subject),
      set(IDENTITY_HEADERS.issuer, id.issuer),
      set(IDENTITY_HEADERS.serial, id.serial),
      set(IDENTITY_HEADERS.fingerprint, id.fingerprint256),
    );
    if (id.dns.length) headers.push(set(IDENTITY_HEADERS.dns, id.dns.join(',')));
    if (id.uri.length) headers.push(set(IDENTITY_HEADERS.uri, id.uri.join(',')));
    if (id.email.length) headers.push(set(IDENTITY_HEADERS.email, id.email.join(',')));
  }
  return headers;
}

const REQUEST_ID_BIT = IDENTITY_BIT.get(IDENTITY_HEADERS.requestId) as number;

/**
 * The identity headers an allow must remove (those it does not set itself:
 * Envoy applies removals after additions). The request id is always set.
 */
function knownRemovals(headers: readonly HeaderValueOption[]): readonly string[] {
  let mask = REQUEST_ID_BIT;
  for (const h of headers) mask |= IDENTITY_BIT.get(h.header.key) ?? 0;
  return removalsFor(mask);
}

/** Any other `x-bouncer-*` header the client sent; identity headers are covered by {@link knownRemovals}. */
function forgedHeaders(requestHeaders: Readonly<Record<string, string>>): string[] | undefined {
  let forged: string[] | undefined;
  for (const name in requestHeaders) {
    if (name.startsWith(RESERVED_PREFIX) && !IDENTITY_BIT.has(name)) (forged ??= []).push(name);
  }
  return forged;
}

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

  const payload = {
    error: decision.reason,
    status: decision.status,
    message: decision.detail,
    ...(decision.policy !== undefined ? { policy: decision.policy } : {}),
    request_id: requestId,
  };
  const headers = [set('cache-control', 'no-store'), set('x-bouncer-reason', decision.reason), set('x-request-id', requestId)];
  if (decision.location !== undefined) headers.push(set('location', decision.location));
  // Several Set-Cookie headers must stay separate; append rather than overwrite.
  for (const c of decision.setCookies ?? []) headers.push({ header: { key: 'set-cookie', value: headerSafe(c) }, append_action: APPEND_IF_EXISTS_OR_ADD });
  let body: string;
  if (decision.html) {
    headers.push(set('content-type', 'text/html; charset=utf-8'), set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'"));
    body = renderDenyPage(payload);
  } else {
    headers.push(set('content-type', 'application/json'));
    body = JSON.stringify(payload);
  }
  return {
    status: { code: decision.status === 401 ? RPC_UNAUTHENTICATED : RPC_PERMISSION_DENIED, message: decision.reason },
    denied_response: { status: { code: decision.status }, headers, body },
  };
}

// ---------------------------------------------------------------------------
// Wire encoding of CheckResponse (envoy/service/auth/v3/external_auth.proto,
// google/rpc/status.proto, envoy/config/core/v3/base.proto). protobufjs would
// first copy the plain object into message instances (`fromObject`) and then
// encode them through generic code; this writes the same bytes directly. Like
// protobufjs, fields are written in field-number order and a field is written
// whenever it is set, zero included.

const TAG_LEN = (field: number): number => (field << 3) | 2;
const TAG_VARINT = (field: number): number => field << 3;

function varintSize(v: number): number {
  // Negative int32 values take ten bytes on the wire; none of ours are negative.
  if (v < 0) return 10;
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Sizes first, then bytes: two passes over a tree of at most a few dozen strings. */
class WireWriter {
  readonly buf: Buffer;
  pos: number;
  /** `headroom` bytes are left unwritten before the message. */
  constructor(size: number, headroom = 0) {
    this.buf = Buffer.allocUnsafe(headroom + size);
    this.pos = headroom;
  }
  varint(v: number): void {
    if (v < 0) {
      // Two's complement over 64 bits, as int32 fields require.
      let lo = v >>> 0;
      let hi = 0xffffffff;
      for (let i = 0; i < 9; i++) {
        this.buf[this.pos++] = (lo & 0x7f) | 0x80;
        lo = (lo >>> 7) | ((hi & 0x7f) << 25);
        hi >>>= 7;
      }
      this.buf[this.pos++] = 1;
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }
  /** Bytes already encoded, copied as they are. */
  raw(bytes: Uint8Array): void {
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
  bytes(field: number, s: string, len: number): void {
    this.varint(TAG_LEN(field));
    this.varint(len);
    if (len !== s.length) {
      this.pos += this.buf.write(s, this.pos, len, 'utf8');
    } else if (len < SHORT_STRING) {
      // ASCII (the byte length equals the character count only then). A short
      // string is copied faster by a plain loop than by a call into native code.
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < len; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      // Long values (the session JWT) are often slices of the Cookie header,
      // on which a character loop is several times slower than native copying.
      this.pos += this.buf.write(s, this.pos, len, 'latin1');
    }
  }
}

interface Sized {
  /** Byte length of each string field, in write order. */
  readonly strings: number[];
}

/** Strings shorter than this are written by a JS loop rather than a native call. */
const SHORT_STRING = 48;

function stringField(field: number, s: string, sized: Sized): number {
  // Native and fast even for long strings; a JS scan of a sliced string is not.
  const len = Buffer.byteLength(s, 'utf8');
  sized.strings.push(len);
  return varintSize(TAG_LEN(field)) + varintSize(len) + len;
}

function headerOptionSize(h: HeaderValueOption, sized: Sized, lens: number[]): number {
  // HeaderValue { key = 1; value = 2 }
  const inner = stringField(1, h.header.key, sized) + stringField(2, h.header.value, sized);
  lens.push(inner);
  // HeaderValueOption { header = 1; append_action = 3 }
  const option = 1 + varintSize(inner) + inner + 1 + varintSize(h.append_action);
  lens.push(option);
  return varintSize(TAG_LEN(2)) + varintSize(option) + option;
}

function writeHeaderOption(w: WireWriter, field: number, h: HeaderValueOption, strings: number[], lens: number[], si: { s: number; l: number }): void {
  const inner = lens[si.l++] as number;
  const option = lens[si.l++] as number;
  w.varint(TAG_LEN(field));
  w.varint(option);
  w.varint(TAG_LEN(1));
  w.varint(inner);
  w.bytes(1, h.header.key, strings[si.s++] as number);
  w.bytes(2, h.header.value, strings[si.s++] as number);
  w.varint(TAG_VARINT(3));
  w.varint(h.append_action);
}

/**
 * Encodes a {@link CheckResponseMessage} as `envoy.service.auth.v3.CheckResponse`;
 * used as the Check method's response serializer. Byte for byte what protobufjs
 * produces for the same object (a unit test holds it to that).
 */
export function encodeCheckResponse(msg: CheckResponseMessage, headroom = 0): Buffer {
  const sized: Sized = { strings: [] };
  const lens: number[] = [];
  // google.rpc.Status { code = 1; message = 2 }
  let status = 1 + varintSize(msg.status.code);
  if (msg.status.message !== undefined) status += stringField(2, msg.status.message, sized);
  let total = 1 + varintSize(status) + status;

  let denied = 0;
  let deniedStatus = 0;
  const d = msg.denied_response;
  if (d) {
    // DeniedHttpResponse { status = 1 (HttpStatus { code = 1 }); headers = 2; body = 3 }
    deniedStatus = 1 + varintSize(d.status.code);
    denied = 1 + varintSize(deniedStatus) + deniedStatus;
    for (const h of d.headers) denied += headerOptionSize(h, sized, lens);
    denied += stringField(3, d.body, sized);
    total += 1 + varintSize(denied) + denied;
  }
  const o = msg.ok_response;
  const ok = o ? encodeOkFields(o.headers, o.headers_to_remove) : undefined;
  if (ok) total += 1 + varintSize(ok.length) + ok.length;

  const w = new WireWriter(total, headroom);
  const strings = sized.strings;
  const si = { s: 0, l: 0 };
  w.varint(TAG_LEN(1));
  w.varint(status);
  w.varint(TAG_VARINT(1));
  w.varint(msg.status.code);
  if (msg.status.message !== undefined) w.bytes(2, msg.status.message, strings[si.s++] as number);
  if (d) {
    w.varint(TAG_LEN(2));
    w.varint(denied);
    w.varint(TAG_LEN(1));
    w.varint(deniedStatus);
    w.varint(TAG_VARINT(1));
    w.varint(d.status.code);
    for (const h of d.headers) writeHeaderOption(w, 2, h, strings, lens, si);
    w.bytes(3, d.body, strings[si.s++] as number);
  }
  if (ok) {
    w.varint(TAG_LEN(3));
    w.varint(ok.length);
    w.raw(ok);
  }
  if (w.pos !== headroom + total) throw new Error(`CheckResponse encoder wrote ${w.pos - headroom} bytes, expected ${total}`);
  return w.buf;
}

/** The fields of an OkHttpResponse (headers = 2, headers_to_remove = 5), without its own tag and length. */
function encodeOkFields(headers: readonly HeaderValueOption[], removals: readonly string[]): Buffer {
  const sized: Sized = { strings: [] };
  const lens: number[] = [];
  let size = 0;
  for (const h of headers) size += headerOptionSize(h, sized, lens);
  for (const name of removals) size += stringField(5, name, sized);
  const w = new WireWriter(size);
  const si = { s: 0, l: 0 };
  for (const h of headers) writeHeaderOption(w, 2, h, sized.strings, lens, si);
  for (const name of removals) w.bytes(5, name, sized.strings[si.s++] as number);
  return w.buf;
}

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
 * `encodeCheckResponse(toCheckResponse(...))`, byte for byte, with an allow's
 * identity headers taken from {@link identityBlock}. The Check handler's encoder.
 * `headroom` bytes are left free before the message, where the gRPC transport
 * writes its frame prefix: the response is then built in the buffer that goes
 * on the wire, not copied into one.
 */
export function encodeCheckDecision(decision: Decision, requestId: string, requestHeaders: Readonly<Record<string, string>>, headroom = 0): Buffer {
  if (!decision.allow) return encodeCheckResponse(toCheckResponse(decision, requestId, requestHeaders), headroom);
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

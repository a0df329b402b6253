/**
 * Wire encoding of CheckResponse (envoy/service/auth/v3/external_auth.proto,
 * google/rpc/status.proto, envoy/config/core/v3/base.proto). protobufjs would
 * first copy the plain object into message instances (`fromObject`) and then
 * encode them through generic code; this writes the same bytes directly. Like
 * protobufjs, fields are written in field-number order and a field is written
 * whenever it is set, zero included.
 */
import type { CheckResponseMessage, HeaderValueOption } from './message.js';

export const TAG_LEN = (field: number): number => (field << 3) | 2;
export const TAG_VARINT = (field: number): number => field << 3;

export function varintSize(v: number): number {
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
export class WireWriter {
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

export interface Sized {
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

export function headerOptionSize(h: HeaderValueOption, sized: Sized, lens: number[]): number {
  // HeaderValue { key = 1; value = 2 }
  const inner = stringField(1, h.header.key, sized) + stringField(2, h.header.value, sized);
  lens.push(inner);
  // HeaderValueOption { header = 1; append_action = 3 }
  const option = 1 + varintSize(inner) + inner + 1 + varintSize(h.append_action);
  lens.push(option);
  return varintSize(TAG_LEN(2)) + varintSize(option) + option;
}

export function writeHeaderOption(w: WireWriter, field: number, h: HeaderValueOption, strings: number[], lens: number[], si: { s: number; l: number }): void {
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
export function encodeOkFields(headers: readonly HeaderValueOption[], removals: readonly string[]): Buffer {
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

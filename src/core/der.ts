/**
 * A minimal, strict DER reader (ITU-T X.690 §8, §10): definite lengths in their
 * shortest form, single-byte tags only (every tag X.509 uses below 31). It
 * reads just enough structure for certificates; anything it does not accept
 * returns `undefined` so callers can fall back to a complete ASN.1 library.
 */

/** One tag-length-value: `start` is the tag byte, content runs from `content` to `end`. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly content: number;
  readonly end: number;
}

/** Reads the TLV at `pos`, which must end by `limit`. */
export function readTlv(buf: Uint8Array, pos: number, limit: number): Tlv | undefined {
  if (pos + 2 > limit) return undefined;
  const tag = buf[pos] as number;
  // High tag numbers (0x1f) never occur in certificates.
  if ((tag & 0x1f) === 0x1f) return undefined;
  let len = buf[pos + 1] as number;
  let content = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 length bytes is absurd here.
    if (n === 0 || n > 4 || content + n > limit) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[content + i] as number);
    // DER: the long form only when needed, and no leading zero byte.
    if (len < 0x80 || (buf[content] as number) === 0) return undefined;
    content += n;
  }
  const end = content + len;
  if (end > limit) return undefined;
  return { tag, start: pos, content, end };
}

/** The TLVs directly inside a constructed TLV, or undefined when they do not tile it exactly. */
export function children(buf: Uint8Array, parent: Tlv): Tlv[] | undefined {
  const out: Tlv[] = [];
  let pos = parent.content;
  while (pos < parent.end) {
    const t = readTlv(buf, pos, parent.end);
    if (!t) return undefined;
    out.push(t);
    pos = t.end;
  }
  return out;
}

/** True when the bytes are a sequence of well-formed TLVs, constructed ones checked all the way down. */
export function isWellFormed(buf: Uint8Array, start: number, end: number, depth = 0): boolean {
  if (depth > 16) return false;
  let pos = start;
  while (pos < end) {
    const t = readTlv(buf, pos, end);
    if (!t) return false;
    if (t.tag & 0x20 && !isWellFormed(buf, t.content, t.end, depth + 1)) return false;
    pos = t.end;
  }
  return true;
}

/** Dotted-decimal form of an OBJECT IDENTIFIER's content (X.690 §8.19), or undefined when malformed. */
export function readOid(buf: Uint8Array, t: Tlv): string | undefined {
  if (t.tag !== 0x06 || t.end <= t.content) return undefined;
  const arcs: number[] = [];
  let value = 0;
  let first = true;
  for (let i = t.content; i < t.end; i++) {
    const b = buf[i] as number;
    // A leading 0x80 would be a non-minimal encoding.
    if (value === 0 && b === 0x80) return undefined;
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return undefined;
    if (b & 0x80) continue;
    if (first) {
      const top = value < 40 ? 0 : value < 80 ? 1 : 2;
      arcs.push(top, value - top * 40);
      first = false;
    } else {
      arcs.push(value);
    }
    value = 0;
  }
  // The last byte must end an arc.
  if ((buf[t.end - 1] as number) & 0x80) return undefined;
  return arcs.join('.');
}

/** A small non-negative INTEGER (lengths, path lengths), or undefined when negative, non-minimal or too large. */
export function readSmallUint(buf: Uint8Array, t: Tlv): number | undefined {
  const len = t.end - t.content;
  if (t.tag !== 0x02 || len < 1 || len > 4) return undefined;
  const first = buf[t.content] as number;
  if (first & 0x80) return undefined;
  if (len > 1 && first === 0 && ((buf[t.content + 1] as number) & 0x80) === 0) return undefined;
  let v = 0;
  for (let i = t.content; i < t.end; i++) v = v * 256 + (buf[i] as number);
  return v;
}

/** True when every byte is printable ASCII or a space (what the fast paths accept as text). */
export function isPrintableAscii(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = buf[i] as number;
    if (b < 0x20 || b > 0x7e) return false;
  }
  return true;
}

/**
 * An INTEGER's content as hex in its minimal two's-complement form: redundant
 * leading 0x00 / 0xff octets removed, the sign kept. Two encodings of the same
 * number give the same string; 0x00ff (255) and 0xff (-1) do not.
 */
export function canonicalIntegerHex(content: Uint8Array): string {
  let i = 0;
  while (i + 1 < content.length) {
    const a = content[i] as number;
    const b = content[i + 1] as number;
    if ((a === 0 && b < 0x80) || (a === 0xff && b >= 0x80)) i += 1;
    else break;
  }
  return Buffer.from(content.subarray(i)).toString('hex');
}

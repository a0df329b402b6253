import { decodeText, type RepeatedStrings } from '../repeated-strings.js';

// A reader of the protobuf wire format (https://protobuf.dev/programming-guides/encoding/),
// with header names read as interned literals; decode.ts walks CheckRequest with it.

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/**
 * Header names Envoy sends on most checks. A dozen names per request were each
 * decoded into a new string and then looked up in V8's string table when
 * stored as a property; a name whose bytes match one of these exactly is the
 * literal instead, already internalized.
 */
const KNOWN_HEADER_NAMES = [
  ':authority',
  ':method',
  ':path',
  ':scheme',
  'accept',
  'accept-encoding',
  'accept-language',
  'authorization',
  'content-length',
  'content-type',
  'cookie',
  'origin',
  'referer',
  'user-agent',
  'x-envoy-external-address',
  'x-envoy-internal',
  'x-forwarded-client-cert',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-request-id',
] as const;

/** The known names by byte length, each with its bytes. */
const KNOWN_BY_LENGTH: ReadonlyMap<number, ReadonlyArray<{ readonly name: string; readonly bytes: Buffer }>> = (() => {
  const byLength = new Map<number, Array<{ name: string; bytes: Buffer }>>();
  for (const name of KNOWN_HEADER_NAMES) {
    const list = byLength.get(name.length) ?? [];
    list.push({ name, bytes: Buffer.from(name, 'latin1') });
    byLength.set(name.length, list);
  }
  return byLength;
})();

/** The known header name whose bytes are exactly `buf[start, end)`, if any. */
export function knownHeaderName(buf: Buffer, start: number, end: number): string | undefined {
  const candidates = KNOWN_BY_LENGTH.get(end - start);
  if (candidates === undefined) return undefined;
  for (const { name, bytes } of candidates) {
    let i = 0;
    while (i < bytes.length && buf[start + i] === bytes[i]) i++;
    if (i === bytes.length) return name;
  }
  return undefined;
}

/** A cursor over one message's bytes; `end` bounds the current (sub)message. */
export class WireReader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    public end: number,
    private readonly strings: RepeatedStrings | undefined,
  ) {
    this.pos = 0;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new Error('truncated varint');
      const b = this.buf[this.pos++] as number;
      // Tags and lengths fit in 32 bits; higher bytes of longer varints are consumed and ignored.
      if (shift < 32) result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
      if (shift >= 70) throw new Error('varint longer than 10 bytes');
    }
  }

  /** Reads a length prefix and returns where that field ends. */
  lengthEnd(): number {
    const len = this.varint();
    const end = this.pos + len;
    if (end > this.end) throw new Error('length-delimited field runs past its message');
    return end;
  }

  string(): string {
    const end = this.lengthEnd();
    const s = this.strings ? this.strings.decode(this.buf, this.pos, end) : decodeText(this.buf, this.pos, end);
    this.pos = end;
    return s;
  }

  /** A header name: one of {@link KNOWN_HEADER_NAMES} without decoding when the bytes match it exactly, else as {@link string}. */
  headerName(): string {
    const end = this.lengthEnd();
    const known = knownHeaderName(this.buf, this.pos, end);
    const s = known ?? this.buf.toString('utf8', this.pos, end);
    this.pos = end;
    return s;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.pos = this.lengthEnd();
        return;
      case WIRE_FIXED32:
        this.pos += 4;
        break;
      default:
        // Groups (3, 4) are proto2-only and never sent by Envoy.
        throw new Error(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new Error('fixed-width field runs past its message');
  }

  /** Runs `field` for each field of the submessage that starts here, then returns to the parent. */
  message(field: (num: number, wireType: number) => void): void {
    const end = this.lengthEnd();
    const parentEnd = this.end;
    this.end = end;
    while (this.pos < end) {
      const tag = this.varint();
      field(tag >>> 3, tag & 7);
    }
    this.end = parentEnd;
  }
}

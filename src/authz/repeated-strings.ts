import { isAscii } from 'node:buffer';

/**
 * Long CheckRequest fields repeat byte for byte: a device sends the same
 * peer certificate (~0.7 KB URL-encoded), the same x-forwarded-client-cert
 * (~2.3 KB, leaf and chain) and the same session cookie (~0.7 KB) on every
 * request. Decoding them made kilobytes of new strings per check, the largest
 * share of what a warm check allocated, and every allocated kilobyte brings the
 * next young-generation GC pause closer. This keeps recently decoded long
 * strings beside a copy of their bytes, and answers the same bytes with the
 * same string.
 *
 * A hit requires the bytes to be equal in full, length included, so it returns
 * exactly the string decoding would have made. A value takes a slot only when
 * it is seen twice in a row at that slot (or finds it empty): a stream of
 * values that never repeat (new devices, fresh tokens) costs a few
 * comparisons and never evicts what does repeat.
 */
export interface RepeatedStringsOptions {
  /** Number of slots; each holds one string and its bytes. */
  readonly slots: number;
  /** Values shorter than this are decoded every time: their allocation is small. */
  readonly minBytes: number;
  /** Values longer than this are decoded every time: memory stays within slots × maxBytes. */
  readonly maxBytes: number;
}

interface Slot {
  bytes: Buffer | undefined;
  text: string;
  /** Fingerprint of the last value that missed here, the doorkeeper for the next one. */
  candidate: number;
}

/** Defaults for the Check server: at most 4 MiB of copies, typically a few per busy device. */
export const REPEATED_STRINGS_DEFAULTS: RepeatedStringsOptions = Object.freeze({ slots: 256, minBytes: 256, maxBytes: 16 * 1024 });

/**
 * Decodes protobuf string bytes as the CheckRequest decoder does: Latin-1 when
 * the bytes are ASCII (the same string, decoded ten times faster than Node 20's
 * UTF-8 path for long values), UTF-8 otherwise.
 */
export function decodeText(buf: Buffer, start: number, end: number): string {
  return end - start >= 32 && isAscii(buf.subarray(start, end)) ? buf.toString('latin1', start, end) : buf.toString('utf8', start, end);
}

export class RepeatedStrings {
  private readonly slots: Slot[];
  private readonly mask: number;
  hits = 0;
  misses = 0;

  constructor(readonly options: RepeatedStringsOptions = REPEATED_STRINGS_DEFAULTS) {
    const { slots, minBytes, maxBytes } = options;
    if (!Number.isInteger(slots) || slots < 1 || (slots & (slots - 1)) !== 0) throw new RangeError(`slots must be a power of two; got ${slots}`);
    if (!Number.isInteger(minBytes) || minBytes < 1 || !Number.isInteger(maxBytes) || maxBytes < minBytes) {
      throw new RangeError(`minBytes and maxBytes must be whole numbers with 1 <= minBytes <= maxBytes; got ${minBytes} and ${maxBytes}`);
    }
    this.mask = slots - 1;
    this.slots = Array.from({ length: slots }, () => ({ bytes: undefined, text: '', candidate: -1 }));
  }

  /** The string of `buf[start, end)`, the same one as last time when those exact bytes were seen before. */
  decode(buf: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length < this.options.minBytes || length > this.options.maxBytes) return decodeText(buf, start, end);
    const print = fingerprint(buf, start, end);
    const slot = this.slots[print & this.mask] as Slot;
    const bytes = slot.bytes;
    if (bytes !== undefined && bytes.length === length && buf.compare(bytes, 0, length, start, end) === 0) {
      this.hits++;
      return slot.text;
    }
    this.misses++;
    const text = decodeText(buf, start, end);
    if (bytes === undefined || slot.candidate === print) {
      // A copy of its own: a view would keep the whole socket read alive.
      const copy = Buffer.allocUnsafeSlow(length);
      buf.copy(copy, 0, start, end);
      slot.bytes = copy;
      slot.text = text;
      slot.candidate = -1;
    } else slot.candidate = print;
    return text;
  }
}

/**
 * FNV-1a over the length and 4-byte windows at 16 evenly spaced places. Ends
 * alone would not do: every URL-encoded PEM starts and ends with the same
 * armour, and certificates of one CA share long runs besides; devices' keys,
 * serials and signatures differ all through the rest. It picks the slot and
 * is the doorkeeper's note; equality is always checked in full.
 */
function fingerprint(buf: Buffer, start: number, end: number): number {
  const length = end - start;
  let h = (0x811c9dc5 ^ length) >>> 0;
  const step = Math.max(4, Math.floor(length / 16));
  for (let from = start; from < end; from += step) {
    const to = Math.min(end, from + 4);
    for (let i = from; i < to; i++) h = Math.imul(h ^ (buf[i] as number), 0x01000193);
  }
  return h >>> 0;
}

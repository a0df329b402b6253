import { decodeCheckRequest, type CheckRequestMessage } from '../../src/authz/check-request.js';
import { RepeatedStrings } from '../../src/authz/repeated-strings.js';
import { readFields, referenceCheck as refCheck } from '../helpers/check-codec.js';
import { prng } from '../helpers/prng.js';

// The CheckRequest decoder is hand-written, so it is checked here against
// protobufjs on many generated requests, and against corrupted bytes for
// which the only acceptable outcomes are a decoded message or an Error (the
// server answers INTERNAL and Envoy fails closed). The generator is seeded, so
// a failure names a case that can be replayed.


type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;
const maybe = (r: Rand, p = 0.5): boolean => r() < p;

const NAMES = [
  ':authority', ':path', ':method', 'cookie', 'x-forwarded-client-cert', 'x-request-id', 'user-agent', 'accept',
  // One byte off a known name, or a known name's length in other bytes.
  'cookiE', 'cooki', 'cookies', 'x-request-iD', ':authorities', 'cöokie', 'ñññ',
  // Object.prototype's members are ordinary names (`__proto__`, which protobufjs drops, has its own test).
  'constructor', 'toString', 'hasOwnProperty', '', 'x-bouncer-user-email', 'x-custom',
];
const PIECES = ['a', 'Z', '0', '%2F', ' ', '"', ';', ',', '=', 'é', 'ß', '✓', '𝄞', '\u0000', '\u007f', '\u00ff', 'Cert="', '-----BEGIN'];

function text(r: Rand): string {
  const shape = int(r, 4);
  if (shape === 0) return '';
  // Long values take the decoder's Latin-1 path when ASCII, its UTF-8 path when not.
  if (shape === 1) return pick(r, ['a', 'é', '𝄞', '%']).repeat(20 + int(r, 3000));
  let s = '';
  const n = 1 + int(r, 40);
  for (let i = 0; i < n; i++) s += pick(r, PIECES);
  return s;
}

function headers(r: Rand): Record<string, string> {
  const out: Record<string, string> = {};
  const n = int(r, 25);
  for (let i = 0; i < n; i++) {
    const name = maybe(r, 0.7) ? pick(r, NAMES) : text(r).slice(0, 40);
    out[name] = text(r);
  }
  return out;
}

/** A request with a random subset of the fields bouncer reads, and some it skips. */
function request(r: Rand): object {
  const attributes: Record<string, unknown> = {};
  if (maybe(r, 0.8)) {
    const source: Record<string, unknown> = {};
    if (maybe(r)) source.address = maybe(r, 0.8) ? { socket_address: { address: text(r), port_value: int(r, 65536) } } : { pipe: { path: text(r) } };
    if (maybe(r)) source.certificate = text(r);
    if (maybe(r, 0.3)) source.principal = text(r);
    attributes.source = source;
  }
  if (maybe(r, 0.3)) attributes.destination = { address: { socket_address: { address: '127.0.0.1', port_value: 443 } }, principal: text(r) };
  if (maybe(r, 0.9)) {
    const http: Record<string, unknown> = {};
    for (const k of ['id', 'method', 'path', 'host', 'scheme', 'query', 'fragment', 'protocol', 'body'] as const) if (maybe(r, 0.4)) http[k] = text(r);
    if (maybe(r, 0.8)) http.headers = headers(r);
    if (maybe(r, 0.3)) http.size = String(int(r, 1 << 30));
    attributes.request = { ...(maybe(r, 0.3) ? { time: { seconds: String(int(r, 2e9)), nanos: int(r, 1e9) } } : {}), http };
  }
  if (maybe(r, 0.3)) attributes.context_extensions = headers(r);
  if (maybe(r, 0.6)) attributes.tls_session = maybe(r, 0.8) ? { sni: text(r) } : {};
  return maybe(r, 0.95) ? { attributes } : {};
}

/** One corruption of `bytes`: a flipped, dropped or inserted byte, a cut, or a repeated stretch. */
function corrupt(r: Rand, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes);
  const at = int(r, Math.max(1, b.length));
  switch (int(r, 6)) {
    case 0:
      if (b.length > 0) b[at] = (b[at] as number) ^ (1 << int(r, 8));
      return b;
    case 1:
      if (b.length > 0) b[at] = int(r, 256);
      return b;
    case 2:
      return b.subarray(0, at);
    case 3:
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(r, 8))]);
    case 4:
      return Buffer.concat([b.subarray(0, at), Buffer.from(Array.from({ length: 1 + int(r, 6) }, () => int(r, 256))), b.subarray(at)]);
    default:
      return Buffer.concat([b.subarray(0, at), b.subarray(int(r, Math.max(1, at)), at), b.subarray(at)]);
  }
}

describe('decodeCheckRequest against protobufjs, on generated requests', () => {
  test.each([1, 2, 3, 4])('seed %d: 150 requests decode to the same fields', (seed) => {
    const r = prng(seed);
    for (let i = 0; i < 150; i++) {
      const bytes = refCheck.requestSerialize(request(r));
      const expected = refCheck.requestDeserialize(bytes) as CheckRequestMessage;
      const actual = decodeCheckRequest(bytes);
      expect({ case: i, fields: readFields(actual) }).toEqual({ case: i, fields: readFields(expected) });
    }
  });

  test.each([5, 6])('seed %d: with a shared cache of repeated strings, every request decodes the same, the first time and again', (seed) => {
    const r = prng(seed);
    // Small and with a low threshold, so that slots are shared and replaced often.
    const strings = new RepeatedStrings({ slots: 8, minBytes: 1, maxBytes: 4096 });
    const seen: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      // Now and then an earlier request again, as a device's next request would be.
      const bytes = seen.length > 0 && maybe(r, 0.4) ? pick(r, seen) : refCheck.requestSerialize(request(r));
      seen.push(bytes);
      const expected = readFields(refCheck.requestDeserialize(bytes) as CheckRequestMessage);
      expect({ case: i, fields: readFields(decodeCheckRequest(bytes, strings)) }).toEqual({ case: i, fields: expected });
      expect({ case: i, fields: readFields(decodeCheckRequest(Buffer.from(bytes), strings)) }).toEqual({ case: i, fields: expected });
    }
    expect(strings.hits).toBeGreaterThan(0);
  });
});

describe('decodeCheckRequest on corrupted bytes', () => {
  test.each([11, 12, 13, 14])('seed %d: every outcome is a message or an Error, never anything else', (seed) => {
    const r = prng(seed);
    let decoded = 0;
    let refused = 0;
    for (let i = 0; i < 400; i++) {
      let bytes = refCheck.requestSerialize(request(r));
      for (let k = 1 + int(r, 3); k > 0; k--) bytes = corrupt(r, bytes);
      let msg: CheckRequestMessage;
      try {
        msg = decodeCheckRequest(bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        refused++;
        continue;
      }
      decoded++;
      const h = msg.attributes?.request?.http?.headers;
      if (h !== undefined) {
        // Whatever the bytes said, headers stay a plain null-prototype map of strings.
        expect(Object.getPrototypeOf(h)).toBeNull();
        for (const v of Object.values(h)) expect(typeof v).toBe('string');
      }
      for (const v of [msg.attributes?.source?.certificate, msg.attributes?.tls_session?.sni, msg.attributes?.request?.http?.path]) {
        if (v !== undefined) expect(typeof v).toBe('string');
      }
    }
    // Both outcomes must have been exercised, or the corruption is not doing its job.
    expect(decoded).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(20);
  });

  test('lengths and varints at the limits are refused, not trusted', () => {
    const cases: Buffer[] = [
      // attributes with a length of 2^32 - 1
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]),
      // a varint of eleven bytes
      Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
      // a header map entry whose value runs past the entry
      Buffer.from([0x0a, 0x08, 0x22, 0x06, 0x12, 0x04, 0x1a, 0x02, 0x12, 0x05]),
      // a fixed32 cut short inside attributes
      Buffer.from([0x0a, 0x02, 0x0d, 0x01]),
    ];
    for (const bytes of cases) expect(() => decodeCheckRequest(bytes)).toThrow(Error);
  });
});

import { decodeText, RepeatedStrings } from '../../src/authz/repeated-strings.js';

/** `text` encoded as UTF-8 inside other bytes, as a protobuf field sits inside a message. */
function framed(text: string): { buf: Buffer; start: number; end: number } {
  const body = Buffer.from(text, 'utf8');
  const buf = Buffer.concat([Buffer.from([1, 2, 3]), body, Buffer.from([4, 5])]);
  return { buf, start: 3, end: 3 + body.length };
}

const decode = (strings: RepeatedStrings, text: string): string => {
  const { buf, start, end } = framed(text);
  return strings.decode(buf, start, end);
};

/** A URL-encoded PEM whose body, like a real device's key, serial and signature, differs all through from device to device. */
const cert = (n: number): string => {
  const digits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let x = (n + 1) * 2654435761;
  let body = 'MIIB';
  for (let i = 0; i < 680; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    body += digits[x >>> 26];
  }
  return `-----BEGIN%20CERTIFICATE-----%0A${body}%0A-----END%20CERTIFICATE-----%0A`;
};

describe('RepeatedStrings', () => {
  test('the same bytes again give the very same string, from any buffer', () => {
    const strings = new RepeatedStrings({ slots: 16, minBytes: 64, maxBytes: 4096 });
    const first = decode(strings, cert(1));
    expect(first).toBe(cert(1));
    expect(strings.misses).toBe(1);
    const again = decode(strings, cert(1));
    expect(again).toBe(cert(1));
    expect(strings.hits).toBe(1);
  });

  test('bytes that differ only in the middle, same length, are never taken for the cached ones', () => {
    // The slot is picked from both ends; the middle differs, so both land in the same slot.
    const strings = new RepeatedStrings({ slots: 1, minBytes: 64, maxBytes: 4096 });
    const a = `${'A'.repeat(100)}x${'B'.repeat(100)}`;
    const b = `${'A'.repeat(100)}y${'B'.repeat(100)}`;
    expect(decode(strings, a)).toBe(a);
    expect(decode(strings, a)).toBe(a);
    expect(decode(strings, b)).toBe(b);
    expect(decode(strings, a)).toBe(a);
    // A prefix of a cached value is a different value.
    expect(decode(strings, a.slice(0, 150))).toBe(a.slice(0, 150));
  });

  test('non-ASCII values decode as UTF-8, cached or not', () => {
    const strings = new RepeatedStrings({ slots: 4, minBytes: 8, maxBytes: 4096 });
    const text = `CN=Zoë Müller, O="Ärzte ✓ 𝄞" ${'é'.repeat(50)}`;
    expect(decode(strings, text)).toBe(text);
    expect(decode(strings, text)).toBe(text);
    expect(strings.hits).toBe(1);
    const { buf, start, end } = framed(text);
    expect(decodeText(buf, start, end)).toBe(text);
  });

  test('short and overlong values are decoded every time and take no slot', () => {
    const strings = new RepeatedStrings({ slots: 4, minBytes: 64, maxBytes: 256 });
    for (const text of ['short', 'x'.repeat(257)]) {
      expect(decode(strings, text)).toBe(text);
      expect(decode(strings, text)).toBe(text);
    }
    expect(strings.hits + strings.misses).toBe(0);
  });

  test('a stream of values that never repeat does not evict one that does', () => {
    const strings = new RepeatedStrings({ slots: 1, minBytes: 64, maxBytes: 4096 });
    decode(strings, cert(0));
    for (let i = 1; i <= 50; i++) {
      expect(decode(strings, cert(i))).toBe(cert(i));
      expect(decode(strings, cert(0))).toBe(cert(0));
    }
    expect(strings.hits).toBe(50);
  });

  test('a value seen twice in a row takes a busy slot', () => {
    const strings = new RepeatedStrings({ slots: 1, minBytes: 64, maxBytes: 4096 });
    decode(strings, cert(0));
    decode(strings, cert(7));
    decode(strings, cert(7));
    const hits = strings.hits;
    expect(decode(strings, cert(7))).toBe(cert(7));
    expect(strings.hits).toBe(hits + 1);
  });

  test('keeps its own copy of the bytes: a reused request buffer cannot change what a hit returns', () => {
    const strings = new RepeatedStrings({ slots: 1, minBytes: 64, maxBytes: 4096 });
    const { buf, start, end } = framed(cert(1));
    expect(strings.decode(buf, start, end)).toBe(cert(1));
    // The same memory now holds another certificate of the same length.
    buf.write(cert(2), start, 'utf8');
    expect(strings.decode(buf, start, end)).toBe(cert(2));
    buf.write(cert(1), start, 'utf8');
    expect(strings.decode(buf, start, end)).toBe(cert(1));
  });

  test('refuses options it cannot honour', () => {
    expect(() => new RepeatedStrings({ slots: 3, minBytes: 1, maxBytes: 10 })).toThrow(/power of two/);
    expect(() => new RepeatedStrings({ slots: 0, minBytes: 1, maxBytes: 10 })).toThrow(/power of two/);
    expect(() => new RepeatedStrings({ slots: 4, minBytes: 0, maxBytes: 10 })).toThrow(/minBytes/);
    expect(() => new RepeatedStrings({ slots: 4, minBytes: 20, maxBytes: 10 })).toThrow(/minBytes/);
  });
});

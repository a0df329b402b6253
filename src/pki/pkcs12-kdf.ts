import { createHash } from 'node:crypto';

/** RFC 7292 appendix B.3: which kind of material the KDF derives. */
export const PKCS12_KDF_ID = { encryptionKey: 1, iv: 2, macKey: 3 } as const;

/** Digest output and block sizes (u and v in RFC 7292 B.2), in bytes. */
const HASH_SIZES = { sha1: [20, 64], sha256: [32, 64], sha384: [48, 128], sha512: [64, 128] } as const;

/** Hashes the PKCS#12 KDF supports here. */
export type Pkcs12KdfHash = keyof typeof HASH_SIZES;

/**
 * The password as RFC 7292 appendix B.1 wants it for the KDF: a BMPString (UTF-16 big-endian)
 * with a two-byte zero terminator. Characters outside the BMP become surrogate pairs, as
 * OpenSSL does.
 *
 * @example
 * bmpPassword('ab'); // <00 61 00 62 00 00>
 */
export function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** Repeats `data` to fill a multiple of `v` bytes at least as long as it (RFC 7292 B.2 steps 2–3). */
function stretch(data: Buffer, v: number): Buffer {
  if (data.length === 0) return Buffer.alloc(0);
  const out = Buffer.alloc(v * Math.ceil(data.length / v));
  for (let i = 0; i < out.length; i++) out[i] = data[i % data.length] ?? 0;
  return out;
}

/**
 * The PKCS#12 key derivation function (RFC 7292 appendix B.2). PKCS#12 v1.1 still requires it
 * for the integrity MAC even when the contents use PBES2 (RFC 9579 adds PBMAC1, which OpenSSL
 * 3.0 cannot read yet). `password` is already BMP-encoded, see {@link bmpPassword}.
 *
 * @example
 * const macKey = pkcs12Kdf('sha256', bmpPassword('s3cret'), salt, PKCS12_KDF_ID.macKey, 2048, 32);
 */
export function pkcs12Kdf(hash: Pkcs12KdfHash, password: Buffer, salt: Buffer, id: number, iterations: number, length: number): Buffer {
  const [u, v] = HASH_SIZES[hash];
  const d = Buffer.alloc(v, id);
  const i = Buffer.concat([stretch(salt, v), stretch(password, v)]);
  const out: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let a = createHash(hash).update(d).update(i).digest();
    for (let r = 1; r < iterations; r++) a = createHash(hash).update(a).digest();
    out.push(a);
    // Step 6C: treat each v-byte block of I as a big-endian integer and add B + 1 to it, mod 2^(8v).
    const b = stretch(a, v);
    for (let off = 0; off < i.length; off += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = (i[off + k] ?? 0) + (b[k] ?? 0) + carry;
        i[off + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

import 'reflect-metadata';
import { createCipheriv, pbkdf2Sync, randomBytes } from 'node:crypto';
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';

/**
 * Password-based encryption scheme 2 (RFC 8018 §6.2) with PBKDF2-HMAC-SHA256 and AES-256-CBC:
 * what OpenSSL 3 writes into PKCS#12 files by default. The @peculiar packages have no schemas
 * for these parameter structures, so they are declared here with the same decorators, applied
 * by hand because our TypeScript config does not enable legacy decorator syntax.
 */

export const OID_PBES2 = '1.2.840.113549.1.5.13';
export const OID_PBKDF2 = '1.2.840.113549.1.5.12';
export const OID_HMAC_SHA256 = '1.2.840.113549.2.9';
export const OID_AES256_CBC = '2.16.840.1.101.3.4.1.42';

/** DER NULL, the parameters RFC 8018 appendix B.1.2 gives hmacWithSHA256. */
const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** RFC 8018 appendix A.2: PBKDF2-params, with the salt always `specified`. */
export class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  keyLength?: number;
  prf?: AlgorithmIdentifier;
}
AsnProp({ type: OctetString })(Pbkdf2Params.prototype, 'salt');
AsnProp({ type: AsnPropTypes.Integer })(Pbkdf2Params.prototype, 'iterationCount');
AsnProp({ type: AsnPropTypes.Integer, optional: true })(Pbkdf2Params.prototype, 'keyLength');
AsnProp({ type: AlgorithmIdentifier, optional: true })(Pbkdf2Params.prototype, 'prf');
AsnType({ type: AsnTypeTypes.Sequence })(Pbkdf2Params);

/** RFC 8018 appendix A.4: PBES2-params. */
export class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
}
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, 'keyDerivationFunc');
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, 'encryptionScheme');
AsnType({ type: AsnTypeTypes.Sequence })(Pbes2Params);

/**
 * Copies a Node buffer view into a standalone ArrayBuffer, the form asn1-schema's ANY fields hold.
 *
 * @example
 * new OctetString(toArrayBuffer(randomBytes(16)));
 */
export function toArrayBuffer(b: Uint8Array): ArrayBuffer {
  const out = new ArrayBuffer(b.byteLength);
  new Uint8Array(out).set(b);
  return out;
}

/**
 * Encrypts `plain` under `password`. The password goes to PBKDF2 as its UTF-8 bytes, not as
 * the BMPString the older PKCS#12 schemes use; that is how OpenSSL and RFC 9579 §3 treat PBES2.
 *
 * @example
 * const { algorithm, ciphertext } = pbes2Encrypt(pkcs8Der, password, 100_000);
 */
export function pbes2Encrypt(plain: Uint8Array, password: string, iterations: number): { algorithm: AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plain), cipher.final()]);
  const kdf = new Pbkdf2Params();
  kdf.salt = new OctetString(toArrayBuffer(salt));
  kdf.iterationCount = iterations;
  kdf.prf = new AlgorithmIdentifier({ algorithm: OID_HMAC_SHA256, parameters: DER_NULL });
  const params = new Pbes2Params();
  params.keyDerivationFunc = new AlgorithmIdentifier({ algorithm: OID_PBKDF2, parameters: AsnConvert.serialize(kdf) });
  params.encryptionScheme = new AlgorithmIdentifier({ algorithm: OID_AES256_CBC, parameters: AsnConvert.serialize(new OctetString(toArrayBuffer(iv))) });
  return { algorithm: new AlgorithmIdentifier({ algorithm: OID_PBES2, parameters: AsnConvert.serialize(params) }), ciphertext };
}

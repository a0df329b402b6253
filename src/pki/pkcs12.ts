import 'reflect-metadata';
import { toPem } from '../core/pem.js';
import { createHash, createHmac, createPublicKey, randomBytes } from 'node:crypto';
import { EncryptedContent, EncryptedContentInfo, ContentInfo } from '@peculiar/asn1-cms';
import { AuthenticatedSafe, CertBag, MacData, PFX, PKCS12Attribute, SafeBag, SafeContents, id_certBag, id_pkcs8ShroudedKeyBag, id_x509Certificate } from '@peculiar/asn1-pfx';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { DigestInfo } from '@peculiar/asn1-rsa';
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { splitPemCertificates } from '../core/cert-parse.js';
import { BouncerError } from '../core/errors.js';
import { readPrivateKey } from './keys.js';
import { pbes2Encrypt, toArrayBuffer } from './pbes2.js';
import { PKCS12_KDF_ID, bmpPassword, pkcs12Kdf } from './pkcs12-kdf.js';

/** Options for {@link toPkcs12}. */
export interface Pkcs12Options {
  /** The device certificate. Further certificates in the same PEM are treated as chain. */
  certPem: string;
  /** Its private key (PKCS#8, or legacy PKCS#1 / SEC1 PEM). */
  keyPem: string;
  /** Intermediate (and optionally root) certificates to ship alongside. */
  chainPem?: string;
  /** Required and non-empty: a device bundle must not carry its key in the clear. */
  password: string;
  /** Label shown by key stores (Keychain, Windows, browsers) for the key and certificate. */
  friendlyName?: string;
  /** PBKDF2 and MAC iteration count. Default {@link PKCS12_DEFAULT_ITERATIONS}; at least 2048. */
  iterations?: number;
}

/**
 * Iterations for PBKDF2 and for the MAC's key derivation. OpenSSL 3.0 writes 2048, which is cheap
 * to brute-force offline; a device bundle travels by mail and USB stick, so we spend more. Node
 * and OpenSSL still open the file in well under a second.
 */
export const PKCS12_DEFAULT_ITERATIONS = 100_000;
const MIN_ITERATIONS = 2048;

const OID_DATA = '1.2.840.113549.1.7.1';
const OID_ENCRYPTED_DATA = '1.2.840.113549.1.7.6';
const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
/** PKCS#9 attributes used on bags (RFC 2985 §5.5.1, §5.5.2). */
const OID_FRIENDLY_NAME = '1.2.840.113549.1.9.20';
const OID_LOCAL_KEY_ID = '1.2.840.113549.1.9.21';

/** RFC 5652 §8 EncryptedData, which @peculiar/asn1-cms does not declare. */
class CmsEncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
}
AsnProp({ type: AsnPropTypes.Integer })(CmsEncryptedData.prototype, 'version');
AsnProp({ type: EncryptedContentInfo })(CmsEncryptedData.prototype, 'encryptedContentInfo');
AsnType({ type: AsnTypeTypes.Sequence })(CmsEncryptedData);

/**
 * Packs a device certificate, its key and its chain into a password-protected PKCS#12 file
 * with the profile OpenSSL 3 writes by default: the key in a pkcs8ShroudedKeyBag and the
 * certificates in an EncryptedData, both PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC); a
 * localKeyId linking key and certificate; and an HMAC-SHA256 integrity MAC keyed with the
 * RFC 7292 appendix B KDF.
 *
 * @example
 * const p12 = toPkcs12({ certPem: device.certPem, keyPem: device.keyPem, chainPem: ca.certPem, password });
 * writeFileSync('laptop-1.p12', p12, { mode: 0o600 });
 */
export function toPkcs12(o: Pkcs12Options): Buffer {
  const { password } = o;
  if (typeof password !== 'string' || password.length === 0) {
    throw new BouncerError('ERR_PKI_INPUT', 'a PKCS#12 password is required; a device bundle must not hold its key unprotected');
  }
  const iterations = o.iterations ?? PKCS12_DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < MIN_ITERATIONS) {
    throw new BouncerError('ERR_PKI_INPUT', `PKCS#12 iterations must be an integer of at least ${MIN_ITERATIONS}, got ${iterations}`);
  }
  if (o.friendlyName !== undefined && o.friendlyName.trim() === '') throw new BouncerError('ERR_PKI_INPUT', 'friendlyName must not be empty');
  const certs = readCertificates(o.certPem, 'certificate');
  const chain = o.chainPem !== undefined ? readCertificates(o.chainPem, 'chain') : [];
  const [leaf, ...rest] = certs;
  if (!leaf) throw new BouncerError('ERR_PKI_INPUT', 'certificate: no PEM certificate found');
  const { keyObject } = readPrivateKey(o.keyPem, 'private key');
  const keySpki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  let certSpki: Buffer;
  try {
    certSpki = createPublicKey({ key: toPem(leaf, 'CERTIFICATE'), format: 'pem' }).export({ format: 'der', type: 'spki' });
  } catch (err) {
    throw new BouncerError('ERR_PKI_INPUT', `certificate is not readable: ${(err as Error).message}`, { cause: err });
  }
  if (!keySpki.equals(certSpki)) throw new BouncerError('ERR_PKI_INPUT', 'private key does not match the certificate');

  // Any value works as localKeyId as long as key and certificate carry the same one.
  const localKeyId = createHash('sha256').update(leaf).digest();
  const attributes = [attribute(OID_LOCAL_KEY_ID, AsnConvert.serialize(new OctetString(toArrayBuffer(localKeyId))))];
  if (o.friendlyName !== undefined) attributes.push(attribute(OID_FRIENDLY_NAME, derBmpString(o.friendlyName)));

  const certBags = [leaf, ...rest, ...chain].map(
    (der, index) =>
      new SafeBag({
        bagId: id_certBag,
        bagValue: AsnConvert.serialize(new CertBag({ certId: id_x509Certificate, certValue: AsnConvert.serialize(new OctetString(toArrayBuffer(der))) })),
        ...(index === 0 ? { bagAttributes: attributes } : {}),
      }),
  );
  const shrouded = pbes2Encrypt(keyObject.export({ format: 'der', type: 'pkcs8' }), password, iterations);
  const keyBag = new SafeBag({
    bagId: id_pkcs8ShroudedKeyBag,
    bagValue: AsnConvert.serialize(
      new EncryptedPrivateKeyInfo({ encryptionAlgorithm: shrouded.algorithm, encryptedData: new EncryptedData(toArrayBuffer(shrouded.ciphertext)) }),
    ),
    bagAttributes: attributes,
  });

  // Certificates go in an encrypted safe so the bundle does not reveal whose device it is.
  const sealedCerts = pbes2Encrypt(new Uint8Array(AsnConvert.serialize(new SafeContents(certBags))), password, iterations);
  const encryptedData = new CmsEncryptedData();
  encryptedData.encryptedContentInfo = new EncryptedContentInfo({
    contentType: OID_DATA,
    contentEncryptionAlgorithm: sealedCerts.algorithm,
    encryptedContent: new EncryptedContent({ value: new OctetString(toArrayBuffer(sealedCerts.ciphertext)) }),
  });
  const authSafe = AsnConvert.serialize(
    new AuthenticatedSafe([
      new ContentInfo({ contentType: OID_ENCRYPTED_DATA, content: AsnConvert.serialize(encryptedData) }),
      dataContentInfo(AsnConvert.serialize(new SafeContents([keyBag]))),
    ]),
  );

  // RFC 7292 §5.1 / B.4: HMAC over the AuthenticatedSafe bytes, keyed from the BMP password.
  const macSalt = randomBytes(16);
  const macKey = pkcs12Kdf('sha256', bmpPassword(password), macSalt, PKCS12_KDF_ID.macKey, iterations, 32);
  const mac = createHmac('sha256', macKey).update(new Uint8Array(authSafe)).digest();
  const pfx = new PFX({
    version: 3,
    authSafe: dataContentInfo(authSafe),
    macData: new MacData({
      mac: new DigestInfo({
        digestAlgorithm: new AlgorithmIdentifier({ algorithm: OID_SHA256, parameters: new Uint8Array([0x05, 0x00]).buffer }),
        digest: new OctetString(toArrayBuffer(mac)),
      }),
      macSalt: new OctetString(toArrayBuffer(macSalt)),
      iterations,
    }),
  });
  return Buffer.from(AsnConvert.serialize(pfx));
}

function readCertificates(pem: string, what: string): Buffer[] {
  if (typeof pem !== 'string') throw new BouncerError('ERR_PKI_INPUT', `${what} PEM is required`);
  try {
    return splitPemCertificates(pem);
  } catch (err) {
    throw new BouncerError('ERR_PKI_INPUT', `${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** ContentInfo of type data: the content is an OCTET STRING holding the DER bytes. */
function dataContentInfo(der: ArrayBuffer): ContentInfo {
  return new ContentInfo({ contentType: OID_DATA, content: AsnConvert.serialize(new OctetString(der)) });
}

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // PKCS12Attribute's constructor drops its argument, so the fields are set one by one.
  const a = new PKCS12Attribute();
  a.attrId = attrId;
  a.attrValues = [value];
  return a;
}

/** DER BMPString (UTF-16BE), the type PKCS#9 friendlyName requires (RFC 2985 §5.5.1). */
function derBmpString(text: string): ArrayBuffer {
  const body = Buffer.alloc(text.length * 2);
  for (let i = 0; i < text.length; i++) body.writeUInt16BE(text.charCodeAt(i), i * 2);
  if (body.length > 255) throw new BouncerError('ERR_PKI_INPUT', 'friendlyName is too long');
  const header = body.length < 128 ? [0x1e, body.length] : [0x1e, 0x81, body.length];
  return toArrayBuffer(Buffer.concat([Buffer.from(header), body]));
}

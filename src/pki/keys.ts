import 'reflect-metadata';
import { toPem } from '../core/pem.js';
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';
import { BouncerError } from '../core/errors.js';

/** Key types bouncer can generate for CAs, devices and servers. */
export type KeyAlgorithm = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096' | 'ed25519';

/** Every {@link KeyAlgorithm}, in the order the CLI lists them. */
export const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096', 'ed25519'];

/** Hashes a signature may use. SHA-1 exists only so tests can produce weak certificates. */
export type SignatureHash = 'SHA-256' | 'SHA-384' | 'SHA-512' | 'SHA-1';

/** The families of issuer keys we can sign with. */
export type SignerKind = 'ec-p256' | 'ec-p384' | 'rsa' | 'ed25519';

/** A freshly generated key pair: the public half for the certificate, the private half as PKCS#8 PEM. */
export interface GeneratedKey {
  readonly publicKey: webcrypto.CryptoKey;
  readonly keyPem: string;
}

/** An issuer's private key, imported for signing with the algorithm its type implies. */
export interface Signer {
  readonly kind: SignerKind;
  readonly key: webcrypto.CryptoKey;
  /** The WebCrypto algorithm @peculiar/x509 signs with; it also picks the signature OID. */
  readonly algorithm: webcrypto.Algorithm | webcrypto.EcdsaParams;
  /** DER SubjectPublicKeyInfo of the matching public key, to compare with the issuer certificate. */
  readonly spkiDer: Buffer;
}

const RSA_PUBLIC_EXPONENT = new Uint8Array([1, 0, 1]);

/**
 * Generates a key pair for a new certificate.
 *
 * `rsaBits` overrides the modulus length (tests use 1024 to make a weak key); it implies RSA
 * when no algorithm is named and is refused with a non-RSA one, so the knob never silently
 * does nothing.
 *
 * @example
 * const { publicKey, keyPem } = await generateKey('ec-p256');
 */
export async function generateKey(algorithm: KeyAlgorithm | undefined, rsaBits?: number): Promise<GeneratedKey> {
  const alg: KeyAlgorithm = algorithm ?? (rsaBits !== undefined ? 'rsa-2048' : 'ec-p256');
  if (!KEY_ALGORITHMS.includes(alg)) {
    throw new BouncerError('ERR_PKI_INPUT', `unknown key algorithm "${String(alg)}" (expected one of ${KEY_ALGORITHMS.join(', ')})`);
  }
  if (rsaBits !== undefined && !alg.startsWith('rsa-')) {
    throw new BouncerError('ERR_PKI_INPUT', `rsaBits only applies to RSA keys, not ${alg}`);
  }
  if (rsaBits !== undefined && (!Number.isInteger(rsaBits) || rsaBits < 512 || rsaBits > 16384 || rsaBits % 8 !== 0)) {
    throw new BouncerError('ERR_PKI_INPUT', `rsaBits must be a multiple of 8 between 512 and 16384, got ${rsaBits}`);
  }
  let params: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
  switch (alg) {
    case 'ec-p256':
      params = { name: 'ECDSA', namedCurve: 'P-256' };
      break;
    case 'ec-p384':
      params = { name: 'ECDSA', namedCurve: 'P-384' };
      break;
    case 'ed25519':
      params = { name: 'Ed25519' };
      break;
    default:
      params = {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: rsaBits ?? Number(alg.slice('rsa-'.length)),
        publicExponent: RSA_PUBLIC_EXPONENT,
        // The hash binds only this CryptoKey; the PKCS#8 export is hash-free.
        hash: 'SHA-256',
      };
  }
  const pair = (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', pair.privateKey);
  return { publicKey: pair.publicKey, keyPem: toPem(pkcs8, 'PRIVATE KEY') };
}

/**
 * Reads a PEM private key (PKCS#8, or the legacy PKCS#1 / SEC1 forms openssl writes) and
 * names its family. Encrypted keys are refused: bouncer never prompts for a passphrase.
 *
 * @example
 * const { keyObject, kind } = readPrivateKey(readFileSync('acme-ca.key', 'utf8'), '--ca-key');
 */
export function readPrivateKey(pem: string, what = 'private key'): { keyObject: KeyObject; kind: SignerKind } {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(pem);
    throw new BouncerError(
      'ERR_PKI_INPUT',
      encrypted ? `${what} is encrypted; decrypt it first (openssl pkey -in KEY -out PLAIN)` : `${what} is not a readable PEM private key: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return { keyObject, kind: signerKind(keyObject, what) };
}

function signerKind(key: KeyObject, what: string): SignerKind {
  const type = key.asymmetricKeyType;
  if (type === 'rsa') return 'rsa';
  if (type === 'ed25519') return 'ed25519';
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ec-p256';
    if (curve === 'secp384r1') return 'ec-p384';
    throw new BouncerError('ERR_PKI_INPUT', `${what} uses EC curve ${curve ?? 'unknown'}; only P-256 and P-384 are supported`);
  }
  throw new BouncerError('ERR_PKI_INPUT', `${what} is a ${type ?? 'unknown'} key; only EC P-256/P-384, RSA and Ed25519 are supported`);
}

/**
 * Imports an issuer's private key for signing. The signature algorithm follows the key:
 * ECDSA with the hash matching the curve's strength (SHA-256 for P-256, SHA-384 for P-384,
 * as RFC 5480 §4 recommends), RSA PKCS#1 v1.5 with SHA-256, or pure Ed25519 (RFC 8410 §3).
 * `hash` overrides the ECDSA/RSA hash; Ed25519 has no separate hash, so asking for one is an error.
 *
 * @example
 * const signer = await importSigner(ca.keyPem); // ECDSA SHA-256 for a P-256 CA
 */
export async function importSigner(pem: string, hash?: SignatureHash, what = 'issuer key'): Promise<Signer> {
  const { keyObject, kind } = readPrivateKey(pem, what);
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  const spkiDer = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  if (kind === 'ed25519') {
    if (hash !== undefined) throw new BouncerError('ERR_PKI_INPUT', `signatureHash ${hash} cannot apply to an Ed25519 issuer: Ed25519 signs without a separate hash`);
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, false, ['sign']);
    return { kind, key, algorithm: { name: 'Ed25519' }, spkiDer };
  }
  if (kind === 'rsa') {
    // WebCrypto fixes an RSA key's hash at import time, and @peculiar/x509 reads it from the key.
    const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'RSASSA-PKCS1-v1_5', hash: hash ?? 'SHA-256' }, false, ['sign']);
    return { kind, key, algorithm: { name: 'RSASSA-PKCS1-v1_5' }, spkiDer };
  }
  const namedCurve = kind === 'ec-p256' ? 'P-256' : 'P-384';
  const key = await webcrypto.subtle.importKey('pkcs8', pkcs8, { name: 'ECDSA', namedCurve }, false, ['sign']);
  const ecdsa: webcrypto.EcdsaParams = { name: 'ECDSA', hash: hash ?? (kind === 'ec-p256' ? 'SHA-256' : 'SHA-384') };
  return { kind, key, algorithm: ecdsa, spkiDer };
}

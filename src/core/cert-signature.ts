import { verify as cryptoVerify } from 'node:crypto';
import { SIGNATURE_ALGORITHMS } from './cert-oids.js';
import type { ParsedCert } from './parsed-cert.js';

/** What a signature check needs from a certificate, read once at parse time. */
export interface SignedParts {
  /** tbsCertificate exactly as received: what the issuer signed. */
  readonly tbs: Buffer;
  readonly signature: Buffer;
  /** The BIT STRING's unused-bit count; anything but 0 is not a valid signature. */
  readonly unusedBits: number;
  /** Whether tbsCertificate.signature equals the outer signatureAlgorithm, byte for byte. */
  readonly algorithmsMatch: boolean;
}

const signedParts = new WeakMap<ParsedCert, SignedParts>();

/**
 * True when `issuer`'s key verifies `child`'s signature. For the algorithms in
 * {@link SIGNATURE_ALGORITHMS} this is one `crypto.verify` over the received
 * tbsCertificate, with the checks OpenSSL's `X509_verify` makes first (inner and
 * outer algorithm identical, key of the algorithm's type, no unused bits);
 * anything else is left to `X509Certificate#verify`. Weak algorithms verify
 * here too: the path validator reports them.
 */
export function verifySignedBy(child: ParsedCert, issuer: ParsedCert): boolean {
  const parts = signedParts.get(child);
  const alg = SIGNATURE_ALGORITHMS.get(child.signatureOid);
  const key = issuer.publicKey;
  if (parts && alg && key.asymmetricKeyType === alg.keyType) {
    if (!parts.algorithmsMatch || parts.unusedBits !== 0) return false;
    return cryptoVerify(alg.digest, parts.tbs, key, parts.signature);
  }
  return child.node.verify(key);
}

/** Whether `cert` was read by the fast path (its signature then checked without OpenSSL's certificate parser); for tests. */
export function isFastParsed(cert: ParsedCert): boolean {
  return signedParts.has(cert);
}


/** Records how `cert`'s signature is checked without OpenSSL's certificate parser (fast path only). */
export function registerSignedParts(cert: ParsedCert, parts: SignedParts): void {
  signedParts.set(cert, parts);
}

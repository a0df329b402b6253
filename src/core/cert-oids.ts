/** OIDs for signature algorithms we accept on any certificate in a client chain. */
export const STRONG_SIGNATURE_OIDS: ReadonlyMap<string, string> = new Map([
  ['1.2.840.113549.1.1.11', 'sha256WithRSAEncryption'],
  ['1.2.840.113549.1.1.12', 'sha384WithRSAEncryption'],
  ['1.2.840.113549.1.1.13', 'sha512WithRSAEncryption'],
  ['1.2.840.10045.4.3.2', 'ecdsa-with-SHA256'],
  ['1.2.840.10045.4.3.3', 'ecdsa-with-SHA384'],
  ['1.2.840.10045.4.3.4', 'ecdsa-with-SHA512'],
  ['1.3.101.112', 'Ed25519'],
  ['1.3.101.113', 'Ed448'],
]);

/** Algorithms refused as weak (broken or too short a digest), named for details. */
export const WEAK_SIGNATURE_NAMES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.113549.1.1.2', 'md2WithRSAEncryption'],
  ['1.2.840.113549.1.1.4', 'md5WithRSAEncryption'],
  ['1.2.840.113549.1.1.5', 'sha1WithRSAEncryption'],
  ['1.2.840.113549.1.1.14', 'sha224WithRSAEncryption'],
  ['1.2.840.10045.4.1', 'ecdsa-with-SHA1'],
  ['1.2.840.10045.4.3.1', 'ecdsa-with-SHA224'],
  ['1.2.840.10040.4.3', 'dsa-with-sha1'],
]);

/**
 * Algorithms that are not weak but that bouncer does not verify, refused with
 * their own reason (`client_cert_signature_unsupported`). RSASSA-PSS would need
 * its parameters (hash, MGF, salt length) read and pinned; no client PKI we
 * serve uses it, so it is refused rather than half-supported.
 */
export const UNSUPPORTED_SIGNATURE_NAMES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.113549.1.1.10', 'RSASSA-PSS'],
  ['2.16.840.1.101.3.4.3.2', 'dsa-with-sha256'],
]);

export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';

/** RFC 5280 §4.2.1.3 key usage bits, as @peculiar/x509 numbers them. */
export const KEY_USAGE = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
} as const;

/**
 * Signature algorithms checked with node's `crypto.verify` directly, mapped to
 * the digest (null for EdDSA, which hashes internally) and the key type the
 * algorithm requires. Weak ones are listed so their signatures still verify and
 * are then reported as weak by the path validator. Anything else (RSASSA-PSS,
 * whose parameters would need reading; unknown algorithms) goes to OpenSSL
 * through `X509Certificate#verify`, as before.
 */
export const SIGNATURE_ALGORITHMS: ReadonlyMap<string, { readonly digest: string | null; readonly keyType: string }> = new Map([
  ['1.2.840.113549.1.1.4', { digest: 'md5', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.5', { digest: 'sha1', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.14', { digest: 'sha224', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.11', { digest: 'sha256', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.12', { digest: 'sha384', keyType: 'rsa' }],
  ['1.2.840.113549.1.1.13', { digest: 'sha512', keyType: 'rsa' }],
  ['1.2.840.10045.4.1', { digest: 'sha1', keyType: 'ec' }],
  ['1.2.840.10045.4.3.1', { digest: 'sha224', keyType: 'ec' }],
  ['1.2.840.10045.4.3.2', { digest: 'sha256', keyType: 'ec' }],
  ['1.2.840.10045.4.3.3', { digest: 'sha384', keyType: 'ec' }],
  ['1.2.840.10045.4.3.4', { digest: 'sha512', keyType: 'ec' }],
  ['1.3.101.112', { digest: null, keyType: 'ed25519' }],
  ['1.3.101.113', { digest: null, keyType: 'ed448' }],
]);

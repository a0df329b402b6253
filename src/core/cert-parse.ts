import { parseCertificateComplete } from './cert-parse-complete.js';
import { parseCertificateFast } from './cert-parse-fast.js';
import { BouncerError } from './errors.js';
import type { ParsedCert } from './parsed-cert.js';

// Certificate parsing, in seams: OID tables (cert-oids.ts), the signature
// check (cert-signature.ts), the complete parse (cert-parse-complete.ts), the
// fast DER parse (cert-parse-fast.ts), and the shared readers for names
// (dn.ts, general-names.ts) and extensions (cert-extensions.ts). This module
// is the entry point and keeps the names other modules import.
export { EKU_ANY, EKU_CLIENT_AUTH, KEY_USAGE, SIGNATURE_ALGORITHMS, STRONG_SIGNATURE_OIDS } from './cert-oids.js';
export { isFastParsed, verifySignedBy } from './cert-signature.js';
export type { ParsedCert, SubjectAltNames } from './parsed-cert.js';

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_END = '-----END CERTIFICATE-----';

/** Splits a PEM bundle into DER blocks. Text outside the blocks is ignored, as openssl does. */
export function splitPemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  // Each BEGIN line up to the first END line after it, found with indexOf: a
  // lazy regex over the bundle cost more than decoding it.
  for (let from = 0; ; ) {
    const begin = pem.indexOf(PEM_BEGIN, from);
    const end = begin < 0 ? -1 : pem.indexOf(PEM_END, begin + PEM_BEGIN.length);
    if (end < 0) break;
    from = end + PEM_END.length;
    const body = pem.slice(begin + PEM_BEGIN.length, end).replace(/\s+/g, '');
    const der = Buffer.from(body, 'base64');
    // Text that is its own decoding's canonical encoding is base64 for sure, and
    // checking that costs a tenth of the character-class test, which then only
    // judges what is left (missing padding, stray characters).
    if (body.length === 0 || (der.toString('base64') !== body && !/^[A-Za-z0-9+/]*={0,2}$/.test(body))) {
      throw new BouncerError('ERR_CERT_PARSE', 'PEM certificate block is not valid base64');
    }
    out.push(der);
  }
  return out;
}

/**
 * Parses one DER certificate. Throws `ERR_CERT_PARSE` with the reason on any malformed input.
 *
 * Well-formed certificates of the usual shape (RSA, P-256/384/521 or EdDSA keys,
 * names of printable ASCII, DNS/e-mail/URI alternative names) are read by a
 * small DER walker; everything else, and anything that walker does not accept,
 * goes through @peculiar/x509 and node's `X509Certificate`. Both give the same
 * fields (a unit test compares them, and a fuzz test compares them on mutated
 * certificates). The fast path builds no OpenSSL object: on Node 20 (OpenSSL
 * 3.0) constructing an `X509Certificate` or a public `KeyObject` costs 100–200
 * µs, more than the rest of a validation, so `node` and `publicKey` are made on
 * first use, which for a client's leaf is never.
 */
export function parseCertificateDer(der: Buffer): ParsedCert {
  return parseCertificateFast(der) ?? parseCertificateComplete(der);
}

/** The complete parse: @peculiar/x509 for the fields, node's X509Certificate for keys and signatures. */
export function parseCertificateDerComplete(der: Buffer): ParsedCert {
  return parseCertificateComplete(der);
}

/** Parses every certificate in a PEM bundle. An empty bundle is an error. */
export function parseCertificateBundle(pem: string): ParsedCert[] {
  const blocks = splitPemCertificates(pem);
  if (blocks.length === 0) throw new BouncerError('ERR_CERT_PARSE', 'no PEM certificate found');
  return blocks.map(parseCertificateDer);
}

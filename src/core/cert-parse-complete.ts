import 'reflect-metadata';
import { X509Certificate as NodeX509, createHash } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate as PeculiarX509,
} from '@peculiar/x509';
import { NO_EXTENSIONS, readExtensionFacts, readExtensionList } from './cert-extensions.js';
import { hasExplicitEcParams, readCertLayout } from './cert-layout.js';
import { canonicalIntegerHex } from './der.js';
import { readDistinguishedName } from './dn.js';
import { BouncerError } from './errors.js';
import type { ParsedCert, SubjectAltNames } from './parsed-cert.js';

const CURVE_BITS: Readonly<Record<string, number>> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521 };

function parseError(message: string, cause?: unknown): BouncerError {
  return new BouncerError('ERR_CERT_PARSE', message, cause === undefined ? undefined : { cause });
}

/** PEM text of a DER certificate (RFC 7468): base64 in lines of 64 characters. */
export function toPem(der: Buffer): string {
  const b64 = der.toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += `${b64.slice(i, i + 64)}\n`;
  return `-----BEGIN CERTIFICATE-----\n${body || '\n'}-----END CERTIFICATE-----\n`;
}

/**
 * The complete parse: @peculiar/x509 for the fields, node's X509Certificate for
 * keys and signatures, and bouncer's own DER reader for names and the
 * extension facts (see {@link readExtensionFacts}), as the fast path uses them.
 * Throws `ERR_CERT_PARSE` on anything malformed.
 */
export function parseCertificateComplete(der: Buffer): ParsedCert {
  try {
    return readComplete(der);
  } catch (err) {
    // @peculiar/x509 decodes extensions lazily and throws its own errors from the getters.
    if (err instanceof BouncerError) throw err;
    throw parseError(`not a valid X.509 certificate: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

function readComplete(der: Buffer): ParsedCert {
  let node: NodeX509;
  let peculiar: PeculiarX509;
  let asn: AsnCertificate;
  try {
    node = new NodeX509(der);
    peculiar = new PeculiarX509(der);
    asn = AsnConvert.parse(der, AsnCertificate);
  } catch (err) {
    throw parseError(`not a valid X.509 certificate: ${(err as Error).message}`, err);
  }
  // X.509 certificates are DER (RFC 5280 §4.1); the structure must read as such.
  const layout = readCertLayout(der);
  if (!layout) throw parseError('certificate is not DER-encoded');
  const subjectName = readDistinguishedName(der, layout.subject);
  const issuerName = readDistinguishedName(der, layout.issuer);
  if (!subjectName || !issuerName) throw parseError('subject or issuer is not a well-formed Name');
  const rawExtensions = layout.extensions ? readExtensionList(der, layout.extensions) : [];
  if (!rawExtensions) throw parseError('extensions are not a well-formed list');
  const signatureOid = asn.signatureAlgorithm.algorithm;
  const bc = peculiar.getExtension(BasicConstraintsExtension);
  const ku = peculiar.getExtension(KeyUsagesExtension);
  const eku = peculiar.getExtension(ExtendedKeyUsageExtension);
  const sanExt = peculiar.getExtension(SubjectAlternativeNameExtension);
  const sans: SubjectAltNames = { dns: [], uri: [], email: [], ip: [] };
  if (sanExt) {
    for (const n of sanExt.names.items) {
      if (n.type === 'dns') sans.dns.push(n.value);
      else if (n.type === 'url') sans.uri.push(n.value);
      else if (n.type === 'email') sans.email.push(n.value);
      else if (n.type === 'ip') sans.ip.push(n.value);
    }
  }
  let publicKey: NodeX509['publicKey'];
  try {
    publicKey = node.publicKey;
  } catch (err) {
    // e.g. DSA keys whose parameters are inherited from the issuer (RFC 3279 §2.3.2), which OpenSSL cannot load alone.
    throw parseError(`public key cannot be read: ${(err as Error).message}`, err);
  }
  const keyType = publicKey.asymmetricKeyType ?? 'unknown';
  const details = publicKey.asymmetricKeyDetails ?? {};
  const keyBits = details.modulusLength ?? (details.namedCurve ? CURVE_BITS[details.namedCurve] ?? 0 : keyType === 'ed25519' ? 256 : keyType === 'ed448' ? 448 : 0);
  return {
    pem: toPem(der),
    der,
    node,
    fingerprint256: createHash('sha256').update(der).digest('hex'),
    subject: peculiar.subject,
    issuer: peculiar.issuer,
    serial: peculiar.serialNumber.toLowerCase(),
    serialKey: canonicalIntegerHex(der.subarray(layout.serial.content, layout.serial.end)),
    notBefore: peculiar.notBefore.getTime(),
    notAfter: peculiar.notAfter.getTime(),
    isCa: bc?.ca ?? false,
    pathLen: bc?.ca ? bc.pathLength : undefined,
    keyUsage: ku ? ku.usages : undefined,
    extKeyUsage: eku ? eku.usages.map(String) : undefined,
    sans,
    signatureOid,
    publicKey,
    keyType,
    keyBits,
    selfIssued: subjectName.key === issuerName.key,
    criticalExtensions: rawExtensions.filter((e) => e.critical).map((e) => e.oid),
    subjectName,
    issuerName,
    version: layout.version,
    extensions: rawExtensions.length > 0 ? readExtensionFacts(der, rawExtensions) : NO_EXTENSIONS,
    ecExplicitParams: hasExplicitEcParams(der, layout.spki),
  };
}

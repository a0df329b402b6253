import 'reflect-metadata';
import { X509Certificate as NodeX509, createHash, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate as PeculiarX509,
} from '@peculiar/x509';
import { BouncerError } from './errors.js';

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

export interface SubjectAltNames {
  dns: string[];
  uri: string[];
  email: string[];
  ip: string[];
}

/**
 * A certificate parsed once, with everything path validation and the identity
 * headers need. Parsing is the expensive part; callers cache these.
 */
export interface ParsedCert {
  readonly pem: string;
  readonly der: Buffer;
  readonly node: NodeX509;
  /** Lowercase hex SHA-256 of the DER, no separators. */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  /** Lowercase hex serial number. */
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** basicConstraints cA; false when the extension is absent. */
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLen: number | undefined;
  /** Key usage bit set, or undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** Extended key usage OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly sans: SubjectAltNames;
  readonly signatureOid: string;
  readonly publicKey: KeyObject;
  /** 'rsa', 'ec', 'ed25519', 'ed448', 'rsa-pss', ... */
  readonly keyType: string;
  /** RSA modulus length in bits, or the EC curve's field size. */
  readonly keyBits: number;
  /** True when subject and issuer are the same name (a root candidate). */
  readonly selfIssued: boolean;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g;
const CURVE_BITS: Readonly<Record<string, number>> = { prime256v1: 256, 'P-256': 256, secp384r1: 384, 'P-384': 384, secp521r1: 521, 'P-521': 521 };

/** Splits a PEM bundle into DER blocks. Text outside the blocks is ignored, as openssl does. */
export function splitPemCertificates(pem: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    const body = (m[1] ?? '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body) || body.length === 0) {
      throw new BouncerError('ERR_CERT_PARSE', 'PEM certificate block is not valid base64');
    }
    out.push(Buffer.from(body, 'base64'));
  }
  return out;
}

/** Parses one DER certificate. Throws `ERR_CERT_PARSE` with the reason on any malformed input. */
export function parseCertificateDer(der: Buffer): ParsedCert {
  let node: NodeX509;
  let peculiar: PeculiarX509;
  let signatureOid: string;
  try {
    node = new NodeX509(der);
    peculiar = new PeculiarX509(der);
    signatureOid = AsnConvert.parse(der, AsnCertificate).signatureAlgorithm.algorithm;
  } catch (err) {
    throw new BouncerError('ERR_CERT_PARSE', `not a valid X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
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
  const publicKey = node.publicKey;
  const keyType = publicKey.asymmetricKeyType ?? 'unknown';
  const details = publicKey.asymmetricKeyDetails ?? {};
  const keyBits = details.modulusLength ?? (details.namedCurve ? CURVE_BITS[details.namedCurve] ?? 0 : keyType === 'ed25519' ? 256 : keyType === 'ed448' ? 448 : 0);
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
  return {
    pem,
    der,
    node,
    fingerprint256: createHash('sha256').update(der).digest('hex'),
    subject: peculiar.subject,
    issuer: peculiar.issuer,
    serial: peculiar.serialNumber.toLowerCase(),
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
    selfIssued: node.subject === node.issuer,
  };
}

/** Parses every certificate in a PEM bundle. An empty bundle is an error. */
export function parseCertificateBundle(pem: string): ParsedCert[] {
  const blocks = splitPemCertificates(pem);
  if (blocks.length === 0) throw new BouncerError('ERR_CERT_PARSE', 'no PEM certificate found');
  return blocks.map(parseCertificateDer);
}

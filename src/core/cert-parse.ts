import 'reflect-metadata';
import { X509Certificate as NodeX509, createHash, hash, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate as AsnCertificate } from '@peculiar/asn1-x509';
import {
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  X509Certificate as PeculiarX509,
} from '@peculiar/x509';
import { children, isPrintableAscii, isWellFormed, readOid, readSmallUint, readTlv, type Tlv } from './der.js';
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
  /** OIDs of the extensions marked critical, for RFC 5280 §4.2's unknown-critical rule. */
  readonly criticalExtensions: readonly string[];
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

/** What a signature check needs from a certificate, read once at parse time. */
interface SignedParts {
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

/**
 * Parses one DER certificate. Throws `ERR_CERT_PARSE` with the reason on any malformed input.
 *
 * Well-formed certificates of the usual shape (RSA, P-256/384/521 or EdDSA keys,
 * names of printable ASCII, DNS/e-mail/URI alternative names) are read by a
 * small DER walker; everything else, and anything that walker does not accept,
 * goes through @peculiar/x509 and node's `X509Certificate` exactly as before.
 * Both give the same fields (a unit test compares them). The fast path builds no
 * OpenSSL object: on Node 20 (OpenSSL 3.0) constructing an `X509Certificate` or
 * a public `KeyObject` costs 100–200 µs, more than the rest of a validation, so
 * `node` and `publicKey` are made on first use, which for a client's leaf is never.
 */
export function parseCertificateDer(der: Buffer): ParsedCert {
  return parseFast(der) ?? parseComplete(der);
}

/** The complete parse: @peculiar/x509 for the fields, node's X509Certificate for keys and signatures. */
export function parseCertificateDerComplete(der: Buffer): ParsedCert {
  return parseComplete(der);
}

function parseComplete(der: Buffer): ParsedCert {
  let node: NodeX509;
  let peculiar: PeculiarX509;
  let asn: AsnCertificate;
  try {
    node = new NodeX509(der);
    peculiar = new PeculiarX509(der);
    asn = AsnConvert.parse(der, AsnCertificate);
  } catch (err) {
    throw new BouncerError('ERR_CERT_PARSE', `not a valid X.509 certificate: ${(err as Error).message}`, { cause: err });
  }
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
  const publicKey = node.publicKey;
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
    criticalExtensions: (asn.tbsCertificate.extensions ?? []).filter((e) => e.critical).map((e) => e.extnID),
  };
}

function toPem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;
}

// ---------------------------------------------------------------------------
// The fast path. Every function returns undefined for anything it does not
// fully understand, and the complete parse then decides.

/** Short names @peculiar/x509 prints for attribute types; others print as dotted OIDs. */
const NAME_TYPES: ReadonlyMap<string, string> = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  ['2.5.4.10', 'O'],
  ['2.5.4.11', 'OU'],
  ['2.5.4.6', 'C'],
  ['0.9.2342.19200300.100.1.25', 'DC'],
  ['1.2.840.113549.1.9.1', 'E'],
  ['2.5.4.42', 'G'],
  ['2.5.4.43', 'I'],
  ['2.5.4.4', 'SN'],
  ['2.5.4.12', 'T'],
]);

/** PrintableString, UTF8String, IA5String: the string types whose printable-ASCII content reads the same in every library. */
const TEXT_TAGS: ReadonlySet<number> = new Set([0x13, 0x0c, 0x16]);

/** The escaping @peculiar/x509's Name#toString applies (RFC 4514 §2.4 specials, leading space or #, trailing space). */
function escapeDnValue(v: string): string {
  let s = v.replace(/[,+"\\<>;]/g, (c) => `\\${c}`);
  if (s.startsWith(' ') || s.startsWith('#')) s = `\\${s}`;
  if (s.endsWith(' ')) s = `${s.slice(0, -1)}\\ `;
  return s;
}

/** A Name as @peculiar/x509 prints it: RDNs joined by ", ", multi-valued ones by "+". */
function formatName(buf: Buffer, name: Tlv): string | undefined {
  if (name.tag !== 0x30) return undefined;
  const rdns = children(buf, name);
  if (!rdns) return undefined;
  const out: string[] = [];
  for (const rdn of rdns) {
    if (rdn.tag !== 0x31) return undefined;
    const atvs = children(buf, rdn);
    if (!atvs || atvs.length === 0) return undefined;
    const parts: string[] = [];
    for (const atv of atvs) {
      const kv = atv.tag === 0x30 ? children(buf, atv) : undefined;
      if (!kv || kv.length !== 2) return undefined;
      const [typeTlv, valueTlv] = kv as [Tlv, Tlv];
      const oid = readOid(buf, typeTlv);
      if (oid === undefined || !TEXT_TAGS.has(valueTlv.tag) || !isPrintableAscii(buf, valueTlv.content, valueTlv.end)) return undefined;
      parts.push(`${NAME_TYPES.get(oid) ?? oid}=${escapeDnValue(buf.toString('latin1', valueTlv.content, valueTlv.end))}`);
    }
    out.push(parts.join('+'));
  }
  return out.join(', ');
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) in their DER forms, as ms since the epoch. */
function readTime(buf: Buffer, t: Tlv): number | undefined {
  const s = buf.toString('latin1', t.content, t.end);
  let m: RegExpExecArray | null;
  let year: number;
  if (t.tag === 0x17 && (m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    const yy = Number(m[1]);
    // RFC 5280 §4.1.2.5.1: 50–99 are 19xx, 00–49 are 20xx.
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
  } else if (t.tag === 0x18 && (m = /^(\d\d\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s))) {
    year = Number(m[1]);
  } else {
    return undefined;
  }
  const [month, day, hour, minute, second] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const d = new Date(ms);
  // Out-of-range fields (month 13, 31 April, second 60) are left to the complete parser.
  if (d.getUTCFullYear() !== year || d.getUTCMonth() !== month - 1 || d.getUTCDate() !== day || d.getUTCHours() !== hour || d.getUTCMinutes() !== minute || d.getUTCSeconds() !== second) {
    return undefined;
  }
  return ms;
}

const OID_RSA = '1.2.840.113549.1.1.1';
const OID_EC = '1.2.840.10045.2.1';
const EC_CURVES: ReadonlyMap<string, number> = new Map([
  ['1.2.840.10045.3.1.7', 256],
  ['1.3.132.0.34', 384],
  ['1.3.132.0.35', 521],
]);

/** Key type and size from SubjectPublicKeyInfo, for the key types node names the same way. */
function readKey(buf: Buffer, spki: Tlv): { keyType: string; keyBits: number } | undefined {
  const parts = spki.tag === 0x30 ? children(buf, spki) : undefined;
  if (!parts || parts.length !== 2) return undefined;
  const [algTlv, keyTlv] = parts as [Tlv, Tlv];
  const alg = algTlv.tag === 0x30 ? children(buf, algTlv) : undefined;
  if (!alg || alg.length < 1 || alg.length > 2 || keyTlv.tag !== 0x03 || buf[keyTlv.content] !== 0) return undefined;
  const oid = readOid(buf, alg[0] as Tlv);
  const params = alg[1];
  const key = { start: keyTlv.content + 1, end: keyTlv.end };
  if (oid === OID_RSA) {
    // Parameters NULL (or, leniently, absent); the key is RSAPublicKey { modulus, publicExponent }.
    if (params && (params.tag !== 0x05 || params.end !== params.content)) return undefined;
    const rsa = readTlv(buf, key.start, key.end);
    const nums = rsa && rsa.tag === 0x30 && rsa.end === key.end ? children(buf, rsa) : undefined;
    const modulus = nums?.[0];
    if (!nums || nums.length !== 2 || !modulus || modulus.tag !== 0x02 || (nums[1] as Tlv).tag !== 0x02) return undefined;
    let i = modulus.content;
    while (i < modulus.end && buf[i] === 0) i++;
    if (i === modulus.end || ((buf[modulus.content] as number) & 0x80) !== 0) return undefined;
    return { keyType: 'rsa', keyBits: (modulus.end - i) * 8 - (Math.clz32(buf[i] as number) - 24) };
  }
  if (oid === OID_EC) {
    const bits = params ? EC_CURVES.get(readOid(buf, params) ?? '') : undefined;
    if (bits === undefined) return undefined;
    const size = Math.ceil(bits / 8);
    const len = key.end - key.start;
    const form = buf[key.start];
    if (!((form === 4 && len === 1 + 2 * size) || ((form === 2 || form === 3) && len === 1 + size))) return undefined;
    return { keyType: 'ec', keyBits: bits };
  }
  if ((oid === '1.3.101.112' || oid === '1.3.101.113') && !params) {
    const ed25519 = oid === '1.3.101.112';
    if (key.end - key.start !== (ed25519 ? 32 : 57)) return undefined;
    return ed25519 ? { keyType: 'ed25519', keyBits: 256 } : { keyType: 'ed448', keyBits: 448 };
  }
  return undefined;
}

/** KeyUsage BIT STRING as @peculiar/x509 numbers it: bit n (from the first octet's high bit) is 2^n. */
function readKeyUsage(buf: Buffer, t: Tlv): number | undefined {
  const len = t.end - t.content;
  if (t.tag !== 0x03 || len < 2 || len > 3) return undefined;
  const unused = buf[t.content] as number;
  if (unused > 7) return undefined;
  let value = 0;
  const nbits = (len - 1) * 8 - unused;
  for (let n = 0; n < nbits; n++) {
    const byte = buf[t.content + 1 + (n >> 3)] as number;
    if (byte & (0x80 >> (n & 7))) value += 2 ** n;
  }
  return value;
}

interface Extensions {
  isCa: boolean;
  pathLen: number | undefined;
  keyUsage: number | undefined;
  extKeyUsage: string[] | undefined;
  sans: SubjectAltNames;
  critical: string[];
}

const EXT_BASIC_CONSTRAINTS = '2.5.29.19';
const EXT_KEY_USAGE = '2.5.29.15';
const EXT_EXT_KEY_USAGE = '2.5.29.37';
const EXT_SAN = '2.5.29.17';

function readExtensions(buf: Buffer, list: Tlv | undefined): Extensions | undefined {
  const out: Extensions = { isCa: false, pathLen: undefined, keyUsage: undefined, extKeyUsage: undefined, sans: { dns: [], uri: [], email: [], ip: [] }, critical: [] };
  if (!list) return out;
  const exts = list.tag === 0x30 ? children(buf, list) : undefined;
  if (!exts) return undefined;
  const seen = new Set<string>();
  for (const ext of exts) {
    const f = ext.tag === 0x30 ? children(buf, ext) : undefined;
    if (!f || f.length < 2 || f.length > 3) return undefined;
    const oid = readOid(buf, f[0] as Tlv);
    // A repeated extension is invalid (RFC 5280 §4.2); let the complete parser judge it.
    if (oid === undefined || seen.has(oid)) return undefined;
    seen.add(oid);
    let critical = false;
    if (f.length === 3) {
      const b = f[1] as Tlv;
      if (b.tag !== 0x01 || b.end - b.content !== 1 || (buf[b.content] !== 0 && buf[b.content] !== 0xff)) return undefined;
      critical = buf[b.content] === 0xff;
    }
    const value = f[f.length - 1] as Tlv;
    if (value.tag !== 0x04) return undefined;
    const inner = readTlv(buf, value.content, value.end);
    if (!inner || inner.end !== value.end || !isWellFormed(buf, value.content, value.end)) return undefined;
    if (critical) out.critical.push(oid);
    if (oid === EXT_BASIC_CONSTRAINTS) {
      const bc = inner.tag === 0x30 ? children(buf, inner) : undefined;
      if (!bc || bc.length > 2) return undefined;
      let i = 0;
      const ca = bc[0];
      if (ca && ca.tag === 0x01) {
        if (ca.end - ca.content !== 1 || (buf[ca.content] !== 0 && buf[ca.content] !== 0xff)) return undefined;
        out.isCa = buf[ca.content] === 0xff;
        i = 1;
      }
      const pl = bc[i];
      if (pl) {
        const v = readSmallUint(buf, pl);
        if (v === undefined || i + 1 !== bc.length) return undefined;
        out.pathLen = out.isCa ? v : undefined;
      } else if (i !== bc.length) return undefined;
    } else if (oid === EXT_KEY_USAGE) {
      const ku = readKeyUsage(buf, inner);
      if (ku === undefined) return undefined;
      out.keyUsage = ku;
    } else if (oid === EXT_EXT_KEY_USAGE) {
      const items = inner.tag === 0x30 ? children(buf, inner) : undefined;
      if (!items) return undefined;
      const oids: string[] = [];
      for (const it of items) {
        const o = readOid(buf, it);
        if (o === undefined) return undefined;
        oids.push(o);
      }
      out.extKeyUsage = oids;
    } else if (oid === EXT_SAN) {
      const names = inner.tag === 0x30 ? children(buf, inner) : undefined;
      if (!names) return undefined;
      for (const n of names) {
        // rfc822Name [1], dNSName [2], URI [6]: IA5String, taken as printable ASCII only.
        if ((n.tag !== 0x81 && n.tag !== 0x82 && n.tag !== 0x86) || !isPrintableAscii(buf, n.content, n.end)) return undefined;
        const v = buf.toString('latin1', n.content, n.end);
        if (n.tag === 0x81) out.sans.email.push(v);
        else if (n.tag === 0x82) out.sans.dns.push(v);
        else out.sans.uri.push(v);
      }
    }
  }
  return out;
}

function parseFast(der: Buffer): ParsedCert | undefined {
  const cert = readTlv(der, 0, der.length);
  if (!cert || cert.tag !== 0x30 || cert.end !== der.length) return undefined;
  const top = children(der, cert);
  if (!top || top.length !== 3) return undefined;
  const [tbs, sigAlg, sig] = top as [Tlv, Tlv, Tlv];
  if (tbs.tag !== 0x30 || sigAlg.tag !== 0x30 || sig.tag !== 0x03 || sig.end - sig.content < 2) return undefined;
  const f = children(der, tbs);
  if (!f) return undefined;
  let i = 0;
  let version = 0;
  if (f[0]?.tag === 0xa0) {
    const v = children(der, f[0]);
    const n = v?.length === 1 ? readSmallUint(der, v[0] as Tlv) : undefined;
    if (n === undefined || n > 2) return undefined;
    version = n;
    i = 1;
  }
  const [serial, innerAlg, issuerTlv, validity, subjectTlv, spki, ext] = f.slice(i) as Array<Tlv | undefined>;
  if (!serial || !innerAlg || !issuerTlv || !validity || !subjectTlv || !spki) return undefined;
  if (f.length > i + 7) return undefined;
  // Extensions only in v3, and no issuer/subject unique identifiers (left to the complete parser).
  if (ext && (ext.tag !== 0xa3 || version !== 2)) return undefined;
  const serialLen = serial.end - serial.content;
  if (serial.tag !== 0x02 || serialLen < 1 || serialLen > 64 || ((der[serial.content] as number) & 0x80) !== 0) return undefined;
  const algParts = children(der, sigAlg);
  const signatureOid = algParts?.[0] ? readOid(der, algParts[0]) : undefined;
  if (signatureOid === undefined || innerAlg.tag !== 0x30) return undefined;
  const times = validity.tag === 0x30 ? children(der, validity) : undefined;
  if (!times || times.length !== 2) return undefined;
  const notBefore = readTime(der, times[0] as Tlv);
  const notAfter = readTime(der, times[1] as Tlv);
  const subject = formatName(der, subjectTlv);
  const issuer = formatName(der, issuerTlv);
  const key = readKey(der, spki);
  const extList = ext ? readTlv(der, ext.content, ext.end) : undefined;
  if (ext && (!extList || extList.end !== ext.end)) return undefined;
  const exts = readExtensions(der, extList);
  if (notBefore === undefined || notAfter === undefined || subject === undefined || issuer === undefined || !key || !exts) return undefined;

  // peculiar's serial: the INTEGER's bytes in hex, less a leading 00 kept only for the sign.
  let serialStart = serial.content;
  if (serialLen > 1 && der[serialStart] === 0 && ((der[serialStart + 1] as number) & 0x80) !== 0) serialStart += 1;
  const parsed = withLazyNode({
    pem: toPem(der),
    der,
    fingerprint256: hash('sha256', der, 'hex'),
    subject,
    issuer,
    serial: der.toString('hex', serialStart, serial.end),
    notBefore,
    notAfter,
    isCa: exts.isCa,
    pathLen: exts.pathLen,
    keyUsage: exts.keyUsage,
    extKeyUsage: exts.extKeyUsage,
    sans: exts.sans,
    signatureOid,
    keyType: key.keyType,
    keyBits: key.keyBits,
    selfIssued: subject === issuer,
    criticalExtensions: exts.critical,
  });
  signedParts.set(parsed, {
    tbs: der.subarray(tbs.start, tbs.end),
    signature: der.subarray(sig.content + 1, sig.end),
    unusedBits: der[sig.content] as number,
    algorithmsMatch: der.subarray(innerAlg.start, innerAlg.end).equals(der.subarray(sigAlg.start, sigAlg.end)),
  });
  return parsed;
}

/**
 * Adds `node` and `publicKey`, built on first use and kept. Node's parse of a
 * certificate this parser accepted cannot fail in a way the complete parser
 * would have let through, so deferring it changes no outcome, only the cost.
 */
function withLazyNode(fields: Omit<ParsedCert, 'node' | 'publicKey'>): ParsedCert {
  let node: NodeX509 | undefined;
  let publicKey: KeyObject | undefined;
  const nodeOf = (): NodeX509 => (node ??= new NodeX509(fields.der));
  return Object.defineProperties(fields as ParsedCert, {
    node: { get: nodeOf, enumerable: true },
    publicKey: { get: () => (publicKey ??= nodeOf().publicKey), enumerable: true },
  });
}

/** Parses every certificate in a PEM bundle. An empty bundle is an error. */
export function parseCertificateBundle(pem: string): ParsedCert[] {
  const blocks = splitPemCertificates(pem);
  if (blocks.length === 0) throw new BouncerError('ERR_CERT_PARSE', 'no PEM certificate found');
  return blocks.map(parseCertificateDer);
}

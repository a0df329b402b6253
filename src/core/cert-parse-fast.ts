import { X509Certificate as NodeX509, hash, type KeyObject } from 'node:crypto';
import { EXT, NO_EXTENSIONS, readExtensionFacts, readExtensionList, type RawExtension } from './cert-extensions.js';
import { readCertLayout } from './cert-layout.js';
import { SIGNATURE_ALGORITHMS } from './cert-oids.js';
import { toPem } from './cert-parse-complete.js';
import { registerSignedParts } from './cert-signature.js';
import { canonicalIntegerHex, children, isPrintableAscii, readOid, readSmallUint, readTlv, type Tlv } from './der.js';
import { readDistinguishedName } from './dn.js';
import type { ParsedCert, SubjectAltNames } from './parsed-cert.js';

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

/** The decimal number in `count` ASCII digits at `at`; -1 when any is not a digit. */
function digits(buf: Buffer, at: number, count: number): number {
  let v = 0;
  for (let i = at; i < at + count; i++) {
    const d = (buf[i] as number) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) in their DER forms, as ms since the epoch. */
function readTime(buf: Buffer, t: Tlv): number | undefined {
  // Read in place, digit by digit: no string or match objects on the cold path.
  const yearDigits = t.tag === 0x17 ? 2 : t.tag === 0x18 ? 4 : 0;
  if (yearDigits === 0 || t.end - t.content !== yearDigits + 11 || buf[t.end - 1] !== 0x5a) return undefined;
  let year = digits(buf, t.content, yearDigits);
  const at = t.content + yearDigits;
  const month = digits(buf, at, 2);
  const day = digits(buf, at + 2, 2);
  const hour = digits(buf, at + 4, 2);
  const minute = digits(buf, at + 6, 2);
  const second = digits(buf, at + 8, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return undefined;
  // RFC 5280 §4.1.2.5.1: a UTCTime year of 50–99 is 19xx, 00–49 is 20xx.
  if (yearDigits === 2) year = year >= 50 ? 1900 + year : 2000 + year;
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

/** p and b of the NIST prime curves (SEC 2 §2.4.2, §2.5.1, §2.6.1); a = -3 for all three. */
const CURVE_PARAMS: ReadonlyMap<number, { readonly p: bigint; readonly b: bigint }> = new Map([
  [256, { p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n, b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn }],
  [
    384,
    {
      p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
      b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    },
  ],
  [
    521,
    {
      p: 2n ** 521n - 1n,
      b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    },
  ],
]);

/** y² = x³ - 3x + b (mod p), with both coordinates reduced. */
function isOnCurve(bits: number, x: bigint, y: bigint): boolean {
  const c = CURVE_PARAMS.get(bits);
  if (!c || x >= c.p || y >= c.p) return false;
  const { p, b } = c;
  const rhs = (((((x * x) % p) * x) % p) - 3n * x + b) % p;
  return (y * y) % p === (rhs + p) % p;
}

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
    // Uncompressed points only, and only on the curve: OpenSSL refuses to load
    // anything else, so accepting it here would let the two parsers disagree.
    if (form !== 4 || len !== 1 + 2 * size) return undefined;
    const x = BigInt(`0x${buf.toString('hex', key.start + 1, key.start + 1 + size)}`);
    const y = BigInt(`0x${buf.toString('hex', key.start + 1 + size, key.end)}`);
    if (!isOnCurve(bits, x, y)) return undefined;
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

/** The fields the fast path exposes directly; undefined for any shape it leaves to the complete parse. */
function readExtensions(buf: Buffer, list: readonly RawExtension[]): Extensions | undefined {
  const out: Extensions = { isCa: false, pathLen: undefined, keyUsage: undefined, extKeyUsage: undefined, sans: { dns: [], uri: [], email: [], ip: [] }, critical: [] };
  const seen = new Set<string>();
  for (const { oid, critical, value: inner } of list) {
    // A repeated or undecodable extension is invalid (RFC 5280 §4.2); the complete parse records it.
    if (seen.has(oid) || !inner) return undefined;
    seen.add(oid);
    if (critical) out.critical.push(oid);
    if (oid === EXT.basicConstraints) {
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
    } else if (oid === EXT.keyUsage) {
      const ku = readKeyUsage(buf, inner);
      if (ku === undefined) return undefined;
      out.keyUsage = ku;
    } else if (oid === EXT.extKeyUsage) {
      const items = inner.tag === 0x30 ? children(buf, inner) : undefined;
      if (!items) return undefined;
      const oids: string[] = [];
      for (const it of items) {
        const o = readOid(buf, it);
        if (o === undefined) return undefined;
        oids.push(o);
      }
      out.extKeyUsage = oids;
    } else if (oid === EXT.subjectAltName) {
      const names = inner.tag === 0x30 ? children(buf, inner) : undefined;
      if (!names) return undefined;
      for (const n of names) {
        // iPAddress [7]: IPv4 only, printed as @peculiar/x509 prints it (IPv6 goes to the complete parse).
        if (n.tag === 0x87 && n.end - n.content === 4) {
          out.sans.ip.push(Array.from(buf.subarray(n.content, n.end)).join('.'));
          continue;
        }
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

/**
 * The fast parse: a small DER walker for certificates of the usual shape;
 * undefined for anything it does not fully understand, which the complete
 * parse then decides.
 */
export function parseCertificateFast(der: Buffer): ParsedCert | undefined {
  const layout = readCertLayout(der);
  if (!layout || layout.uniqueIds) return undefined;
  const { tbs, sigAlg, sig, serial, innerAlg, validity, spki } = layout;
  const serialLen = serial.end - serial.content;
  if (serialLen < 1 || serialLen > 64 || ((der[serial.content] as number) & 0x80) !== 0) return undefined;
  const algParts = children(der, sigAlg);
  const signatureOid = algParts?.[0] ? readOid(der, algParts[0]) : undefined;
  // Known algorithms with their exact parameters (NULL for RSA PKCS #1 v1.5, absent
  // for ECDSA and EdDSA, RFC 4055 §5 / RFC 5758 §3.2 / RFC 8410 §3); anything else
  // is left to the complete parse, whose OpenSSL decoder is the reference.
  const alg = signatureOid === undefined ? undefined : SIGNATURE_ALGORITHMS.get(signatureOid);
  const sigParams = algParts?.[1];
  if (!alg || !algParts || algParts.length > 2) return undefined;
  if (alg.keyType === 'rsa' ? sigParams?.tag !== 0x05 || sigParams.end !== sigParams.content : sigParams !== undefined) return undefined;
  // The signed copy of the algorithm equal to the outer one, and a signature
  // BIT STRING without unused bits: what OpenSSL's decoder and X509_verify insist on.
  if (!der.subarray(innerAlg.start, innerAlg.end).equals(der.subarray(sigAlg.start, sigAlg.end)) || der[sig.content] !== 0) return undefined;
  const times = children(der, validity);
  if (!times || times.length !== 2) return undefined;
  const notBefore = readTime(der, times[0] as Tlv);
  const notAfter = readTime(der, times[1] as Tlv);
  const subject = formatName(der, layout.subject);
  const issuer = formatName(der, layout.issuer);
  const subjectName = readDistinguishedName(der, layout.subject);
  const issuerName = readDistinguishedName(der, layout.issuer);
  const key = readKey(der, spki);
  const rawExtensions = layout.extensions ? readExtensionList(der, layout.extensions) : [];
  const exts = rawExtensions ? readExtensions(der, rawExtensions) : undefined;
  if (notBefore === undefined || notAfter === undefined || subject === undefined || issuer === undefined || !subjectName || !issuerName || !key || !rawExtensions || !exts) {
    return undefined;
  }
  const facts = rawExtensions.length > 0 ? readExtensionFacts(der, rawExtensions) : NO_EXTENSIONS;
  // An extension bouncer reads that does not decode: the complete parse (which refuses it) decides.
  if (facts.malformed.length > 0) return undefined;

  // peculiar's serial: the INTEGER's bytes in hex, less a leading 00 kept only for the sign.
  let serialStart = serial.content;
  if (serialLen > 1 && der[serialStart] === 0 && ((der[serialStart + 1] as number) & 0x80) !== 0) serialStart += 1;
  const parsed = withLazyParts({
    der,
    fingerprint256: hash('sha256', der, 'hex'),
    subject,
    issuer,
    serial: der.toString('hex', serialStart, serial.end),
    serialKey: canonicalIntegerHex(der.subarray(serial.content, serial.end)),
    notBefore,
    notAfter,
    isCa: exts.isCa,
    pathLen: exts.pathLen,
    keyUsage: exts.keyUsage,
    extKeyUsage: exts.extKeyUsage,
    sans: exts.sans,
    signatureOid: signatureOid as string,
    keyType: key.keyType,
    keyBits: key.keyBits,
    selfIssued: subjectName.key === issuerName.key,
    criticalExtensions: exts.critical,
    subjectName,
    issuerName,
    version: layout.version,
    extensions: facts,
    ecExplicitParams: false,
  });
  registerSignedParts(parsed, {
    tbs: der.subarray(tbs.start, tbs.end),
    signature: der.subarray(sig.content + 1, sig.end),
    unusedBits: der[sig.content] as number,
    algorithmsMatch: der.subarray(innerAlg.start, innerAlg.end).equals(der.subarray(sigAlg.start, sigAlg.end)),
  });
  return parsed;
}

/**
 * Adds `pem`, `node` and `publicKey`, built on first use and kept. Node's
 * parse of a certificate this parser accepted cannot fail in a way the
 * complete parser would have let through, so deferring it changes no outcome,
 * only the cost. A client's leaf needs none of them: its PEM text alone was a
 * fifth of a cold parse (and most of its garbage).
 */
function withLazyParts(fields: Omit<ParsedCert, 'node' | 'publicKey' | 'pem'>): ParsedCert {
  let pem: string | undefined;
  let node: NodeX509 | undefined;
  let publicKey: KeyObject | undefined;
  const der = fields.der;
  // Getters in the literal (own, enumerable, as spreading and comparing need)
  // rather than Object.defineProperties, which turned every parse's object into
  // a slow dictionary-mode one.
  return {
    ...fields,
    get pem(): string {
      return (pem ??= toPem(der));
    },
    get node(): NodeX509 {
      return (node ??= new NodeX509(der));
    },
    get publicKey(): KeyObject {
      return (publicKey ??= (node ??= new NodeX509(der)).publicKey);
    },
  };
}

import 'reflect-metadata';
import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  CertificateList,
  IssuingDistributionPoint,
  id_ce_authorityKeyIdentifier,
  id_ce_certificateIssuer,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
  id_ce_deltaCRLIndicator,
  id_ce_freshestCRL,
  id_ce_invalidityDate,
  id_ce_issuingDistributionPoint,
} from '@peculiar/asn1-x509';
import { X509Crl } from '@peculiar/x509';
import { SIGNATURE_ALGORITHMS } from './cert-oids.js';
import { canonicalIntegerHex, children, readTlv, type Tlv } from './der.js';
import { readExtensionList, type RawExtension } from './cert-extensions.js';
import { distributionPointKeys, readDistributionPointName } from './distribution-point.js';
import { readDistinguishedName, type DistinguishedName } from './dn.js';
import type { ParsedCert } from './parsed-cert.js';
import { BouncerError } from './errors.js';

/**
 * A certificate revocation list (RFC 5280 §5), parsed once when a tenant's
 * config loads. Only complete, direct CRLs are accepted (see {@link parseCrlBundle}),
 * so "serial not listed" really means "not revoked by this issuer" for every
 * certificate the CRL covers ({@link ParsedCrl.distributionPointKeys}).
 */
export interface ParsedCrl {
  readonly der: Buffer;
  /** Issuer name, in the same string format as `ParsedCert.subject` of the issuing CA. */
  readonly issuer: string;
  /** Issuer name in comparable form (RFC 5280 §7.1), matched against `ParsedCert.subjectName.key`. */
  readonly issuerKey: string;
  /** cRLNumber (RFC 5280 §5.2.3), as a decimal string. */
  readonly crlNumber: string;
  /** thisUpdate, ms since the epoch. */
  readonly thisUpdate: number;
  /** nextUpdate, ms since the epoch; undefined when the CRL omits it (it then never goes stale). */
  readonly nextUpdate: number | undefined;
  /** Revoked serial numbers as lowercase hex, normalised like `ParsedCert.serial` (see {@link normalizeSerialHex}). */
  readonly revokedSerials: ReadonlySet<string>;
  /** Revoked serials as signed INTEGERs in canonical hex, matched against `ParsedCert.serialKey`. */
  readonly revokedSerialKeys: ReadonlySet<string>;
  /** OID of the outer signatureAlgorithm. */
  readonly signatureOid: string;
  /**
   * The issuingDistributionPoint's distribution point names, as comparison
   * keys (see distribution-point.ts), or undefined when the CRL names none: it
   * then covers every certificate of its issuer; otherwise only those whose
   * cRLDistributionPoints name one of these (RFC 5280 §6.3.3 (b)(2)(i)).
   */
  readonly distributionPointKeys: ReadonlySet<string> | undefined;
  /** issuingDistributionPoint's onlyContainsUserCerts, onlyContainsCACerts, onlyContainsAttributeCerts (RFC 5280 §5.2.5). */
  readonly onlyUserCerts: boolean;
  readonly onlyCaCerts: boolean;
  readonly onlyAttributeCerts: boolean;
  /**
   * onlySomeReasons as a bit set (bit n for ReasonFlags n, RFC 5280 §4.2.1.13),
   * or undefined when the CRL covers every reason.
   */
  readonly onlySomeReasons: number | undefined;
}

/**
 * Canonical form of a serial number in hex: lowercase, without leading zero
 * octets (one "00" is kept for serial zero). For any DER-valid certificate this
 * equals `ParsedCert.serial` (@peculiar/x509 drops the sign octet); applying it
 * to CRL entries as well means an issuer that pads serials in its CRL cannot
 * make a revoked certificate look unrevoked.
 *
 * @example
 * ```ts
 * normalizeSerialHex('00FF10'); // 'ff10'
 * ```
 */
export function normalizeSerialHex(serialHex: string): string {
  return serialHex.toLowerCase().replace(/^(00)+(?=[0-9a-f]{2})/, '');
}

// Both labels occur in the wild: RFC 7468 §5 says "X509 CRL", while some tools
// (including @peculiar/x509's own PEM writer) emit plain "CRL".
const PEM_CRL_BLOCK = /-----BEGIN (X509 CRL|CRL)-----([\s\S]*?)-----END \1-----/g;

/** CRL extensions we understand well enough to accept when marked critical. */
const HANDLED_CRL_EXTENSIONS: ReadonlySet<string> = new Set([
  id_ce_cRLNumber,
  id_ce_authorityKeyIdentifier,
  id_ce_issuingDistributionPoint,
  id_ce_freshestCRL,
]);

/** CRL entry extensions we understand; certificateIssuer is refused separately. */
const HANDLED_ENTRY_EXTENSIONS: ReadonlySet<string> = new Set([id_ce_cRLReasons, id_ce_invalidityDate]);

function crlError(index: number, message: string, cause?: unknown): BouncerError {
  return new BouncerError('ERR_CRL_PARSE', `CRL #${index + 1}: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * Refuses CRLs whose meaning we would get wrong. A delta CRL (RFC 5280 §5.2.4)
 * or one limited to some certificate kinds or reasons, or indirect (§5.2.5
 * issuingDistributionPoint), read as if it were
 * a complete list would silently miss revocations, which fails open; so would
 * ignoring an unknown critical extension (§5.2). Better to stop at config load.
 */
function checkCrlScope(index: number, asn: CertificateList, layout: CrlLayout): void {
  const extensions = layout.extensions;
  // RFC 5280 §5.2.3: conforming CRL issuers MUST include cRLNumber, and mark it
  // non-critical. A CRL without one cannot be ordered against its successors
  // (a replayed older CRL looks as good as the current one), so it is refused.
  const numbers = extensions.filter((e) => e.oid === id_ce_cRLNumber);
  if (numbers.length === 0) throw crlError(index, 'has no cRLNumber extension (RFC 5280 §5.2.3 requires one)');
  if (numbers[0]?.critical) throw crlError(index, 'marks cRLNumber critical (RFC 5280 §5.2.3 requires it non-critical)');
  const oids = extensions.map((e) => e.oid);
  const repeated = oids.find((oid, k) => oids.indexOf(oid) !== k);
  if (repeated !== undefined) throw crlError(index, `has extension ${repeated} more than once (RFC 5280 §5.2)`);
  for (const ext of extensions) {
    if (!ext.value) throw crlError(index, `extension ${ext.oid} is not well-formed DER`);
    if (ext.oid === id_ce_deltaCRLIndicator) {
      throw crlError(index, 'delta CRLs are not supported; configure the complete (base) CRL');
    }
    if (ext.oid === id_ce_issuingDistributionPoint) {
      checkIssuingDistributionPoint(index, layout.der.subarray(ext.value.start, ext.value.end));
      continue;
    }
    if (ext.critical && !HANDLED_CRL_EXTENSIONS.has(ext.oid)) {
      throw crlError(index, `unsupported critical CRL extension ${ext.oid}`);
    }
  }
  for (const entry of layout.entries) {
    for (const ext of entry.extensions) {
      if (ext.oid === id_ce_certificateIssuer) {
        throw crlError(index, 'indirect CRLs (entries with certificateIssuer) are not supported');
      }
      if (ext.critical && !HANDLED_ENTRY_EXTENSIONS.has(ext.oid)) {
        throw crlError(index, `unsupported critical CRL entry extension ${ext.oid}`);
      }
    }
  }
}

function checkIssuingDistributionPoint(index: number, value: Buffer): void {
  let idp: IssuingDistributionPoint;
  try {
    idp = AsnConvert.parse(value, IssuingDistributionPoint);
  } catch (err) {
    throw crlError(index, `issuingDistributionPoint is malformed: ${(err as Error).message}`, err);
  }
  // The other fields narrow the CRL to some certificates or reasons; that is
  // tracked per certificate (crl-scope.ts). An indirect CRL speaks for other
  // issuers, which bouncer does not follow.
  if (idp.indirectCRL) throw crlError(index, 'indirect CRLs are not supported');
}

/** The parts of a CRL read with bouncer's own DER reader (the ASN.1 library misreads CRLs without nextUpdate). */
interface CrlLayout {
  readonly der: Buffer;
  readonly issuer: DistinguishedName;
  /** revokedCertificates: each entry's serial (hex, as encoded) and entry extensions. */
  readonly entries: readonly { readonly serialHex: string; readonly serialKey: string; readonly extensions: readonly RawExtension[] }[];
  readonly extensions: readonly RawExtension[];
}

/**
 * CertificateList { tbsCertList { version?, signature, issuer, thisUpdate,
 * nextUpdate?, revokedCertificates?, [0] crlExtensions? }, ... } (RFC 5280 §5.1).
 */
function readCrlLayout(der: Buffer): CrlLayout | undefined {
  const top = readTlv(der, 0, der.length);
  const tbs = top && top.tag === 0x30 && top.end === der.length ? children(der, top)?.[0] : undefined;
  const fields = tbs && tbs.tag === 0x30 ? children(der, tbs) : undefined;
  if (!fields) return undefined;
  let i = fields[0]?.tag === 0x02 ? 1 : 0;
  const [signature, issuerTlv, thisUpdate] = fields.slice(i, i + 3);
  if (signature?.tag !== 0x30 || !issuerTlv || (thisUpdate?.tag !== 0x17 && thisUpdate?.tag !== 0x18)) return undefined;
  const issuer = readDistinguishedName(der, issuerTlv);
  if (!issuer) return undefined;
  i += 3;
  if (fields[i]?.tag === 0x17 || fields[i]?.tag === 0x18) i += 1;
  const entries: { serialHex: string; serialKey: string; extensions: RawExtension[] }[] = [];
  if (fields[i]?.tag === 0x30) {
    const list = children(der, fields[i] as Tlv);
    if (!list) return undefined;
    for (const item of list) {
      // SEQUENCE { userCertificate INTEGER, revocationDate Time, crlEntryExtensions Extensions OPTIONAL }
      const parts = item.tag === 0x30 ? children(der, item) : undefined;
      const serial = parts?.[0];
      if (!parts || parts.length < 2 || parts.length > 3 || serial?.tag !== 0x02 || serial.end === serial.content) return undefined;
      const exts = parts[2] ? readExtensionList(der, parts[2]) : [];
      if (!exts) return undefined;
      entries.push({ serialHex: der.toString('hex', serial.content, serial.end), serialKey: canonicalIntegerHex(der.subarray(serial.content, serial.end)), extensions: exts });
    }
    i += 1;
  }
  let extensions: RawExtension[] = [];
  const wrapper = fields[i];
  if (wrapper?.tag === 0xa0) {
    const list = readTlv(der, wrapper.content, wrapper.end);
    const read = list && list.end === wrapper.end ? readExtensionList(der, list) : undefined;
    if (!read) return undefined;
    extensions = read;
    i += 1;
  }
  if (i !== fields.length) return undefined;
  return { der, issuer, entries, extensions };
}

/** What an issuingDistributionPoint limits the CRL to (RFC 5280 §5.2.5); all undefined/false without one. */
interface IdpScope {
  readonly distributionPointKeys: ReadonlySet<string> | undefined;
  readonly onlyUserCerts: boolean;
  readonly onlyCaCerts: boolean;
  readonly onlyAttributeCerts: boolean;
  readonly onlySomeReasons: number | undefined;
}

const NO_IDP: IdpScope = { distributionPointKeys: undefined, onlyUserCerts: false, onlyCaCerts: false, onlyAttributeCerts: false, onlySomeReasons: undefined };

/** ReasonFlags ::= BIT STRING, read as a number with bit n set for reason n (0 unused ... 8 aACompromise). */
function readReasonFlags(buf: Buffer, t: Tlv): number | undefined {
  const len = t.end - t.content;
  if (len < 1 || len > 3 || (buf[t.content] as number) > 7) return undefined;
  let bits = 0;
  for (let i = 1; i < len; i++) {
    const byte = buf[t.content + i] as number;
    for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) bits |= 1 << ((i - 1) * 8 + b);
  }
  return bits;
}

/**
 * IssuingDistributionPoint ::= SEQUENCE { distributionPoint [0], onlyContainsUserCerts [1],
 * onlyContainsCACerts [2], onlySomeReasons [3], indirectCRL [4], onlyContainsAttributeCerts [5] }
 */
function readIdpScope(index: number, layout: CrlLayout): IdpScope {
  const t = layout.extensions.find((e) => e.oid === id_ce_issuingDistributionPoint)?.value;
  if (!t) return NO_IDP;
  const der = layout.der;
  const fields = t.tag === 0x30 ? children(der, t) : undefined;
  if (!fields) throw crlError(index, 'issuingDistributionPoint is malformed');
  let pointKeys: ReadonlySet<string> | undefined;
  let onlySomeReasons: number | undefined;
  const flags = new Set<number>();
  for (const f of fields) {
    if (f.tag === 0xa0) {
      const name = readDistributionPointName(der, f);
      if (!name) throw crlError(index, 'issuingDistributionPoint has a malformed distribution point name');
      pointKeys = new Set(distributionPointKeys(name, layout.issuer));
    } else if (f.tag === 0x83) {
      onlySomeReasons = readReasonFlags(der, f);
      if (onlySomeReasons === undefined) throw crlError(index, 'issuingDistributionPoint has a malformed onlySomeReasons');
    } else if (f.tag >= 0x81 && f.tag <= 0x85) {
      if (f.end - f.content !== 1) throw crlError(index, 'issuingDistributionPoint has a malformed flag');
      if (der[f.content] !== 0) flags.add(f.tag);
    }
  }
  return { distributionPointKeys: pointKeys, onlyUserCerts: flags.has(0x81), onlyCaCerts: flags.has(0x82), onlyAttributeCerts: flags.has(0x85), onlySomeReasons };
}

/** cRLNumber ::= INTEGER (0..MAX), at most 20 octets (RFC 5280 §5.2.3). */
function readCrlNumber(index: number, layout: CrlLayout): string {
  const ext = layout.extensions.find((e) => e.oid === id_ce_cRLNumber);
  const t = ext?.value;
  const len = t ? t.end - t.content : 0;
  if (!t || t.tag !== 0x02 || len === 0 || ((layout.der[t.content] as number) & 0x80) !== 0 || len > 21) {
    throw crlError(index, 'cRLNumber is not a non-negative INTEGER');
  }
  return BigInt(`0x${layout.der.toString('hex', t.content, t.end)}`).toString();
}

function parseCrlDer(index: number, der: Buffer): ParsedCrl {
  let asn: CertificateList;
  let crl: X509Crl;
  try {
    asn = AsnConvert.parse(der, CertificateList);
    crl = new X509Crl(der);
  } catch (err) {
    throw crlError(index, `not a valid X.509 CRL: ${(err as Error).message}`, err);
  }
  // RFC 5280 §5.1.1.2: the algorithm inside the signed part must equal the outer
  // one; a mismatch is the shape of an algorithm-substitution attempt.
  const outerOid = asn.signatureAlgorithm.algorithm;
  if (asn.tbsCertList.signature.algorithm !== outerOid) {
    throw crlError(index, `signature algorithm mismatch (${asn.tbsCertList.signature.algorithm} inside, ${outerOid} outside)`);
  }
  const layout = readCrlLayout(der);
  if (!layout) throw crlError(index, 'not a DER-encoded CRL');
  checkCrlScope(index, asn, layout);
  // Serials are read with bouncer's DER reader: @peculiar/asn1-x509 loses the
  // whole revoked list of a CRL without nextUpdate, which would fail open.
  // Normalised like ParsedCert.serial, which also absorbs padding.
  const revoked = new Set(layout.entries.map((e) => normalizeSerialHex(e.serialHex)));
  const nextUpdate = crl.nextUpdate?.getTime();
  const thisUpdate = crl.thisUpdate.getTime();
  if (!Number.isFinite(thisUpdate) || (nextUpdate !== undefined && !Number.isFinite(nextUpdate))) {
    throw crlError(index, 'thisUpdate or nextUpdate is not a valid time');
  }
  return {
    der,
    issuer: crl.issuer,
    issuerKey: layout.issuer.key,
    crlNumber: readCrlNumber(index, layout),
    thisUpdate,
    nextUpdate,
    revokedSerials: revoked,
    revokedSerialKeys: new Set(layout.entries.map((e) => e.serialKey)),
    signatureOid: outerOid,
    ...readIdpScope(index, layout),
  };
}

/**
 * Parses a PEM bundle of one or more CRLs (`X509 CRL` blocks; plain `CRL` is
 * accepted too). Text outside the blocks is ignored, as openssl does. A Buffer
 * holding a single DER CRL (what `openssl ca -gencrl -outform DER` writes) is
 * accepted as well.
 *
 * Throws `ERR_CRL_PARSE` when there is no CRL, when a block is not valid base64
 * or DER, or when a CRL is of a kind we cannot use safely: delta CRLs, indirect
 * CRLs, CRLs limited by issuingDistributionPoint to user, CA or attribute
 * certificates or to some reasons, or unknown critical
 * extensions. Signatures are not checked here: that needs the issuer, see
 * {@link verifyCrlSignature}.
 *
 * @example
 * ```ts
 * const crls = parseCrlBundle(readFileSync('tenant-a.crl.pem', 'utf8'));
 * const trust: TrustStore = { roots, crls, staleCrl: 'deny' };
 * ```
 */
export function parseCrlBundle(text: string | Buffer): ParsedCrl[] {
  const asText = typeof text === 'string' ? text : text.toString('latin1');
  const out: ParsedCrl[] = [];
  for (const m of asText.matchAll(PEM_CRL_BLOCK)) {
    const index = out.length;
    const body = (m[2] ?? '').replace(/\s+/g, '');
    if (body.length === 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) {
      throw crlError(index, 'PEM block is not valid base64');
    }
    out.push(parseCrlDer(index, Buffer.from(body, 'base64')));
  }
  if (out.length > 0) return out;
  // DER only from bytes: a text that merely starts with "0" is not a CRL.
  if (Buffer.isBuffer(text) && text[0] === 0x30) return [parseCrlDer(0, text)];
  throw new BouncerError('ERR_CRL_PARSE', 'no PEM "X509 CRL" block found');
}

/** The signed bytes, signature and algorithm of a CRL, re-read from its DER. */
function readSignedParts(der: Buffer): { tbs: Buffer; signature: Buffer; oid: string } | undefined {
  const asn = AsnConvert.parse(der, CertificateList);
  // The raw bytes as received must be verified: re-encoding the parsed
  // structure could differ from what the issuer signed.
  if (!asn.tbsCertListRaw) return undefined;
  return { tbs: Buffer.from(asn.tbsCertListRaw), signature: Buffer.from(asn.signature), oid: asn.signatureAlgorithm.algorithm };
}

function verifyWithKey(oid: string, tbs: Buffer, signature: Buffer, key: KeyObject): boolean {
  const alg = SIGNATURE_ALGORITHMS.get(oid);
  // The key type must match the algorithm family, so a signature can never be
  // checked under an algorithm the issuer's key was not made for.
  if (!alg || key.asymmetricKeyType !== alg.keyType) return false;
  return cryptoVerify(alg.digest, tbs, key, signature);
}

/**
 * True only when `crl` names `issuer` as its issuer and its signature verifies
 * with `issuer`'s public key. Weak algorithms (SHA-1, MD5) still verify here,
 * and the issuer's cRLSign key usage is not looked at: judging those is the
 * path validator's job, which reports them with their own reasons.
 * Never throws: anything unexpected counts as "does not verify".
 *
 * @example
 * ```ts
 * if (!verifyCrlSignature(crl, issuingCa)) return deny('client_cert_chain_invalid');
 * ```
 */
export function verifyCrlSignature(crl: ParsedCrl, issuer: ParsedCert): boolean {
  try {
    if (crl.issuerKey !== issuer.subjectName.key) return false;
    const parts = readSignedParts(crl.der);
    if (!parts || parts.oid !== crl.signatureOid) return false;
    return verifyWithKey(parts.oid, parts.tbs, parts.signature, issuer.publicKey);
  } catch {
    return false;
  }
}

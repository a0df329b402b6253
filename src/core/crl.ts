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
  type Extension as AsnExtension,
} from '@peculiar/asn1-x509';
import { X509Crl } from '@peculiar/x509';
import { SIGNATURE_ALGORITHMS, type ParsedCert } from './cert-parse.js';
import { BouncerError } from './errors.js';

/**
 * A certificate revocation list (RFC 5280 §5), parsed once when a tenant's
 * config loads. Only complete, direct CRLs are accepted (see {@link parseCrlBundle}),
 * so "serial not listed" really means "not revoked by this issuer".
 */
export interface ParsedCrl {
  readonly der: Buffer;
  /** Issuer name, in the same string format as `ParsedCert.subject` of the issuing CA. */
  readonly issuer: string;
  /** thisUpdate, ms since the epoch. */
  readonly thisUpdate: number;
  /** nextUpdate, ms since the epoch; undefined when the CRL omits it (it then never goes stale). */
  readonly nextUpdate: number | undefined;
  /** Revoked serial numbers as lowercase hex, normalised like `ParsedCert.serial` (see {@link normalizeSerialHex}). */
  readonly revokedSerials: ReadonlySet<string>;
  /** OID of the outer signatureAlgorithm. */
  readonly signatureOid: string;
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
 * or a scoped/indirect one (§5.2.5 issuingDistributionPoint) read as if it were
 * a complete list would silently miss revocations, which fails open; so would
 * ignoring an unknown critical extension (§5.2). Better to stop at config load.
 */
function checkCrlScope(index: number, asn: CertificateList): void {
  for (const ext of asn.tbsCertList.crlExtensions ?? []) {
    if (ext.extnID === id_ce_deltaCRLIndicator) {
      throw crlError(index, 'delta CRLs are not supported; configure the complete (base) CRL');
    }
    if (ext.extnID === id_ce_issuingDistributionPoint) {
      checkIssuingDistributionPoint(index, ext);
      continue;
    }
    if (ext.critical && !HANDLED_CRL_EXTENSIONS.has(ext.extnID)) {
      throw crlError(index, `unsupported critical CRL extension ${ext.extnID}`);
    }
  }
  for (const entry of asn.tbsCertList.revokedCertificates ?? []) {
    for (const ext of entry.crlEntryExtensions ?? []) {
      if (ext.extnID === id_ce_certificateIssuer) {
        throw crlError(index, 'indirect CRLs (entries with certificateIssuer) are not supported');
      }
      if (ext.critical && !HANDLED_ENTRY_EXTENSIONS.has(ext.extnID)) {
        throw crlError(index, `unsupported critical CRL entry extension ${ext.extnID}`);
      }
    }
  }
}

function checkIssuingDistributionPoint(index: number, ext: AsnExtension): void {
  let idp: IssuingDistributionPoint;
  try {
    idp = AsnConvert.parse(ext.extnValue.buffer, IssuingDistributionPoint);
  } catch (err) {
    throw crlError(index, `issuingDistributionPoint is malformed: ${(err as Error).message}`, err);
  }
  // A distributionPoint name alone keeps the CRL complete; any of these flags
  // narrows it to a subset of certificates or reasons, which we do not track.
  if (idp.onlyContainsUserCerts || idp.onlyContainsCACerts || idp.onlyContainsAttributeCerts || idp.onlySomeReasons !== undefined) {
    throw crlError(
      index,
      'CRLs limited by issuingDistributionPoint (only user/CA/attribute certificates or some reasons) are not supported; configure a complete CRL',
    );
  }
  if (idp.indirectCRL) throw crlError(index, 'indirect CRLs are not supported');
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
  checkCrlScope(index, asn);
  const revoked = new Set<string>();
  try {
    // X509CrlEntry.serialNumber is converted like X509Certificate.serialNumber
    // (which ParsedCert.serial comes from); normalising also absorbs padding.
    for (const entry of crl.entries) revoked.add(normalizeSerialHex(entry.serialNumber));
  } catch (err) {
    throw crlError(index, `revoked certificate list is malformed: ${(err as Error).message}`, err);
  }
  const nextUpdate = crl.nextUpdate?.getTime();
  const thisUpdate = crl.thisUpdate.getTime();
  if (!Number.isFinite(thisUpdate) || (nextUpdate !== undefined && !Number.isFinite(nextUpdate))) {
    throw crlError(index, 'thisUpdate or nextUpdate is not a valid time');
  }
  return {
    der,
    issuer: crl.issuer,
    thisUpdate,
    nextUpdate,
    revokedSerials: revoked,
    signatureOid: outerOid,
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
 * CRLs, CRLs scoped by issuingDistributionPoint, or unknown critical
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
    if (crl.issuer !== issuer.subject) return false;
    const parts = readSignedParts(crl.der);
    if (!parts || parts.oid !== crl.signatureOid) return false;
    return verifyWithKey(parts.oid, parts.tbs, parts.signature, issuer.publicKey);
  } catch {
    return false;
  }
}

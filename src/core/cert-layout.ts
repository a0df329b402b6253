import { children, readOid, readSmallUint, readTlv, type Tlv } from './der.js';

/**
 * The top-level fields of a certificate (RFC 5280 §4.1) located in its DER,
 * without interpreting them. Both parsers start here, so they read names and
 * extensions from the same bytes.
 */
export interface CertLayout {
  readonly tbs: Tlv;
  readonly sigAlg: Tlv;
  readonly sig: Tlv;
  /** 0 for v1, 1 for v2, 2 for v3. */
  readonly version: number;
  readonly serial: Tlv;
  readonly innerAlg: Tlv;
  readonly issuer: Tlv;
  readonly validity: Tlv;
  readonly subject: Tlv;
  readonly spki: Tlv;
  /** issuerUniqueID [1] / subjectUniqueID [2] present (v2 and v3 only). */
  readonly uniqueIds: boolean;
  /** The extensions SEQUENCE inside [3], when present. */
  readonly extensions: Tlv | undefined;
}

/** Locates the fields of a DER certificate, or undefined when its structure is not that of a certificate. */
export function readCertLayout(der: Uint8Array): CertLayout | undefined {
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
  const [serial, innerAlg, issuer, validity, subject, spki] = f.slice(i, i + 6) as Array<Tlv | undefined>;
  if (!serial || !innerAlg || !issuer || !validity || !subject || !spki) return undefined;
  if (serial.tag !== 0x02 || innerAlg.tag !== 0x30 || issuer.tag !== 0x30 || validity.tag !== 0x30 || subject.tag !== 0x30 || spki.tag !== 0x30) return undefined;
  let uniqueIds = false;
  let extensions: Tlv | undefined;
  let last = 0;
  for (const t of f.slice(i + 6)) {
    const n = t.tag === 0x81 || t.tag === 0xa1 ? 1 : t.tag === 0x82 || t.tag === 0xa2 ? 2 : t.tag === 0xa3 ? 3 : 0;
    if (n <= last) return undefined;
    last = n;
    if (n < 3) {
      if (version < 1) return undefined;
      uniqueIds = true;
    } else {
      if (version !== 2) return undefined;
      const list = readTlv(der, t.content, t.end);
      if (!list || list.end !== t.end) return undefined;
      extensions = list;
    }
  }
  return { tbs, sigAlg, sig, version, serial, innerAlg, issuer, validity, subject, spki, uniqueIds, extensions };
}

const OID_EC = '1.2.840.10045.2.1';

/**
 * True when an EC key's parameters are not a named curve OID: explicit curve
 * parameters or implicitCurve, both of which RFC 5480 §2.1.1 forbids.
 */
export function hasExplicitEcParams(der: Uint8Array, spki: Tlv): boolean {
  const parts = children(der, spki);
  const alg = parts?.[0]?.tag === 0x30 ? children(der, parts[0]) : undefined;
  if (!alg || alg.length === 0 || readOid(der, alg[0] as Tlv) !== OID_EC) return false;
  return alg[1]?.tag !== 0x06;
}

import { distributionPointKeys } from './distribution-point.js';
import type { ParsedCert } from './parsed-cert.js';
import type { ParsedCrl } from './crl.js';

/**
 * Whether `crl`, a complete direct CRL of `cert`'s issuer, covers `cert`
 * (RFC 5280 §6.3.3 (b)(2)(i)). A CRL without an issuingDistributionPoint name
 * covers every certificate of its issuer. One with a name covers only a
 * certificate whose cRLDistributionPoints name the same point: a
 * distribution point of the certificate's own issuer (one with cRLIssuer
 * belongs to an indirect CRL, which bouncer does not use), with a fullName or
 * a name relative to the certificate's issuer. A certificate without
 * cRLDistributionPoints is covered by no such CRL, as in OpenSSL: a partitioned
 * CRL says nothing about certificates outside its partition. A CRL limited
 * to user, CA or attribute certificates covers only those.
 */
export function crlCovers(crl: ParsedCrl, cert: ParsedCert): boolean {
  // §6.3.3 (b)(2)(ii)-(iv): a CRL of user certificates does not speak for a CA
  // certificate, one of CA certificates not for a user certificate, and one of
  // attribute certificates for no public-key certificate.
  if (crl.onlyAttributeCerts || (crl.onlyUserCerts && cert.isCa) || (crl.onlyCaCerts && !cert.isCa)) return false;
  const wanted = crl.distributionPointKeys;
  if (wanted === undefined) return true;
  for (const point of cert.extensions.crlDistributionPoints ?? []) {
    if (point.name === undefined || point.crlIssuer !== undefined) continue;
    for (const key of distributionPointKeys(point.name, cert.issuerName)) if (wanted.has(key)) return true;
  }
  return false;
}

/** Every revocation reason (RFC 5280 §6.3.3 all-reasons): ReasonFlags bits 1 (keyCompromise) to 8 (aACompromise). */
export const ALL_REASONS = 0x1fe;

/** The reasons a CRL speaks for (issuingDistributionPoint onlySomeReasons), as ReasonFlags bits. */
export function reasonsCovered(crl: ParsedCrl): number {
  return crl.onlySomeReasons === undefined ? ALL_REASONS : crl.onlySomeReasons & ALL_REASONS;
}

/**
 * Whether these covering CRLs together speak for every reason, so that a
 * certificate none of them lists is not revoked (§6.3.3 (d), (i): reasons_mask
 * must reach all-reasons). CRLs limited to some reasons count only together.
 */
export function coverAllReasons(crls: readonly ParsedCrl[]): boolean {
  let mask = 0;
  for (const crl of crls) mask |= reasonsCovered(crl);
  return mask === ALL_REASONS;
}

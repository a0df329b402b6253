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
 * CRL says nothing about certificates outside its partition.
 */
export function crlCovers(crl: ParsedCrl, cert: ParsedCert): boolean {
  const wanted = crl.distributionPointKeys;
  if (wanted === undefined) return true;
  for (const point of cert.extensions.crlDistributionPoints ?? []) {
    if (point.name === undefined || point.crlIssuer !== undefined) continue;
    for (const key of distributionPointKeys(point.name, cert.issuerName)) if (wanted.has(key)) return true;
  }
  return false;
}

import 'reflect-metadata';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  CRLDistributionPoints,
  Certificate,
  id_ad_ocsp,
  id_ce_cRLDistributionPoints,
  id_pe_authorityInfoAccess,
} from '@peculiar/asn1-x509';
import type { ParsedCert } from './cert-parse.js';

/** Where a certificate says its revocation status is published. */
export interface RevocationSources {
  /** OCSP responder URLs from authorityInfoAccess (RFC 5280 §4.2.2.1, id-ad-ocsp). */
  readonly ocsp: readonly string[];
  /** Full-name URIs of the cRLDistributionPoints (RFC 5280 §4.2.1.13). */
  readonly crl: readonly string[];
}

/** URLs longer than this are ignored: no real responder needs one, and they end up in logs. */
export const MAX_SOURCE_URL_LENGTH = 2048;

/** Distribution points or access descriptions read per certificate; real ones name one or two. */
const MAX_SOURCES = 8;

const sources = new WeakMap<ParsedCert, RevocationSources>();

/** Only plain http(s) URLs are used: RFC 5280 also allows ldap:, which bouncer does not fetch. */
export function isFetchableUrl(text: string): boolean {
  if (text.length > MAX_SOURCE_URL_LENGTH) return false;
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.username === '' && url.password === '';
  } catch {
    return false;
  }
}

/**
 * Reads the OCSP responder and CRL distribution point URLs of `cert`, keeping
 * http(s) URLs only. Distribution points with a cRLIssuer (indirect CRLs) or a
 * reasons subset are skipped: a CRL from them would not be complete for this
 * issuer (src/core/crl.ts refuses such CRLs too). Never throws: a malformed
 * extension yields no URLs. Remembered per parsed certificate.
 *
 * @example
 * ```ts
 * const { ocsp } = readRevocationSources(leaf); // ['http://ocsp.example.com']
 * ```
 */
export function readRevocationSources(cert: ParsedCert): RevocationSources {
  let found = sources.get(cert);
  if (found !== undefined) return found;
  const ocsp: string[] = [];
  const crl: string[] = [];
  try {
    for (const ext of AsnConvert.parse(cert.der, Certificate).tbsCertificate.extensions ?? []) {
      if (ext.extnID === id_pe_authorityInfoAccess) {
        for (const d of AsnConvert.parse(ext.extnValue.buffer, AuthorityInfoAccessSyntax).slice(0, MAX_SOURCES)) {
          const uri = d.accessLocation.uniformResourceIdentifier;
          if (d.accessMethod === id_ad_ocsp && uri !== undefined && isFetchableUrl(uri) && !ocsp.includes(uri)) ocsp.push(uri);
        }
      } else if (ext.extnID === id_ce_cRLDistributionPoints) {
        for (const dp of AsnConvert.parse(ext.extnValue.buffer, CRLDistributionPoints).slice(0, MAX_SOURCES)) {
          if (dp.cRLIssuer !== undefined || dp.reasons !== undefined) continue;
          for (const name of dp.distributionPoint?.fullName ?? []) {
            const uri = name.uniformResourceIdentifier;
            if (uri !== undefined && isFetchableUrl(uri) && !crl.includes(uri)) crl.push(uri);
          }
        }
      }
    }
  } catch {
    // A malformed extension names no source; path validation judges the certificate itself.
  }
  found = Object.freeze({ ocsp: Object.freeze(ocsp), crl: Object.freeze(crl) });
  sources.set(cert, found);
  return found;
}

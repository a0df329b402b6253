/**
 * PKITS cases where bouncer's verdict differs from PKITS's, with the verdict
 * bouncer gives, the reason code it reports and why. Deliberate differences
 * cite the RFC text that lets bouncer refuse; the few false accepts are
 * marked as such and are known gaps, not choices.
 */
export interface PkitsDeviation {
  readonly bouncer: 'valid' | 'invalid';
  /** Prefix of the outcome: a reason code, or `config` when the tenant's CRLs would not load. */
  readonly code?: string;
  readonly why: string;
}

const INDIRECT_CRL = 'bouncer refuses indirect CRLs (indirectCRL, certificateIssuer entries) at configuration load (RFC 5280 §5.2.5, §5.3.3): a tenant with this CRL does not load';
const DELTA_CRL = 'bouncer refuses delta CRLs at configuration load (RFC 5280 §5.2.4): a tenant with this CRL does not load';

export const PKITS_DEVIATIONS: Readonly<Record<string, PkitsDeviation>> = {
  '4.1.4': { bouncer: 'invalid', code: 'client_cert_weak_signature', why: 'SHA-1 signatures are refused whatever the key type (RFC 5280 leaves the algorithm policy to the relying party; RFC 9155 deprecates SHA-1 signatures)' },
  '4.1.5': { bouncer: 'invalid', code: 'client_cert_malformed', why: 'DSA keys whose parameters are inherited from the issuer (RFC 3279 §2.3.2) are not supported; bouncer verifies RSA, ECDSA and EdDSA' },
  '4.6.4': { bouncer: 'invalid', code: 'client_cert_ca_basic_constraints_not_critical', why: 'RFC 5280 §4.2.1.9: conforming CAs MUST mark basicConstraints critical in CA certificates; bouncer holds issuers to it (as OpenSSL does with -x509_strict)' },
  '4.6.8': { bouncer: 'invalid', code: 'client_cert_is_ca', why: 'the end-entity certificate is a CA certificate (cA true); a client certificate must not be a CA (bouncer\'s client-authentication rule)' },
  '4.6.14': { bouncer: 'invalid', code: 'client_cert_is_ca', why: 'the end-entity certificate is a CA certificate (cA true); a client certificate must not be a CA (bouncer\'s client-authentication rule)' },
  '4.8.6': { bouncer: 'invalid', code: 'client_cert_is_ca', why: 'the end-entity certificate is a CA certificate (cA true); a client certificate must not be a CA (bouncer\'s client-authentication rule)' },
  '4.14.13': { bouncer: 'invalid', code: 'client_cert_is_ca', why: 'the end-entity certificate is a CA certificate (cA true); a client certificate must not be a CA (bouncer\'s client-authentication rule)' },
  '4.14.22': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.24': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.25': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.28': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.29': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.30': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.14.33': { bouncer: 'invalid', code: 'config', why: INDIRECT_CRL },
  '4.15.2': { bouncer: 'invalid', code: 'config', why: DELTA_CRL },
  '4.15.5': { bouncer: 'invalid', code: 'config', why: DELTA_CRL },
  '4.15.7': { bouncer: 'invalid', code: 'config', why: DELTA_CRL },
  '4.15.8': { bouncer: 'invalid', code: 'config', why: DELTA_CRL },
};

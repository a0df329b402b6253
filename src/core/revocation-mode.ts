// A tenant's revocation settings: their own module because the tenant model
// (tenant.ts) holds them and the revocation view (revocation-policy.ts) reads tenants.

/**
 * How hard a tenant leans on a network revocation source (docs/config.md,
 * `mtls.revocation`): `off` never asks; `prefer` asks and lets a certificate
 * through when no trustworthy answer comes (soft-fail, counted and logged);
 * `require` denies without a trustworthy answer (hard-fail).
 */
export type RevocationMode = 'off' | 'prefer' | 'require';

/** A tenant's `mtls.revocation`, validated. */
export interface RevocationPolicy {
  readonly ocsp: RevocationMode;
  /** Responder used for every certificate instead of the one in its authorityInfoAccess. */
  readonly ocspUrl: string | undefined;
  /**
   * Send a nonce (RFC 8954) and require it echoed. Off for responders that
   * serve pre-signed answers (CDN-fronted public CAs), which never echo one;
   * freshness then rests on thisUpdate/nextUpdate alone.
   */
  readonly ocspNonce: boolean;
  readonly crl: RevocationMode;
  /** CRLs fetched from the start and kept fresh, whoever the client is. */
  readonly crlUrls: readonly string[];
  /** Also fetch the cRLDistributionPoints named by the certificates clients present. */
  readonly crlDistributionPoints: boolean;
  /**
   * Check the CA certificates of the path too, not only the leaf: each
   * certificate below the trust anchor against its issuer's fetched CRL and
   * its own OCSP responder, with the same modes. Absent means leaf only.
   */
  readonly intermediates?: boolean;
}

// Defaults and limits of client-certificate trust beyond the CA bundle: network
// revocation checks and certificate policy inputs. Re-exported by defaults.ts, the one
// place callers import defaults from.

/**
 * Defaults and limits of network revocation checks (`mtls.revocation`,
 * docs/config.md). Each value is explained where it is set.
 */
export const REVOCATION_DEFAULTS = {
  /** `mtls.revocation.ocsp` and `.crl` when not written: no network checks. */
  mode: 'off',
  /** `crl_distribution_points`: fetch the CRL a presented certificate names (when `crl` is not off). */
  crlDistributionPoints: true,
  /** `intermediates`: only the leaf is checked over the network; CA certificates rely on the tenant's CRL files. */
  intermediates: false,
  /** `ocsp_nonce`: send a nonce and require it echoed (RFC 8954). */
  ocspNonce: true,
  /** One OCSP exchange, connect to last byte; a first request under `require` waits at most this long. */
  ocspTimeoutMs: 2_000,
  /** Largest OCSP response read; real ones are 1–4 KB. */
  ocspMaxResponseBytes: 64 * 1024,
  /** Clock difference with a responder or CRL issuer tolerated on thisUpdate/nextUpdate (RFC 6960 §4.2.2.1 leaves it local). */
  clockSkewMs: 60_000,
  /** A response without nextUpdate is used this long after its thisUpdate. */
  ocspNoNextUpdateMaxAgeMs: 10 * 60_000,
  /** Longest an OCSP answer is kept, whatever its nextUpdate says. */
  ocspMaxCacheMs: 24 * 3_600_000,
  /** An answer is refreshed in the background, when its certificate is used, once this share of its lifetime has passed. */
  refreshAfterFraction: 0.75,
  /** After a failed exchange, the failure stands this long before the next try (a down responder is not hammered). */
  ocspRetryMs: 30_000,
  /** OCSP answers kept (one per tenant and certificate); the least recently used go first. */
  ocspMaxEntries: 100_000,
  /** OCSP exchanges in flight at once; beyond it a certificate counts as "no answer". */
  ocspMaxInFlight: 256,
  /** One CRL download. */
  crlTimeoutMs: 10_000,
  /** Largest CRL read (a CA with ~200,000 revoked certificates). */
  crlMaxBytes: 8 * 1024 * 1024,
  /** A CRL is fetched again at the latest this long after the last fetch, even when its nextUpdate is far. */
  crlMaxRefreshIntervalMs: 3_600_000,
  /** ... and at the earliest this long after (a nextUpdate in the past does not make a busy loop). */
  crlMinRefreshIntervalMs: 30_000,
  /** Retries after a failed download back off from crlMinRefreshIntervalMs up to this. */
  crlMaxRetryMs: 10 * 60_000,
  /** Distribution point URLs a tenant may accumulate from presented certificates. */
  crlMaxDistributionPoints: 16,
  /**
   * A failed OCSP exchange keeps its responder reported failing (readiness body,
   * admin API) this long unless a later exchange with it succeeds. Exchanges
   * only happen when certificates are used, so a responder nobody needs is not
   * reported failing for ever.
   */
  ocspFailingReportMs: 10 * 60_000,
  /** (tenant, responder) pairs whose last exchange is remembered for status reports. */
  ocspMaxRespondersTracked: 10_000,
  /** Tenants named one by one in the readiness body (the counts cover all of them). */
  statusMaxTenantsListed: 100,
  /** `crl_urls` of one tenant: each is a download kept fresh for ever; real CAs publish one or two. */
  crlMaxUrls: 16,
} as const;

export type RevocationSettings = { -readonly [K in keyof typeof REVOCATION_DEFAULTS]: (typeof REVOCATION_DEFAULTS)[K] extends string ? string : (typeof REVOCATION_DEFAULTS)[K] extends boolean ? boolean : number };

/**
 * `mtls.certificate_policies` (docs/config.md) when a key is not written: the relying-party
 * inputs of RFC 5280 §6.1.1 at their usual values, which are also what a
 * tenant without `mtls.certificate_policies` gets.
 */
export const CERT_POLICY_DEFAULTS = {
  /** user-initial-policy-set: anyPolicy, every policy is acceptable. */
  accept: ['2.5.29.32.0'],
  /** initial-explicit-policy: a path needs a valid policy only when a CA's policyConstraints ask for one. */
  explicit: false,
  /** initial-policy-mapping-inhibit: CAs' policyMappings are honoured. */
  inhibitMapping: false,
  /** initial-any-policy-inhibit: anyPolicy in a CA certificate stands for every policy. */
  inhibitAny: false,
} as const;

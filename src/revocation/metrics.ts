import { Counter, Gauge, type Registry } from 'prom-client';

/** Counters and gauges of network revocation checks; labels are tenant names and reason codes only. */
export interface RevocationMetrics {
  /** OCSP exchanges by outcome: good, revoked, unknown, or why no answer could be used. */
  readonly ocspResponses: Counter<'tenant' | 'result'>;
  /** Certificates let through without an OCSP answer under `ocsp: prefer`, by why (once per certificate and attempt, not per request). */
  readonly ocspSoftFail: Counter<'tenant' | 'reason'>;
  /** CRL downloads by outcome: updated, not_modified, or why the new CRL was refused. */
  readonly crlFetches: Counter<'tenant' | 'result'>;
  /** Certificates let through without a fetched CRL under `crl: prefer` (once per certificate and CRL state). */
  readonly crlSoftFail: Counter<'tenant' | 'reason'>;
  /** Fetched CRLs past their nextUpdate and not yet replaced: the alarm. */
  readonly crlStale: Gauge<'tenant'>;
}

/**
 * Registers the revocation metrics on `registry`. Call once per registry.
 *
 * @example
 * ```ts
 * const metrics = createRevocationMetrics(createMetrics().registry);
 * ```
 */
export function createRevocationMetrics(registry: Registry): RevocationMetrics {
  return {
    ocspResponses: new Counter({ name: 'bouncer_ocsp_responses_total', help: 'OCSP exchanges for client certificates, by outcome.', labelNames: ['tenant', 'result'], registers: [registry] }),
    ocspSoftFail: new Counter({
      name: 'bouncer_ocsp_soft_fail_total',
      help: 'Client certificates allowed without a usable OCSP answer under mtls.revocation.ocsp: prefer, by reason.',
      labelNames: ['tenant', 'reason'],
      registers: [registry],
    }),
    crlFetches: new Counter({ name: 'bouncer_crl_fetches_total', help: 'CRL downloads from distribution points or configured URLs, by outcome.', labelNames: ['tenant', 'result'], registers: [registry] }),
    crlSoftFail: new Counter({
      name: 'bouncer_crl_soft_fail_total',
      help: 'Client certificates allowed without a fetched CRL under mtls.revocation.crl: prefer, by reason.',
      labelNames: ['tenant', 'reason'],
      registers: [registry],
    }),
    crlStale: new Gauge({ name: 'bouncer_crl_stale', help: 'Fetched CRLs past their nextUpdate that could not be refreshed (alarm when above 0).', labelNames: ['tenant'], registers: [registry] }),
  };
}

// Defaults and limits of customer hostnames (their certificates and ACME) and of
// tracing. Re-exported by defaults.ts, the one place callers import defaults from.

/** ACME challenge types bouncer can answer: HTTP-01 (RFC 8555 §8.3) and TLS-ALPN-01 (RFC 8737). */
export const ACME_CHALLENGE_TYPES = ['http-01', 'tls-alpn-01'] as const;
export type AcmeChallengeType = (typeof ACME_CHALLENGE_TYPES)[number];

/** Defaults and limits of customer hostnames and their certificates (docs/hostnames.md). */
export const HOSTNAME_DEFAULTS = {
  /** Environment variable holding the key-encryption keyring when no hostnames.kek_file is set. */
  kekEnv: 'BOUNCER_HOSTNAME_KEK',
  /** Renew when this fraction of the certificate's lifetime has passed (Let's Encrypt's 60 of 90 days). */
  renewAtFraction: 2 / 3,
  /** How often a replica looks for hostnames due for work (validation, renewal, retry). */
  workerIntervalMs: 10_000,
  /**
   * Work due within this long after a save (a short-lived certificate's renewal, a retry) gets a
   * wake-up of its own, so it starts on time rather than up to a worker interval late; later work
   * is found by the periodic look. Bounds the timers one replica holds.
   */
  wakeWithinMs: 3_600_000,
  /** Hostnames one replica takes per look; the rest wait for the next look or another replica. */
  workerBatch: 10,
  /** How long a replica holds a hostname it works on; another replica takes over after that (a crash mid-order). */
  leaseMs: 5 * 60_000,
  /** First retry after an ACME failure; doubled per failure up to retryMaxMs. */
  retryInitialMs: 60_000,
  retryMaxMs: 6 * 3_600_000,
  /** A Retry-After longer than this is capped (a CA asking for a week is asked again after a day). */
  retryAfterMaxMs: 24 * 3_600_000,
  /** A key authorization is served this long after it was stored, then forgotten. */
  challengeTtlMs: 60 * 60_000,
  /**
   * ACME challenge types bouncer answers, in preference order (`hostnames.acme.challenges`).
   * HTTP-01 only by default: TLS-ALPN-01 also needs Envoy's `bouncer_acme_tls` cluster and
   * bouncer's responder reachable, which a deployment turns on knowingly.
   */
  challenges: ['http-01'] as readonly AcmeChallengeType[],
  /**
   * bouncer's TLS-ALPN-01 responder (`hostnames.acme.tls_alpn_listen`): Envoy's front
   * listener hands it raw TLS connections offering ALPN `acme-tls/1`. Loopback by default,
   * like the web service; next to Envoy's 8443.
   */
  tlsAlpnListen: { host: '127.0.0.1', port: 8444 },
  /** Validation certificates one replica keeps built (one per pending TLS-ALPN-01 challenge). */
  tlsAlpnCacheMax: 1_000,
  /** A TLS-ALPN-01 connection that has not finished its handshake by then is closed. */
  tlsAlpnHandshakeTimeoutMs: 10_000,
  /** Polling of an order or challenge the CA is still working on: first wait, longest wait, number of polls. */
  pollMinMs: 1_000,
  pollMaxMs: 10_000,
  pollAttempts: 12,
  /** Upload limits: the PEM chain and key together. */
  maxUploadBytes: 256 * 1024,
  maxChainCertificates: 10,
  minRsaBits: 2048,
  listDefault: 100,
  listMax: 1_000,
  /** Key type of keys bouncer generates for ACME certificates. */
  certificateKey: 'ec-p256',
  /** The NOTIFY channel replicas hear each other's hostname changes on. */
  channel: 'bouncer_hostnames',
} as const;

/**
 * OpenTelemetry tracing (src/observability/tracing.ts), on when an OTLP
 * endpoint is set in the standard OTEL_* variables. The exporter reads its
 * own OTEL_EXPORTER_OTLP_* settings (headers, timeout, compression).
 */
export const TRACING_DEFAULTS = {
  /** `service.name` unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: 'bouncer',
  /** The SDK's default sampler, as the OpenTelemetry spec names it (OTEL_TRACES_SAMPLER). */
  sampler: 'parentbased_always_on',
  /** Spans waiting for export; beyond this they are dropped rather than grow memory under load. */
  maxQueueSize: 4096,
  maxExportBatchSize: 512,
  /** How often a batch leaves, at the latest. */
  scheduledDelayMs: 1000,
  /** What shutdown waits for the last batch. */
  shutdownTimeoutMs: 5000,
} as const;

// Defaults of what bouncer gives Envoy: the rendered static bootstrap and the xDS
// server. Re-exported by defaults.ts, the one place callers import defaults from.

/** Defaults of `bouncer envoy render` (docs/envoy.md); flags override each. */
export const ENVOY_RENDER_DEFAULTS = {
  /** The tenants' TLS listener, on every interface: it is the public edge. */
  listenHost: '0.0.0.0',
  listenPort: 8443,
  /** Envoy's admin interface can reconfigure and stop Envoy: loopback only. */
  adminHost: '127.0.0.1',
  adminPort: 9901,
  /** bouncer's ext_authz server, beside Envoy (CONFIG_DEFAULTS.listen.authz). */
  authzHost: '127.0.0.1',
  authzPort: 9001,
  /** One bouncer process; `bouncer serve --workers N` needs N here too. */
  authzWorkers: 1,
  /** The protected app. */
  upstreamHost: '127.0.0.1',
  upstreamPort: 8081,
  serverCertPath: '/etc/envoy/certs/server.pem',
  serverKeyPath: '/etc/envoy/certs/server.key',
  /** A warm check takes well under a millisecond; 500 ms bounds a stuck one, and Envoy then denies (failure_mode_allow: false). */
  authzTimeoutMs: 500,
  /** What Envoy answers when bouncer cannot be asked: unavailable, not forbidden, so clients retry. */
  statusOnError: 503,
} as const;

/** Defaults of the `xds` section (docs/config.md, "xds"; docs/xds.md). */
export const XDS_DEFAULTS = {
  /** bouncer's ADS server: Envoy beside it dials this; loopback unless Envoy runs elsewhere. */
  listen: { host: '127.0.0.1', port: 18000 },
  /** The public TLS listener bouncer configures in Envoy for every customer hostname. */
  envoyListen: { host: '0.0.0.0', port: 8443 },
  /** Plain HTTP listener for ACME HTTP-01 challenges (and a redirect to HTTPS for the rest). */
  envoyHttpListen: { host: '0.0.0.0', port: 8080 },
  /**
   * Resources per xDS response. Bounds one message (secrets are a few KB each) and the
   * blast radius of a NACK: a rejected response is split in halves until the bad
   * resource stands alone, about log2 of this many rounds.
   */
  maxResourcesPerResponse: 500,
  /**
   * Secrets per response: one. Envoy stores a secret before it builds the TLS context
   * from it, so a refused secret sent again is not refused again (same content): only
   * a response of its own names the bad one. A certificate change is one secret anyway.
   */
  maxSecretsPerResponse: 1,
  /** Rejected resources remembered for the status view; the oldest are forgotten past this. */
  maxRejectedShown: 1000,
  /** Envoy's node cluster in the rendered bootstrap. */
  nodeCluster: 'bouncer-edge',
  /** bouncer's ADS server as the bootstrap names it. */
  clusterName: 'bouncer_xds',
  /**
   * Hostnames as SNI filter chains of the public listener (`chains`), the measured and
   * end-to-end tested layout; `internal` (one cluster and internal listener per
   * hostname, O(1) per added hostname) is chosen explicitly.
   */
  listenerMode: 'chains',
  /**
   * Internal mode: connections at once through one hostname's cluster. Envoy's default
   * circuit breaker (1,024) would refuse a busy hostname's clients where the chains mode
   * has no such limit; the listener's own connection limits still apply.
   */
  internalHopMaxConnections: 1_000_000,
} as const;

/** Paths of the login service that Envoy forwards to bouncer on the auth domain. */
export const AUTH_ROUTES: ReadonlyArray<{ readonly path?: string; readonly prefix?: string }> = [
  { path: '/' },
  { path: '/login' },
  { prefix: '/login/' },
  { prefix: '/callback/' },
  { path: '/logout' },
  { path: '/me' },
  { path: '/.well-known/jwks.json' },
  { prefix: '/saml/' },
  { prefix: '/oidc/' },
  { prefix: '/assets/' },
];

/**
 * How Envoy retries an ext_authz check that did not reach a replica (connection refused
 * or reset, stream refused while draining, UNAVAILABLE), in the static config and on
 * every xDS chain alike: a check is a read, safe to repeat, never on the replica that
 * just failed. The back-off's maximum is the call's timeout (Envoy takes the per-try
 * timeout from it), so a slow answer is waited for, never cut short to retry.
 */
export const AUTHZ_RETRY = {
  retryOn: 'connect-failure,refused-stream,reset,unavailable',
  numRetries: 2,
  baseIntervalMs: 10,
  hostPredicate: 'envoy.retry_host_predicates.previous_hosts',
  hostPredicateType: 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate',
  hostSelectionRetryMaxAttempts: 5,
} as const;

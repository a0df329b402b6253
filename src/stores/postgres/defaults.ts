/**
 * Every default of the PostgreSQL tenant store, each with the reason it is what
 * it is. Options passed to `createPgTenantStore` override these one by one.
 */
export const PG_STORE_DEFAULTS = {
  /** NOTIFY channel for tenant changes; one per deployment sharing a database. */
  channel: 'bouncer_tenants',
  cache: {
    /**
     * Hosts with a parsed tenant kept in memory. A parsed tenant with one CA is
     * a few kilobytes, so 10,000 is tens of MB at most, and covers the tenants
     * that are actually being used at any moment on one replica.
     */
    maxEntries: 10_000,
    /** Unknown hosts remembered, so a scan of random names costs one query per name per TTL, not per request. */
    negativeMaxEntries: 10_000,
    /**
     * Short: NOTIFY evicts a newly added host anyway, so this only bounds how long
     * a missed notification could keep a new tenant unknown.
     */
    negativeTtlMs: 5_000,
    /** Parsed CA bundles by hash; tenants that share a CA share one parse. */
    parsedBundles: 1_000,
  },
  pool: {
    /** Lookups are single short queries; a few connections per replica are plenty. */
    max: 10,
    /** Within Envoy's usual ext_authz timeout, so an unreachable server turns into a denial, not a timed-out check. */
    connectionTimeoutMillis: 2_000,
    /** Same reason: a hung query must not hold a check past its deadline. */
    queryTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
  },
  reconnect: {
    /** First retry soon: a restarted server or a failover is usually back within a second. */
    initialDelayMs: 100,
    /** Capped so recovery is noticed within seconds without hammering a server that is down. */
    maxDelayMs: 5_000,
  },
  /**
   * The LISTEN connection is pinged this often, so a connection that died without
   * a TCP reset (a partition, a NAT dropping state) is noticed within seconds
   * rather than after the kernel's keepalive, which defaults to hours.
   */
  pingIntervalMs: 5_000,
} as const;

/**
 * The PostgreSQL tenant store, assembled: the pool, the health the listener
 * reports, the cache in front of lookups. The parts: schema (`migrations.ts`),
 * SQL and row mapping (`tenant-rows.ts`), host lookups and the post-outage
 * re-check (`host-lookup.ts`), admin reads (`tenant-reads.ts`) and writes
 * (`tenant-writes.ts`), change notifications (`change-payload.ts`,
 * `change-listener.ts`), the cache (`tenant-cache.ts`).
 */
import pg from 'pg';
import type { TenantChange, TenantLookup, TenantStore, TenantStoreHealth } from '../tenant-store.js';
import { CONFIG_LIMITS, PG_STORE_DEFAULTS } from '../../config/defaults.js';
import type { Tenant } from '../../core/tenant.js';
import { ChangeListener } from './change-listener.js';
import { parsePayload } from './change-payload.js';
import { loadHost, resyncCache, unavailable } from './host-lookup.js';
import { runMigrations, type MigrationResult } from './migrations.js';
import { guardPoolConnections } from './pool-guard.js';
import { SILENT_LOGGER, type StoreLogger } from './store-logger.js';
import { TenantCache } from './tenant-cache.js';
import { getTenant, judgeWith, listTenants } from './tenant-reads.js';
import { TenantParser } from './tenant-rows.js';
import { createTenantWriter } from './tenant-writes.js';

export type { StoreLogger } from './store-logger.js';

export interface PgTenantStoreOptions {
  /** Where the database is: host, port, user, database, password, ssl… (node-postgres client settings). */
  readonly connection: pg.ClientConfig;
  /**
   * A pool to run queries on, when the caller shares one between stores; the
   * store then leaves closing it to the caller. Default: a pool of its own.
   */
  readonly pool?: pg.Pool | undefined;
  readonly channel?: string | undefined;
  readonly cache?: Partial<{ maxEntries: number; negativeMaxEntries: number; negativeTtlMs: number; parsedBundles: number }> | undefined;
  readonly reconnect?: Partial<{ initialDelayMs: number; maxDelayMs: number }> | undefined;
  readonly pingIntervalMs?: number | undefined;
  /** The clock that decides whether an uploaded CA is expired; Date.now by default. */
  readonly now?: (() => number) | undefined;
  readonly logger?: StoreLogger | undefined;
}

/** A {@link TenantStore} backed by PostgreSQL, with what operators and tests need to see inside. */
export interface PgTenantStore extends TenantStore {
  /** What the start-up migration did. */
  readonly migrations: MigrationResult;
  /** Cache occupancy: `size` never exceeds `max`, whatever the number of tenants. */
  cacheStats(): { readonly size: number; readonly max: number; readonly unknownSize: number };
  /** The tenants this replica has loaded (its cache), one per name: what its trust status counts cover. */
  loadedTenants(): Tenant[];
}

/**
 * Opens a PostgreSQL tenant store: runs the schema migrations, starts
 * listening for changes, and returns once it can serve. Throws
 * `ERR_STORE_MIGRATION` or the connection error when the database cannot be
 * reached at start: a replica should not start half-configured.
 *
 * Lookups read through a bounded cache keyed by host, with short-lived
 * negative entries for unknown hosts; a cold tenant is loaded and parsed on
 * first use in one query. Every write sends a NOTIFY in its transaction, and
 * every replica evicts what the change touched as soon as it arrives. When the
 * database is unreachable, cached tenants keep being served, any other host
 * (a remembered absence included) gets `store_unavailable`, and `health()` says so; the store reconnects
 * by itself, re-checks every cached entry against the database (changes made
 * meanwhile were not notified to it) and forgets its cached absences.
 *
 * @example
 * ```ts
 * const tenants = await createPgTenantStore({ connection: { connectionString: process.env.DATABASE_URL }, logger });
 * const found = await tenants.resolveHost('pay.acme.example');
 * await tenants.close();
 * ```
 */
export async function createPgTenantStore(options: PgTenantStoreOptions): Promise<PgTenantStore> {
  const logger = options.logger ?? SILENT_LOGGER;
  const now = options.now ?? Date.now;
  const channel = options.channel ?? PG_STORE_DEFAULTS.channel;
  const cacheOptions = { ...PG_STORE_DEFAULTS.cache, ...options.cache };
  const ownPool = options.pool === undefined;
  const pool =
    options.pool ??
    new pg.Pool({
      max: PG_STORE_DEFAULTS.pool.max,
      connectionTimeoutMillis: PG_STORE_DEFAULTS.pool.connectionTimeoutMillis,
      query_timeout: PG_STORE_DEFAULTS.pool.queryTimeoutMillis,
      idleTimeoutMillis: PG_STORE_DEFAULTS.pool.idleTimeoutMillis,
      keepAlive: true,
      application_name: 'bouncer',
      ...options.connection,
    });
  // An idle pooled connection that dies emits here; without a listener that kills the process.
  const onPoolError = (err: Error): void => {
    if (!closed) logger.warn({ err }, 'tenant store: idle database connection lost');
  };
  pool.on('error', onPoolError);
  const unguard = guardPoolConnections(pool, (err) => {
    if (!closed) logger.warn({ err: { message: err.message } }, 'tenant store: database connection lost');
  });

  const cache = new TenantCache(cacheOptions);
  const parser = new TenantParser(cacheOptions.parsedBundles, now, CONFIG_LIMITS.minRsaBits);
  const listeners = new Set<(change: TenantChange) => void>();
  const inflight = new Map<string, Promise<TenantLookup>>();
  let health: TenantStoreHealth = { healthy: false, since: Date.now(), reason: 'starting' };
  let closed = false;

  const setHealth = (healthy: boolean, reason: string | undefined): void => {
    if (health.healthy === healthy && health.reason === reason) return;
    health = { healthy, since: Date.now(), reason };
    if (healthy) logger.info({}, 'tenant store: database reachable, listening for changes');
    else logger.warn({ reason }, 'tenant store: database unavailable; serving cached tenants only');
  };

  const emit = (change: TenantChange): void => {
    for (const l of listeners) {
      try {
        l(change);
      } catch (err) {
        logger.error({ err }, 'tenant store: change listener threw');
      }
    }
  };

  const listener = new ChangeListener({
    connection: { keepAlive: true, application_name: 'bouncer-listen', ...options.connection, query_timeout: PG_STORE_DEFAULTS.pool.queryTimeoutMillis },
    channel,
    reconnect: { ...PG_STORE_DEFAULTS.reconnect, ...options.reconnect },
    pingIntervalMs: options.pingIntervalMs ?? PG_STORE_DEFAULTS.pingIntervalMs,
    onNotify(text) {
      const payload = parsePayload(text);
      if (payload === undefined) {
        // Something we cannot read may have changed anything: start cold rather than serve it wrong.
        logger.warn({ channel }, 'tenant store: unreadable change notification; clearing the cache');
        cache.clear();
        emit({ kind: 'resync' });
        return;
      }
      cache.evictTenant(payload.t, payload.h);
      emit({ kind: 'tenant', name: payload.t, hostnames: payload.h });
    },
    async onUp(first) {
      if (!first) await resyncCache(pool, cache);
      setHealth(true, undefined);
      if (!first) emit({ kind: 'resync' });
    },
    onDown(err) {
      setHealth(false, err.message);
    },
  });

  /** A lookup or write found the database gone: stop trusting it until the listener is back and has resynchronised. */
  const markDown = (err: Error): void => {
    setHealth(false, err.message);
    listener.restart(err);
  };

  let migrations: MigrationResult;
  try {
    migrations = await runMigrations(pool);
    if (migrations.unknown.length > 0) logger.warn({ versions: migrations.unknown }, 'tenant store: database has schema versions this build does not know (a newer replica migrated it)');
    await listener.start();
  } catch (err) {
    await listener.close();
    pool.off('error', onPoolError);
    unguard();
    if (ownPool) await pool.end().catch(() => undefined);
    throw err;
  }

  const load = (host: string): Promise<TenantLookup> => loadHost({ pool, cache, parser, logger, healthy: () => health.healthy, markDown }, host);

  const judge = judgeWith(parser, now);
  const writer = createTenantWriter({
    judge,
    pool,
    channel,
    now,
    closed: () => closed,
    markDown,
    afterWrite: (name, hostnames) => cache.evictTenant(name, hostnames),
  });

  const store: PgTenantStore = {
    migrations,

    peekHost(host) {
      if (closed) return unavailable('tenant store is closed');
      if (host === '') return { kind: 'unknown' };
      const hit = cache.get(host);
      if (hit) return { kind: 'tenant', tenant: hit.tenant };
      // An absence is remembered only while notifications arrive; while the
      // database is known to be down, a tenant may have been added unheard, so a
      // remembered absence is no proof and the host gets store_unavailable.
      if (health.healthy && cache.isKnownUnknown(host)) return { kind: 'unknown' };
      return undefined;
    },

    async resolveHost(host) {
      const known = store.peekHost(host);
      if (known) return known;
      // While the database is unreachable, asking it again per request would add a
      // connect timeout to every check; the listener's reconnect decides recovery.
      if (!health.healthy) return unavailable(`tenant database unavailable: ${health.reason ?? 'reconnecting'}`);
      // One query per host however many requests wait for it.
      let pending = inflight.get(host);
      if (!pending) {
        pending = load(host).finally(() => inflight.delete(host));
        inflight.set(host, pending);
      }
      return pending;
    },

    getTenant: (name) => getTenant(pool, name, judge),
    listTenants: (opts) => listTenants(pool, opts),
    putTenant: writer.putTenant,
    deleteTenant: writer.deleteTenant,
    addHostname: writer.addHostname,
    removeHostname: writer.removeHostname,

    onChange(l) {
      listeners.add(l);
      return () => {
        listeners.delete(l);
      };
    },

    health: () => health,

    loadedTenants: () => cache.tenants(),

    cacheStats() {
      const s = cache.stats();
      return { size: s.size, max: s.max, unknownSize: s.unknownSize };
    },

    async close() {
      if (closed) return;
      closed = true;
      setHealth(false, 'closed');
      listeners.clear();
      await listener.close();
      // The error listener stays: a connection killed while the pool shuts down (or
      // after, by a server restart) would otherwise be an unhandled 'error' event.
      // Connections already open keep their guard; a caller's pool stops getting new ones.
      unguard();
      if (ownPool) await pool.end();
    },
  };
  return store;
}

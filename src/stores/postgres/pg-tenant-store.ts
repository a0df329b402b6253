import pg from 'pg';
import {
  TenantStoreError,
  checkHostname,
  checkTenantInput,
  type ListTenantsOptions,
  type PutCondition,
  type PutTenantResult,
  type TenantChange,
  type TenantInput,
  type TenantLookup,
  type TenantPage,
  type TenantRecord,
  type TenantStore,
  type TenantStoreHealth,
} from '../tenant-store.js';
import { CONFIG_LIMITS } from '../../config/defaults.js';
import type { Tenant } from '../../core/tenant.js';
import { ChangeListener } from './change-listener.js';
import { PG_STORE_DEFAULTS, TENANT_LIMITS } from '../../config/defaults.js';
import { runMigrations, type MigrationResult } from './migrations.js';
import { isConnectionError, isUniqueViolation, toStoreError } from './pg-errors.js';
import { guardPoolConnections } from './pool-guard.js';
import { TenantCache } from './tenant-cache.js';
import { SQL, TenantParser, toMode, toRecord, type HostRow, type OwnerRow, type SummaryRow, type TenantRow } from './tenant-rows.js';

/** The part of a pino logger the store uses. */
export interface StoreLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

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

const SILENT: StoreLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Below PostgreSQL's 8000-byte NOTIFY payload limit, with room for the JSON around the names. */
const NOTIFY_CHUNK_BYTES = 7_000;

/** The NOTIFY payload: a tenant name and some of its hostnames (old and new). */
interface ChangePayload {
  readonly t: string;
  readonly h: readonly string[];
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
  const logger = options.logger ?? SILENT;
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

  const applyChange = (payload: ChangePayload): void => cache.evictTenant(payload.t, payload.h);

  /**
   * After an outage, notifications sent meanwhile are gone. Every cached host is
   * checked against the database in one query: entries whose owner or version
   * changed are dropped, and every cached absence is forgotten.
   */
  const resync = async (): Promise<void> => {
    const snapshot = cache.snapshot();
    if (snapshot.length > 0) {
      const keys = new Set<string>();
      for (const e of snapshot) {
        keys.add(e.host);
        const w = wildcardOf(e.host);
        if (w !== undefined) keys.add(w);
      }
      const rows = (await pool.query<OwnerRow>(SQL.owners, [[...keys]])).rows;
      const owners = new Map(rows.map((r) => [r.hostname, r]));
      for (const e of snapshot) {
        const w = wildcardOf(e.host);
        const owner = owners.get(e.host) ?? (w === undefined ? undefined : owners.get(w));
        if (!owner || owner.name !== e.name || Number(owner.version) !== e.version) cache.evictHost(e.host);
      }
    }
    cache.clearUnknown();
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
      applyChange(payload);
      emit({ kind: 'tenant', name: payload.t, hostnames: payload.h });
    },
    async onUp(first) {
      if (!first) await resync();
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

  const unavailable = (detail: string): TenantLookup => ({ kind: 'store_unavailable', detail });

  const load = async (host: string): Promise<TenantLookup> => {
    const epoch = cache.epoch;
    const wildcard = wildcardOf(host);
    let rows: HostRow[];
    try {
      rows = (await pool.query<HostRow>(SQL.lookupHost, [wildcard === undefined ? [host] : [host, wildcard]])).rows;
    } catch (err) {
      if (isConnectionError(err)) {
        markDown(err as Error);
        return unavailable(`tenant database unavailable: ${(err as Error).message}`);
      }
      logger.error({ err, host }, 'tenant store: lookup failed');
      return unavailable('tenant lookup failed');
    }
    // RFC 6125 §6.4.3 as in resolveTenant: an exact name wins over a wildcard.
    const row = rows.find((r) => r.hostname === host) ?? rows.find((r) => r.hostname === wildcard);
    if (!row) {
      // Only a store that is receiving notifications may remember an absence:
      // otherwise the tenant could be added and we would never hear of it.
      if (health.healthy) cache.setUnknown(host, epoch);
      return { kind: 'unknown' };
    }
    const version = Number(row.version);
    let tenant = cache.findParsed(row.name, version);
    if (!tenant) {
      try {
        tenant = parser.toTenant(row);
      } catch (err) {
        logger.error({ err, tenant: row.name }, 'tenant store: stored tenant does not parse');
        return unavailable(`stored tenant ${row.name} does not parse`);
      }
      const problems = tenant.mtls.trust?.problems ?? [];
      // Told once per load of the tenant (a cold load or a change), not per request.
      if (problems.length > 0) {
        logger.warn(
          { tenant: row.name, status: tenant.mtls.trust?.roots.length === 0 ? 'unusable' : 'degraded', problems: problems.map((p) => `${p.code}: ${p.message}`) },
          'tenant store: tenant trust data has unusable parts; only this tenant is affected',
        );
      }
    }
    cache.set(host, { tenant, version }, epoch);
    return { kind: 'tenant', tenant };
  };

  /** Runs `work` in a transaction on one pooled connection; connection failures become `ERR_STORE_UNAVAILABLE`. */
  const transaction = async <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    if (closed) throw new TenantStoreError('ERR_STORE_UNAVAILABLE', 'tenant store is closed');
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      markDown(err instanceof Error ? err : new Error(String(err)));
      throw toStoreError(err, true);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (isConnectionError(err)) {
        broken = err as Error;
        markDown(broken);
      }
      throw toStoreError(err);
    } finally {
      // A connection that failed must not go back to the pool for the next caller.
      client.release(broken);
    }
  };

  /** Queues the change for every replica (this one included) at commit, in chunks under the payload limit. */
  const notify = async (client: pg.PoolClient, name: string, hostnames: Iterable<string>): Promise<void> => {
    await client.query(SQL.notify, [channel, chunkPayloads(name, [...new Set(hostnames)])]);
  };

  /** This replica's own writes take effect here at once, not a NOTIFY round trip later. */
  const afterWrite = (name: string, hostnames: Iterable<string>): void => applyChange({ t: name, h: [...new Set(hostnames)] });

  const readRecord = async (client: pg.PoolClient | pg.Pool, name: string): Promise<TenantRecord | undefined> => {
    const row = (await client.query<TenantRow>(SQL.getTenant, [name])).rows[0];
    return row ? toRecord(row) : undefined;
  };

  const lockTenant = async (client: pg.PoolClient, name: string): Promise<string[]> => {
    if ((await client.query(SQL.lockTenant, [name])).rowCount === 0) {
      throw new TenantStoreError('ERR_TENANT_NOT_FOUND', `no tenant named '${name}'`, { field: 'name' });
    }
    return (await client.query<{ hostname: string }>(SQL.hostnamesOf, [name])).rows.map((r) => r.hostname);
  };

  const mustRead = async (client: pg.PoolClient, name: string): Promise<TenantRecord> => {
    const record = await readRecord(client, name);
    if (!record) throw new TenantStoreError('ERR_TENANT_NOT_FOUND', `no tenant named '${name}'`, { field: 'name' });
    return record;
  };

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

    async getTenant(name) {
      try {
        return await readRecord(pool, name);
      } catch (err) {
        throw toStoreError(err);
      }
    },

    async listTenants(opts: ListTenantsOptions = {}): Promise<TenantPage> {
      const limit = opts.limit ?? TENANT_LIMITS.listDefault;
      if (!Number.isInteger(limit) || limit < 1 || limit > TENANT_LIMITS.listMax) {
        throw new TenantStoreError('ERR_TENANT_INVALID', `limit: must be a whole number from 1 to ${TENANT_LIMITS.listMax}; got ${String(limit)}`, { field: 'limit' });
      }
      let rows: SummaryRow[];
      try {
        // One extra row says whether there is a next page without a count(*).
        rows = (await pool.query<SummaryRow>(SQL.listTenants, [opts.after ?? null, limit + 1])).rows;
      } catch (err) {
        throw toStoreError(err);
      }
      const page = rows.slice(0, limit);
      return {
        items: page.map((r) => ({ name: r.name, hostnames: r.hostnames, mode: toMode(r.mtls_mode), version: Number(r.version) })),
        next: rows.length > limit ? page[page.length - 1]?.name : undefined,
      };
    },

    async putTenant(input: TenantInput, condition?: PutCondition): Promise<PutTenantResult> {
      const checked = checkTenantInput(input, now());
      const touched = new Set(checked.hostnames);
      const result = await transaction(async (client) => {
        if (condition) {
          // Locks the row when it exists; a concurrent first insert of the same name waits on the unique index below.
          const found = (await client.query<{ version: string }>('SELECT version::text AS version FROM tenants WHERE name = $1 FOR UPDATE', [checked.name])).rows[0];
          if ('absent' in condition && found) throw new TenantStoreError('ERR_TENANT_CONFLICT', `tenant '${checked.name}' already exists`, { field: 'name' });
          if ('version' in condition && (!found || Number(found.version) !== condition.version)) {
            throw new TenantStoreError(
              'ERR_TENANT_CONFLICT',
              found ? `tenant '${checked.name}' changed meanwhile (version ${found.version}, this change was made on version ${condition.version}); read it again and retry` : `tenant '${checked.name}' was deleted meanwhile`,
              { field: 'name' },
            );
          }
        }
        const up = await client.query<{ created: boolean }>(SQL.upsertTenant, [checked.name, checked.mode, checked.staleCrl, checked.exemptPaths]);
        // Two creates racing past the check above: the second one's upsert replaced the first; refuse it instead.
        if (condition && 'absent' in condition && up.rows[0]?.created !== true) throw new TenantStoreError('ERR_TENANT_CONFLICT', `tenant '${checked.name}' already exists`, { field: 'name' });
        const previous = (await client.query<{ hostname: string }>(SQL.hostnamesOf, [checked.name])).rows.map((r) => r.hostname);
        for (const h of previous) touched.add(h);
        const taken = (await client.query<{ hostname: string; tenant_name: string }>(SQL.takenHostnames, [checked.hostnames, checked.name])).rows[0];
        if (taken) throw hostnameTaken(taken.hostname, taken.tenant_name);
        await client.query(SQL.dropOtherHostnames, [checked.name, checked.hostnames]);
        await insertHostnames(client, checked.name, checked.hostnames, previous);
        await client.query(SQL.deleteCa, [checked.name]);
        if (checked.caPem !== null) await client.query(SQL.insertCa, [checked.name, checked.caPem, checked.caSha256]);
        await client.query(SQL.deleteCrls, [checked.name]);
        if (checked.crlPems.length > 0) await client.query(SQL.insertCrls, [checked.name, checked.crlPems]);
        await notify(client, checked.name, touched);
        return { record: await mustRead(client, checked.name), created: up.rows[0]?.created === true, warnings: checked.warnings };
      });
      afterWrite(checked.name, touched);
      return result;
    },

    async deleteTenant(name) {
      const hostnames = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        await client.query(SQL.deleteTenant, [name]);
        await notify(client, name, previous);
        return previous;
      });
      afterWrite(name, hostnames);
    },

    async addHostname(name, hostname) {
      const host = checkHostname(hostname);
      const record = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        if (previous.includes(host)) return mustRead(client, name);
        if (previous.length >= TENANT_LIMITS.maxHostnames) {
          throw new TenantStoreError('ERR_TENANT_INVALID', `hostnames: at most ${TENANT_LIMITS.maxHostnames} hostnames; use a wildcard`, { field: 'hostnames' });
        }
        const taken = (await client.query<{ hostname: string; tenant_name: string }>(SQL.takenHostnames, [[host], name])).rows[0];
        if (taken) throw hostnameTaken(taken.hostname, taken.tenant_name);
        await insertHostnames(client, name, [host], previous);
        await client.query(SQL.bumpVersion, [name]);
        await notify(client, name, [host]);
        return mustRead(client, name);
      });
      afterWrite(name, [host]);
      return record;
    },

    async removeHostname(name, hostname) {
      const host = checkHostname(hostname);
      const record = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        if (!previous.includes(host)) {
          throw new TenantStoreError('ERR_HOSTNAME_NOT_FOUND', `tenant '${name}' has no hostname '${host}'`, { field: 'hostname' });
        }
        if (previous.length === 1) {
          throw new TenantStoreError('ERR_TENANT_INVALID', `hostname: '${host}' is the last hostname of tenant '${name}'; delete the tenant instead`, { field: 'hostname' });
        }
        await client.query(SQL.deleteHostname, [name, host]);
        await client.query(SQL.bumpVersion, [name]);
        await notify(client, name, [host]);
        return mustRead(client, name);
      });
      afterWrite(name, [host]);
      return record;
    },

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

/** Inserts the names not already owned; a concurrent claim by another tenant surfaces as `ERR_HOSTNAME_TAKEN`. */
async function insertHostnames(client: pg.PoolClient, name: string, hostnames: readonly string[], owned: readonly string[]): Promise<void> {
  try {
    await client.query(SQL.insertHostnames, [name, hostnames, owned]);
  } catch (err) {
    if (isUniqueViolation(err)) throw hostnameTaken(undefined, undefined, err);
    throw err;
  }
}

function hostnameTaken(hostname: string | undefined, owner: string | undefined, cause?: unknown): TenantStoreError {
  const message =
    hostname === undefined
      ? 'hostnames: one of the hostnames was just taken by another tenant'
      : `hostnames: '${hostname}' already belongs to tenant '${owner ?? 'another tenant'}'; remove it there first`;
  return new TenantStoreError('ERR_HOSTNAME_TAKEN', message, { field: 'hostnames', ...(owner === undefined ? {} : { owner }), cause });
}

/** `a.b.example` → `*.b.example`, the only wildcard that can cover it; undefined for a single label. */
function wildcardOf(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? `*.${host.slice(dot + 1)}` : undefined;
}

/** Splits a change into NOTIFY payloads under the size limit; a change with no hostnames still sends one. */
export function chunkPayloads(name: string, hostnames: readonly string[]): string[] {
  const out: string[] = [];
  let chunk: string[] = [];
  let size = name.length + 32;
  for (const h of hostnames) {
    if (chunk.length > 0 && size + h.length + 3 > NOTIFY_CHUNK_BYTES) {
      out.push(JSON.stringify({ t: name, h: chunk } satisfies ChangePayload));
      chunk = [];
      size = name.length + 32;
    }
    chunk.push(h);
    size += h.length + 3;
  }
  out.push(JSON.stringify({ t: name, h: chunk } satisfies ChangePayload));
  return out;
}

function parsePayload(text: string): ChangePayload | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { t, h } = value as { t?: unknown; h?: unknown };
    if (typeof t !== 'string' || !Array.isArray(h) || !h.every((x): x is string => typeof x === 'string')) return undefined;
    return { t, h };
  } catch {
    return undefined;
  }
}

/**
 * Ext_authz's read: the tenant of a host, from the database into the cache,
 * and the cache's re-check after an outage.
 */
import type pg from 'pg';
import type { TenantLookup } from '../tenant-store.js';
import type { StoreLogger } from './store-logger.js';
import { isConnectionError } from './pg-errors.js';
import type { TenantCache } from './tenant-cache.js';
import { SQL, type HostRow, type OwnerRow, type TenantParser } from './tenant-rows.js';

/** `a.b.example` → `*.b.example`, the only wildcard that can cover it; undefined for a single label. */
export function wildcardOf(host: string): string | undefined {
  const dot = host.indexOf('.');
  return dot > 0 ? `*.${host.slice(dot + 1)}` : undefined;
}

export function unavailable(detail: string): TenantLookup {
  return { kind: 'store_unavailable', detail };
}

export interface HostLoader {
  readonly pool: pg.Pool;
  readonly cache: TenantCache;
  readonly parser: TenantParser;
  readonly logger: StoreLogger;
  /** Whether change notifications arrive now. */
  healthy(): boolean;
  /** The database is gone: stop trusting it until the listener is back. */
  markDown(err: Error): void;
}

/** One query for the host and its wildcard; a cold tenant is parsed once and cached. */
export async function loadHost(d: HostLoader, host: string): Promise<TenantLookup> {
  const { cache, logger } = d;
  const epoch = cache.epoch;
  const wildcard = wildcardOf(host);
  let rows: HostRow[];
  try {
    rows = (await d.pool.query<HostRow>(SQL.lookupHost, [wildcard === undefined ? [host] : [host, wildcard]])).rows;
  } catch (err) {
    if (isConnectionError(err)) {
      d.markDown(err as Error);
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
    if (d.healthy()) cache.setUnknown(host, epoch);
    return { kind: 'unknown' };
  }
  const version = Number(row.version);
  let tenant = cache.findParsed(row.name, version);
  if (!tenant) {
    try {
      tenant = d.parser.toTenant(row);
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
}

/**
 * After an outage, notifications sent meanwhile are gone. Every cached host is
 * checked against the database in one query: entries whose owner or version
 * changed are dropped, and every cached absence is forgotten.
 */
export async function resyncCache(pool: pg.Pool, cache: TenantCache): Promise<void> {
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
}

import type { Tenant } from './tenant.js';

/**
 * Hostname → tenant lookup in O(1): one map for exact names, one for wildcard
 * suffixes. A wildcard `*.api.acme.example` covers exactly one extra label
 * (`eu.api.acme.example`, not `a.eu.api.acme.example`), as in TLS (RFC 6125 §6.4.3),
 * so a lookup costs at most two map reads whatever the tenant count.
 */
export interface HostIndex<T> {
  readonly exact: ReadonlyMap<string, T>;
  readonly wildcard: ReadonlyMap<string, T>;
  readonly size: number;
}

export type TenantIndex = HostIndex<Tenant>;

/** Indexes anything that owns hostnames (tenants, apps) for O(1) lookup. */
export function buildHostIndex<T extends { readonly hostnames: readonly string[] }>(items: readonly T[]): HostIndex<T> {
  const exact = new Map<string, T>();
  const wildcard = new Map<string, T>();
  for (const t of items) {
    for (const h of t.hostnames) {
      if (h.startsWith('*.')) wildcard.set(h.slice(2), t);
      else exact.set(h, t);
    }
  }
  return { exact, wildcard, size: items.length };
}

export function buildTenantIndex(tenants: readonly Tenant[]): TenantIndex {
  return buildHostIndex(tenants);
}

/**
 * Normalizes an HTTP authority or TLS SNI to a bare lowercase hostname: the port,
 * IPv6 brackets and a trailing dot are dropped. Returns '' for input that cannot
 * be a hostname (userinfo, spaces, control characters), which callers deny.
 */
export function normalizeHost(authority: string): string {
  let h = authority.trim();
  if (h.length === 0 || h.length > 260) return '';
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return '';
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return '';
    h = h.slice(1, end);
    return /^[0-9a-fA-F:.]+$/.test(h) ? h.toLowerCase() : '';
  }
  const colon = h.indexOf(':');
  if (colon >= 0) {
    if (!/^\d{1,5}$/.test(h.slice(colon + 1))) return '';
    h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  h = h.toLowerCase();
  return /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(h) ? h : '';
}

/** Finds the tenant (or app) serving `host` (already normalized); exact names win over wildcards. */
export function resolveTenant<T = Tenant>(index: HostIndex<T>, host: string): T | undefined {
  const hit = index.exact.get(host);
  if (hit) return hit;
  const dot = host.indexOf('.');
  if (dot <= 0) return undefined;
  return index.wildcard.get(host.slice(dot + 1));
}

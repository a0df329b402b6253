import { LRUCache } from 'lru-cache';
import type { Tenant } from '../../core/tenant.js';

/** A parsed tenant and the stored version it was parsed from. */
export interface CachedTenant {
  readonly tenant: Tenant;
  readonly version: number;
}

export interface TenantCacheOptions {
  readonly maxEntries: number;
  readonly negativeMaxEntries: number;
  readonly negativeTtlMs: number;
}

/**
 * What a replica remembers between lookups: hosts that resolved to a tenant,
 * and hosts that resolved to nothing. Both are bounded LRUs, so memory follows
 * the cache size, never the number of tenants in the database.
 *
 * Entries are keyed by the host that was asked for, not by the pattern that
 * matched: caching `*.acme.example` as a pattern would let it answer for
 * `pay.acme.example` even when another tenant owns that exact name and simply
 * has not been loaded yet.
 *
 * Every invalidation bumps {@link epoch}. A lookup notes the epoch before it
 * queries and stores its answer only if no invalidation happened meanwhile, so
 * a NOTIFY that overtakes a slow query cannot be undone by its stale result.
 */
export class TenantCache {
  private readonly positive: LRUCache<string, CachedTenant>;
  private readonly negative: LRUCache<string, true>;
  /** Tenant name → hosts cached for it, to evict a tenant without scanning the cache. */
  private readonly hostsByName = new Map<string, Set<string>>();
  private epochValue = 0;

  constructor(options: TenantCacheOptions) {
    this.positive = new LRUCache<string, CachedTenant>({
      max: options.maxEntries,
      dispose: (value, host) => this.unindex(value.tenant.name, host),
    });
    this.negative = new LRUCache<string, true>({ max: options.negativeMaxEntries, ttl: options.negativeTtlMs });
  }

  /** Bumped by every invalidation; see the class comment. */
  get epoch(): number {
    return this.epochValue;
  }

  get(host: string): CachedTenant | undefined {
    return this.positive.get(host);
  }

  /** True when `host` was recently found to have no tenant. */
  isKnownUnknown(host: string): boolean {
    return this.negative.get(host) === true;
  }

  /** Caches a lookup's answer unless an invalidation ran since `epoch`; returns whether it was kept. */
  set(host: string, entry: CachedTenant, epoch: number): boolean {
    if (epoch !== this.epochValue) return false;
    this.negative.delete(host);
    this.positive.set(host, entry);
    let hosts = this.hostsByName.get(entry.tenant.name);
    if (!hosts) this.hostsByName.set(entry.tenant.name, (hosts = new Set()));
    hosts.add(host);
    return true;
  }

  /** Remembers that `host` has no tenant, unless an invalidation ran since `epoch`. */
  setUnknown(host: string, epoch: number): boolean {
    if (epoch !== this.epochValue) return false;
    this.negative.set(host, true);
    return true;
  }

  /**
   * A cached parse of tenant `name` at exactly `version`, so a second hostname
   * of a tenant already in memory costs no parse and shares one object.
   */
  findParsed(name: string, version: number): Tenant | undefined {
    for (const host of this.hostsByName.get(name) ?? []) {
      const hit = this.positive.peek(host);
      if (hit && hit.version === version) return hit.tenant;
    }
    return undefined;
  }

  /**
   * Forgets what a change to tenant `name` could have made wrong: every host
   * cached for it, and every host among `hostnames` (its names before and after
   * the change), whichever tenant or absence they were cached as. A wildcard in
   * `hostnames` also drops the cached absences it now covers.
   */
  evictTenant(name: string, hostnames: readonly string[]): void {
    this.epochValue += 1;
    for (const host of [...(this.hostsByName.get(name) ?? [])]) this.positive.delete(host);
    const suffixes = new Set<string>();
    for (const h of hostnames) {
      if (h.startsWith('*.')) suffixes.add(h.slice(2));
      else {
        this.positive.delete(h);
        this.negative.delete(h);
      }
    }
    if (suffixes.size === 0) return;
    for (const host of [...this.negative.keys()]) {
      const dot = host.indexOf('.');
      if (dot > 0 && suffixes.has(host.slice(dot + 1))) this.negative.delete(host);
    }
  }

  /** Drops one cached host (its tenant changed or vanished). */
  evictHost(host: string): void {
    this.epochValue += 1;
    this.positive.delete(host);
  }

  /** Forgets every cached absence: after an outage, any of them may have been added meanwhile. */
  clearUnknown(): void {
    this.epochValue += 1;
    this.negative.clear();
  }

  /** Forgets everything (an unreadable notification: better a cold cache than a wrong one). */
  clear(): void {
    this.epochValue += 1;
    this.positive.clear();
    this.negative.clear();
  }

  /** Every cached host with the tenant name and version it resolved to, for revalidation after an outage. */
  snapshot(): Array<{ readonly host: string; readonly name: string; readonly version: number }> {
    const out: Array<{ host: string; name: string; version: number }> = [];
    for (const [host, entry] of this.positive.entries()) out.push({ host, name: entry.tenant.name, version: entry.version });
    return out;
  }

  /** Every distinct tenant cached (one per name), for status counts; bounded by the cache size. */
  tenants(): Tenant[] {
    const out = new Map<string, Tenant>();
    for (const entry of this.positive.values()) out.set(entry.tenant.name, entry.tenant);
    return [...out.values()];
  }

  stats(): { readonly size: number; readonly max: number; readonly unknownSize: number; readonly indexedNames: number } {
    return { size: this.positive.size, max: this.positive.max, unknownSize: this.negative.size, indexedNames: this.hostsByName.size };
  }

  private unindex(name: string, host: string): void {
    const hosts = this.hostsByName.get(name);
    if (!hosts) return;
    hosts.delete(host);
    if (hosts.size === 0) this.hostsByName.delete(name);
  }
}

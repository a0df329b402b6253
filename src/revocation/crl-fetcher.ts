import type { Logger } from 'pino';
import type { ParsedCert } from '../core/cert-parse.js';
import { parseCrlBundle, type ParsedCrl } from '../core/crl.js';
import { crlCovers } from '../core/crl-scope.js';
import { judgeCrlUpdate, planCrlRefresh, type AcceptedCrl } from '../core/crl-update.js';
import type { Tenant } from '../core/tenant.js';
import type { RevocationSettings } from '../config/defaults.js';
import { fetchBounded, RevocationFetchError } from './http-fetch.js';
import type { RevocationMetrics } from './metrics.js';

/** One CRL location of one tenant: tenants never share a source, so one tenant's bad CRL stays its own. */
interface Source {
  readonly tenant: string;
  readonly url: string;
  readonly configured: boolean;
  /** CAs a CRL from here may be signed by: the tenant's roots, and issuers seen in its clients' chains. */
  readonly issuers: ParsedCert[];
  current: AcceptedCrl | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  failures: number;
  stale: boolean;
  timer: NodeJS.Timeout | undefined;
  inFlight: Promise<void> | undefined;
  closed: boolean;
}

/** What is known about an issuer's CRL for a tenant. */
export interface CrlLookup {
  readonly crl: ParsedCrl;
  readonly url: string;
  /** Past nextUpdate and not replaced: the alarm is raised. */
  readonly stale: boolean;
}

/** One CRL source of one tenant, as status reports show it. */
export interface CrlSourceReport {
  readonly tenant: string;
  readonly url: string;
  /** Configured (`crl_urls`) or named by a client's certificate. */
  readonly configured: boolean;
  /**
   * `fresh`: a verified CRL within its nextUpdate; `stale`: past it and not
   * replaced (the alarm); `unavailable`: no verified CRL yet and the last
   * download failed or was refused; `pending`: the first download is running.
   */
  readonly state: 'fresh' | 'stale' | 'unavailable' | 'pending';
  /** Failed downloads since the last good one. */
  readonly failures: number;
  /** The CRL in use's nextUpdate (ms), when there is one. */
  readonly nextUpdate: number | undefined;
}

export interface CrlFetcherDeps {
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics: RevocationMetrics;
  readonly settings: RevocationSettings;
  readonly fetch?: typeof fetchBounded;
}

export interface CrlFetcher {
  /**
   * Starts fetching the configured `crl_urls` of these tenants and drops sources
   * of tenants or URLs no longer configured. With tenants loaded on demand
   * (PostgreSQL), pass the loaded ones: the others start again in `discover`.
   */
  sync(tenants: readonly Tenant[]): void;
  /**
   * The freshest verified CRL from `issuer` for this tenant, from memory; with
   * `subject`, the freshest of those that cover it (issuingDistributionPoint
   * scope, RFC 5280 §6.3.3 (b)).
   */
  lookup(tenant: string, issuer: ParsedCert, nowMs: number, subject?: ParsedCert): CrlLookup | undefined;
  /**
   * A certificate's issuer has no CRL yet: remember the issuer for the
   * tenant's sources, add the certificate's distribution points (bounded), and
   * fetch. Resolves when those fetches settle.
   */
  discover(tenant: Tenant, issuer: ParsedCert, distributionPoints: readonly string[]): Promise<void> | undefined;
  /** Every source, tenant by tenant, judged at `nowMs`. */
  report(nowMs: number): CrlSourceReport[];
  /** Fetches one source now (tests, admin). */
  refreshNow(tenant: string, url: string): Promise<void>;
  close(): void;
}

/**
 * CRLs from the network (RFC 5280 §5): fetched from configured URLs and from
 * the distribution points clients' certificates name, verified against the
 * tenant's CAs, refreshed before nextUpdate, the last good one kept when a
 * fetch fails or brings something worse, and an alarm (gauge + error log)
 * while a CRL is past its nextUpdate without a successor.
 */
export function createCrlFetcher(deps: CrlFetcherDeps): CrlFetcher {
  const s = deps.settings;
  const fetch = deps.fetch ?? fetchBounded;
  const byTenant = new Map<string, Map<string, Source>>();

  function staleCount(tenant: string): number {
    let n = 0;
    for (const src of byTenant.get(tenant)?.values() ?? []) if (src.stale) n += 1;
    return n;
  }

  function markStale(src: Source, nowMs: number): void {
    const next = src.current?.crl.nextUpdate;
    const stale = src.current !== undefined && next !== undefined && nowMs > next;
    if (stale && !src.stale) deps.logger.error({ tenant: src.tenant, url: src.url, nextUpdate: new Date(next as number).toISOString() }, 'crl stale: past its nextUpdate and not refreshed');
    src.stale = stale;
    deps.metrics.crlStale.set({ tenant: src.tenant }, staleCount(src.tenant));
  }

  function schedule(src: Source, delayMs: number): void {
    if (src.closed) return;
    if (src.timer) clearTimeout(src.timer);
    src.timer = setTimeout(() => void refresh(src), delayMs);
    src.timer.unref();
  }

  async function download(src: Source): Promise<void> {
    const headers: Record<string, string> = {};
    if (src.current && src.etag) headers['if-none-match'] = src.etag;
    if (src.current && src.lastModified) headers['if-modified-since'] = src.lastModified;
    const res = await fetch(src.url, { method: 'GET', headers, timeoutMs: s.crlTimeoutMs, maxBytes: s.crlMaxBytes });
    const nowMs = deps.now();
    if (res.status === 304 && src.current) {
      deps.metrics.crlFetches.inc({ tenant: src.tenant, result: 'not_modified' });
      return;
    }
    let crls: ParsedCrl[];
    try {
      crls = parseCrlBundle(res.body);
    } catch (err) {
      throw new CrlRefused('malformed', (err as Error).message);
    }
    if (crls.length !== 1) throw new CrlRefused('malformed', `expected one CRL, got ${crls.length}`);
    const verdict = judgeCrlUpdate(src.current, crls[0] as ParsedCrl, src.issuers, nowMs, s.clockSkewMs);
    if (!verdict.ok) throw new CrlRefused(verdict.refusal, verdict.detail);
    src.current = verdict.accepted;
    src.etag = headerText(res.headers.etag);
    src.lastModified = headerText(res.headers['last-modified']);
    deps.metrics.crlFetches.inc({ tenant: src.tenant, result: 'updated' });
  }

  async function refresh(src: Source): Promise<void> {
    if (src.inFlight) return src.inFlight;
    const run = (async () => {
      try {
        await download(src);
        src.failures = 0;
      } catch (err) {
        src.failures += 1;
        const result = err instanceof CrlRefused ? err.refusal : err instanceof RevocationFetchError ? err.failure : 'internal';
        deps.metrics.crlFetches.inc({ tenant: src.tenant, result });
        // The last good CRL stays in use; the failure is only logged and retried.
        deps.logger.warn({ tenant: src.tenant, url: src.url, reason: result, detail: err instanceof Error ? err.message : String(err) }, 'crl fetch refused or failed; keeping the last good CRL');
      } finally {
        src.inFlight = undefined;
      }
      const nowMs = deps.now();
      markStale(src, nowMs);
      const retry = Math.min(s.crlMaxRetryMs, s.crlMinRefreshIntervalMs * 2 ** Math.max(0, src.failures - 1));
      const delay = src.failures > 0 ? retry : planCrlRefresh(nowMs, src.current?.crl.nextUpdate, s.crlMinRefreshIntervalMs, s.crlMaxRefreshIntervalMs);
      // Staleness is noticed at nextUpdate even when the next fetch is later.
      const next = src.current?.crl.nextUpdate;
      schedule(src, next !== undefined && next > nowMs ? Math.min(delay, next - nowMs + 1) : delay);
    })();
    src.inFlight = run;
    return run;
  }

  function addSource(tenant: string, url: string, configured: boolean, issuers: readonly ParsedCert[]): Source {
    let sources = byTenant.get(tenant);
    if (!sources) byTenant.set(tenant, (sources = new Map()));
    const src: Source = { tenant, url, configured, issuers: [...issuers], current: undefined, etag: undefined, lastModified: undefined, failures: 0, stale: false, timer: undefined, inFlight: undefined, closed: false };
    sources.set(url, src);
    void refresh(src);
    return src;
  }

  function drop(src: Source): void {
    src.closed = true;
    if (src.timer) clearTimeout(src.timer);
    byTenant.get(src.tenant)?.delete(src.url);
  }

  return {
    sync(tenants) {
      const wanted = new Map<string, Tenant>();
      for (const t of tenants) if (t.mtls.revocation && t.mtls.revocation.crl !== 'off') wanted.set(t.name, t);
      for (const [name, sources] of byTenant) {
        const t = wanted.get(name);
        for (const src of [...sources.values()]) {
          const keep = t !== undefined && (src.configured ? t.mtls.revocation?.crlUrls.includes(src.url) : t.mtls.revocation?.crlDistributionPoints);
          if (!keep) drop(src);
        }
      }
      for (const t of wanted.values()) {
        const roots = t.mtls.trust?.roots ?? [];
        for (const url of t.mtls.revocation?.crlUrls ?? []) {
          const existing = byTenant.get(t.name)?.get(url);
          if (existing) {
            for (const r of roots) if (!existing.issuers.includes(r)) existing.issuers.push(r);
          } else addSource(t.name, url, true, roots);
        }
      }
    },
    lookup(tenant, issuer, nowMs, subject) {
      let best: Source | undefined;
      for (const src of byTenant.get(tenant)?.values() ?? []) {
        const cur = src.current;
        if (!cur || cur.issuer.fingerprint256 !== issuer.fingerprint256 || (subject !== undefined && !crlCovers(cur.crl, subject))) continue;
        if (!best || cur.crl.thisUpdate > (best.current as AcceptedCrl).crl.thisUpdate) best = src;
      }
      if (!best?.current) return undefined;
      const next = best.current.crl.nextUpdate;
      return { crl: best.current.crl, url: best.url, stale: best.stale || (next !== undefined && nowMs > next) };
    },
    discover(tenant, issuer, distributionPoints) {
      const waits: Promise<void>[] = [];
      // Tenants loaded on demand (PostgreSQL) were never synced: their configured URLs start here.
      if (tenant.mtls.revocation && tenant.mtls.revocation.crl !== 'off') {
        for (const url of tenant.mtls.revocation.crlUrls) {
          if (byTenant.get(tenant.name)?.has(url)) continue;
          const src = addSource(tenant.name, url, true, [...(tenant.mtls.trust?.roots ?? []), issuer]);
          if (src.inFlight) waits.push(src.inFlight);
        }
      }
      let sources = byTenant.get(tenant.name);
      for (const src of sources?.values() ?? []) {
        if (src.issuers.length < s.crlMaxDistributionPoints * 2 && !src.issuers.some((c) => c.fingerprint256 === issuer.fingerprint256)) {
          src.issuers.push(issuer);
          waits.push(refresh(src));
        } else if (src.inFlight) waits.push(src.inFlight);
      }
      if (tenant.mtls.revocation?.crlDistributionPoints) {
        for (const url of distributionPoints) {
          sources = byTenant.get(tenant.name);
          if (sources?.has(url)) continue;
          const discovered = [...(sources?.values() ?? [])].filter((x) => !x.configured).length;
          if (discovered >= s.crlMaxDistributionPoints) break;
          const src = addSource(tenant.name, url, false, [...(tenant.mtls.trust?.roots ?? []), issuer]);
          if (src.inFlight) waits.push(src.inFlight);
        }
      }
      return waits.length > 0 ? Promise.allSettled(waits).then(() => undefined) : undefined;
    },
    report(nowMs) {
      const out: CrlSourceReport[] = [];
      for (const sources of byTenant.values()) {
        for (const src of sources.values()) {
          const next = src.current?.crl.nextUpdate;
          const state = src.current ? (src.stale || (next !== undefined && nowMs > next) ? 'stale' : 'fresh') : src.failures > 0 ? 'unavailable' : 'pending';
          out.push({ tenant: src.tenant, url: src.url, configured: src.configured, state, failures: src.failures, nextUpdate: next });
        }
      }
      return out;
    },
    async refreshNow(tenant, url) {
      const src = byTenant.get(tenant)?.get(url);
      if (src) {
        if (src.inFlight) await src.inFlight;
        await refresh(src);
      }
    },
    close() {
      for (const sources of byTenant.values()) for (const src of [...sources.values()]) drop(src);
    },
  };
}

class CrlRefused extends Error {
  constructor(
    readonly refusal: string,
    message: string,
  ) {
    super(message);
  }
}

function headerText(v: string | string[] | undefined): string | undefined {
  return typeof v === 'string' && v.length <= 256 ? v : undefined;
}

/**
 * What the readiness body and the admin API say about revocation sources:
 * fetched CRLs past their nextUpdate (stale) or never fetched (unavailable),
 * and OCSP responders whose last exchange failed. Read from the fetcher's and
 * checker's memory at the moment asked; never a reason to be unready (see
 * docs/config.md, "Revocation from the network").
 */
import type { CrlFetcher } from './crl-fetcher.js';
import type { OcspChecker } from './ocsp-checker.js';

/** One tenant's revocation sources that need a look; empty lists when all is well. */
export interface TenantRevocationStatus {
  readonly crl: {
    /** Sources in use (configured and discovered). */
    readonly sources: number;
    /** Past nextUpdate and not replaced: `stale_crl` decides for their certificates. */
    readonly stale: readonly string[];
    /** No verified CRL yet and the last download failed: `crl: require` denies their certificates. */
    readonly unavailable: readonly string[];
  };
  readonly ocsp: {
    readonly failing: ReadonlyArray<{ readonly url: string; readonly mode: 'prefer' | 'require'; readonly failure: string; readonly failing_since: string }>;
  };
}

/** The readiness body's `revocation`: counts over every tenant, and the first tenants with a problem by name. */
export interface RevocationSummary {
  readonly tenants_crl_stale: number;
  readonly tenants_crl_unavailable: number;
  readonly tenants_ocsp_failing: number;
  /** Per tenant with at least one problem, its counts; at most `maxListed` tenants, by name. */
  readonly tenants: Readonly<Record<string, { readonly crl_stale: number; readonly crl_unavailable: number; readonly ocsp_failing: number }>>;
  /** Present (true) when more tenants have a problem than are listed. */
  readonly tenants_truncated?: true;
}

export interface RevocationStatus {
  summary(nowMs: number): RevocationSummary;
  /** Undefined when the tenant has no revocation source known to this replica. */
  tenant(name: string, nowMs: number): TenantRevocationStatus | undefined;
}

export interface RevocationStatusDeps {
  readonly crls: Pick<CrlFetcher, 'report'>;
  readonly ocsp: Pick<OcspChecker, 'failing'>;
  readonly maxListed: number;
}

interface Counts {
  crl_stale: number;
  crl_unavailable: number;
  ocsp_failing: number;
}

export function createRevocationStatus(deps: RevocationStatusDeps): RevocationStatus {
  return {
    summary(nowMs) {
      const per = new Map<string, Counts>();
      const counts = (t: string): Counts => {
        let c = per.get(t);
        if (!c) per.set(t, (c = { crl_stale: 0, crl_unavailable: 0, ocsp_failing: 0 }));
        return c;
      };
      for (const src of deps.crls.report(nowMs)) {
        if (src.state === 'stale') counts(src.tenant).crl_stale += 1;
        else if (src.state === 'unavailable') counts(src.tenant).crl_unavailable += 1;
      }
      for (const r of deps.ocsp.failing(nowMs)) counts(r.tenant).ocsp_failing += 1;
      const names = [...per.keys()].sort();
      const listed = names.slice(0, deps.maxListed);
      const all = [...per.values()];
      return {
        tenants_crl_stale: all.filter((c) => c.crl_stale > 0).length,
        tenants_crl_unavailable: all.filter((c) => c.crl_unavailable > 0).length,
        tenants_ocsp_failing: all.filter((c) => c.ocsp_failing > 0).length,
        tenants: Object.fromEntries(listed.map((n) => [n, per.get(n) as Counts])),
        ...(names.length > listed.length ? { tenants_truncated: true as const } : {}),
      };
    },
    tenant(name, nowMs) {
      const sources = deps.crls.report(nowMs).filter((s) => s.tenant === name);
      const failing = deps.ocsp.failing(nowMs).filter((r) => r.tenant === name);
      if (sources.length === 0 && failing.length === 0) return undefined;
      return {
        crl: {
          sources: sources.length,
          stale: sources.filter((s) => s.state === 'stale').map((s) => s.url),
          unavailable: sources.filter((s) => s.state === 'unavailable').map((s) => s.url),
        },
        ocsp: { failing: failing.map((r) => ({ url: r.url, mode: r.mode, failure: r.failure, failing_since: new Date(r.failingSince).toISOString() })) },
      };
    },
  };
}

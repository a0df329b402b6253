/**
 * `/metrics` and `/readyz`, served on the login service's port (or a bare
 * ops server when this process runs ext_authz only). Both read the stores at
 * request time, so a scrape or a probe never shows a stale answer.
 */
import type { OpsRoute } from '../observability/ops-server.js';
import type { Tenant } from '../core/tenant.js';
import { TRUST_STATUSES, trustStatusAt, type TrustStatus } from '../core/trust-anchor.js';
import type { ServeContext, LiveConfig } from './context.js';
import type { Stores } from './open-stores.js';

/** Tenants by trust status at `nowMs`. */
function countTrust(tenants: readonly Tenant[], nowMs: number): Record<TrustStatus, number> {
  const counts: Record<TrustStatus, number> = { ok: 0, degraded: 0, unusable: 0 };
  for (const t of tenants) counts[trustStatusAt(t.mtls.trust, nowMs)] += 1;
  return counts;
}

export interface OpsView {
  readonly routes: Readonly<Record<string, OpsRoute>>;
  /** Sets the store gauges now (also done on every scrape). */
  updateStoreGauges(): void;
}

/** `serving()` turns false when shutdown begins: readiness then reports `stopping`. */
export function createOpsRoutes(ctx: ServeContext, stores: Stores, live: LiveConfig, serving: () => boolean): OpsView {
  const { metrics, clock, role } = ctx;
  const { tenantStore } = stores;
  const { shared } = stores.parts;
  const redis = stores.config.store.redis !== undefined;
  const updateStoreGauges = (): void => {
    if (tenantStore) metrics.storeUp.set({ store: 'postgres' }, tenantStore.health().healthy ? 1 : 0);
    if (redis) metrics.storeUp.set({ store: 'redis' }, shared.health().ok ? 1 : 0);
  };
  // At the clock of the scrape: a CA may expire while running.
  const trustCounts = (): Record<TrustStatus, number> => countTrust(tenantStore ? tenantStore.loadedTenants() : live.config.tenants, clock());
  const readiness = (): { ready: boolean; body: Record<string, unknown> } => {
    const up = serving();
    const storeStates: Record<string, unknown> = {};
    let ready = up;
    if (tenantStore) {
      const h = tenantStore.health();
      storeStates['postgres'] = h.healthy ? 'up' : `down: ${h.reason ?? 'unknown'}`;
      // Cached tenants keep being served, but a replica that cannot load new ones should not take new traffic first.
      ready &&= h.healthy;
    }
    if (redis) {
      const h = shared.health();
      storeStates['redis'] = h.ok ? 'up' : `${h.state}${h.error ? `: ${h.error}` : ''}`;
      ready &&= h.ok;
    }
    // One customer's bad CA must not take every replica out of rotation: trust
    // status is reported here, never a reason to be unready.
    const trust = trustCounts();
    return { ready, body: { status: !up ? 'stopping' : ready ? 'ready' : 'degraded', role, ...(Object.keys(storeStates).length > 0 ? { stores: storeStates } : {}), tenant_trust: trust, revocation: stores.revocationStatus.summary(clock()) } };
  };
  return {
    updateStoreGauges,
    routes: {
      '/metrics': async () => {
        updateStoreGauges();
        const counts = trustCounts();
        for (const s of TRUST_STATUSES) metrics.tenantTrust.set({ status: s }, counts[s]);
        return { status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
      },
      '/readyz': async () => {
        const r = readiness();
        return { status: r.ready ? 200 : 503, contentType: 'application/json', body: JSON.stringify(r.body) };
      },
    },
  };
}

/**
 * The config file's tenants seen through the {@link TenantStore} interface, so
 * the admin API can list and show them in the default (no server) mode. The
 * file is the source of truth there: every write is refused with
 * `ERR_STORE_READ_ONLY`, naming what to do instead.
 */
import { toPem } from '../core/pem.js';
import type { Tenant } from '../core/tenant.js';
import { reportTrust, trustStatusAt } from '../core/trust-anchor.js';
import { resolveTenant, buildTenantIndex } from '../core/tenant-index.js';
import { TENANT_LIMITS } from '../config/defaults.js';
import { TenantStoreError, type TenantLookup, type TenantPage, type TenantRecord, type TenantStore } from './tenant-store.js';

function toRecord(t: Tenant, loadedAtMs: number, nowMs: number): TenantRecord {
  const trust = t.mtls.trust;
  return {
    name: t.name,
    hostnames: [...t.hostnames].sort(),
    mtls: {
      mode: t.mtls.mode,
      caPem: trust ? trust.roots.map((r) => r.pem).join('') : null,
      crlPems: trust ? trust.crls.map((c) => toPem(c.der, 'X509 CRL')) : [],
      staleCrl: trust?.staleCrl ?? 'deny',
      exemptPaths: [...t.mtls.exemptPaths],
      ...(t.mtls.revocation ? { revocation: t.mtls.revocation } : {}),
      ...(trust?.policy ? { certificatePolicies: trust.policy } : {}),
    },
    version: 1,
    trust: reportTrust(trust, nowMs),
    createdAt: loadedAtMs,
    updatedAt: loadedAtMs,
  };
}

/**
 * @param tenants The tenants of the config in force (called per request, so reloads show at once).
 * @param source The config file, for the message that refuses writes.
 * @param now The clock that judges trust status (a CA may expire while running).
 */
export function createFileTenantStore(tenants: () => readonly Tenant[], source: () => string, loadedAtMs: () => number = Date.now, now: () => number = Date.now): TenantStore {
  const peek = (host: string): TenantLookup => {
    const t = resolveTenant(buildTenantIndex(tenants()), host);
    return t ? { kind: 'tenant', tenant: t } : { kind: 'unknown' };
  };
  const refuse = (): never => {
    throw new TenantStoreError(
      'ERR_STORE_READ_ONLY',
      `tenants are defined in the config file ${source()}; edit it (bouncer reloads it by itself), or set store.postgres to manage tenants through this API`,
    );
  };
  return {
    peekHost: (host) => peek(host),
    resolveHost: async (host) => peek(host),
    async getTenant(name) {
      const t = tenants().find((x) => x.name === name);
      return t ? toRecord(t, loadedAtMs(), now()) : undefined;
    },
    async listTenants(options = {}): Promise<TenantPage> {
      const limit = Math.min(Math.max(options.limit ?? TENANT_LIMITS.listDefault, 1), TENANT_LIMITS.listMax);
      const sorted = [...tenants()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const rest = options.after === undefined ? sorted : sorted.filter((t) => t.name > (options.after as string));
      const page = rest.slice(0, limit);
      const nowMs = now();
      return {
        items: page.map((t) => ({ name: t.name, hostnames: [...t.hostnames].sort(), mode: t.mtls.mode, version: 1, trustStatus: trustStatusAt(t.mtls.trust, nowMs) })),
        next: rest.length > limit ? page[page.length - 1]?.name : undefined,
      };
    },
    putTenant: async () => refuse(),
    deleteTenant: async () => refuse(),
    addHostname: async () => refuse(),
    removeHostname: async () => refuse(),
    onChange: () => () => undefined,
    health: () => ({ healthy: true, since: loadedAtMs(), reason: undefined }),
    close: async () => undefined,
  };
}

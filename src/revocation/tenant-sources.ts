import type { Tenant } from '../core/tenant.js';
import type { TenantStore } from '../stores/tenant-store.js';
import type { CrlFetcher } from './crl-fetcher.js';

/** A store whose tenants are loaded on demand (PostgreSQL), as far as CRL sources care. */
export interface LoadedTenants {
  loadedTenants(): readonly Tenant[];
  onChange: TenantStore['onChange'];
}

export interface CrlTenantSync {
  /** The config in force changed: sync its tenants (or, with a tenant store, the store's loaded ones). */
  sync(fileTenants: readonly Tenant[]): void;
  close(): void;
}

/**
 * Keeps the CRL fetcher's sources in step with whichever tenants are served:
 * the config file's, or with a tenant store, the tenants this replica has
 * loaded. A stored tenant's change evicts it from the store's cache before
 * listeners hear of it, so syncing then drops its sources (its URLs or CAs may
 * have changed); its next request starts them again from its new settings
 * (`CrlFetcher.discover`). Without this, every config reload would drop the
 * stored tenants' sources, as the file lists none of them.
 */
export function followCrlTenants(crls: CrlFetcher, store: LoadedTenants | undefined): CrlTenantSync {
  const unsubscribe = store?.onChange(() => crls.sync(store.loadedTenants()));
  return {
    sync(fileTenants) {
      crls.sync(store ? store.loadedTenants() : fileTenants);
    },
    close() {
      unsubscribe?.();
    },
  };
}

/**
 * The hostnames ready to serve, as the xDS server reads them
 * (core/served-hostname.ts): kept in memory on every replica, with keys
 * opened from their envelopes once per change, rebuilt from the store on
 * every change any replica makes (store.onChange) and whenever a tenant's CA
 * certificates change (they are the client-CA list of its hostnames).
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { splitPemCertificates } from '../core/cert-parse.js';
import type { HostnameCatalog, HostnameCatalogChange, ServedHostname } from '../core/served-hostname.js';
import type { TenantStore } from '../stores/tenant-store.js';
import type { KekRing } from './key-envelope.js';
import type { HostnameRecord, HostnameStore } from './store.js';

export interface LiveHostnameCatalog extends HostnameCatalog {
  /** Reads every hostname from the store again. */
  reload(): Promise<void>;
  /** Reads one hostname again (after a change to it). */
  refresh(hostname: string): Promise<void>;
  /** Re-reads a tenant's client CAs for all its hostnames. */
  refreshTenant(tenant: string): Promise<void>;
  readonly size: number;
}

export interface CatalogDeps {
  readonly store: HostnameStore;
  readonly tenants: Pick<TenantStore, 'getTenant'>;
  readonly keys: KekRing;
  readonly clock: () => number;
  readonly logger: Logger;
}

/** The context a hostname's key envelope is bound to. */
export const hostnameKeyContext = (hostname: string): string => `hostname-key|${hostname}`;

/** Whether a record's certificate may be served now. */
export function isServable(r: HostnameRecord, nowMs: number): boolean {
  return (
    (r.state === 'active' || r.state === 'renewing') &&
    r.certificateChainPem !== null &&
    r.sealedKey !== null &&
    r.notAfter !== null &&
    r.notAfter > nowMs &&
    (r.notBefore === null || r.notBefore <= nowMs)
  );
}

function pemBlocks(pem: string | null): string[] {
  if (pem === null) return [];
  return splitPemCertificates(pem).map((der) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`);
}

export function createHostnameCatalog(deps: CatalogDeps): LiveHostnameCatalog {
  const entries = new Map<string, ServedHostname>();
  const listeners = new Set<(change: HostnameCatalogChange) => void>();
  const emit = (upserted: string[], removed: string[]): void => {
    if (upserted.length === 0 && removed.length === 0) return;
    const change = { upserted, removed };
    for (const l of [...listeners]) {
      try {
        l(change);
      } catch (err) {
        deps.logger.error({ err }, 'hostnames: a catalog listener failed');
      }
    }
  };

  const clientCas = async (tenant: string, cache: Map<string, string[]>): Promise<string[]> => {
    const known = cache.get(tenant);
    if (known) return known;
    const record = await deps.tenants.getTenant(tenant);
    const pems = pemBlocks(record?.mtls.caPem ?? null);
    cache.set(tenant, pems);
    return pems;
  };

  /** The entry a record should have, or undefined when it must not be served. */
  const entryOf = async (r: HostnameRecord, cas: Map<string, string[]>): Promise<ServedHostname | undefined> => {
    if (!isServable(r, deps.clock())) return undefined;
    let privateKeyPem: string;
    try {
      privateKeyPem = deps.keys.open(r.sealedKey as string, hostnameKeyContext(r.hostname));
    } catch (err) {
      // Not the key, only why it cannot be opened (wrong KEK, altered row).
      deps.logger.error({ hostname: r.hostname, tenant: r.tenant, code: (err as { code?: string }).code, message: (err as Error).message }, 'hostnames: key cannot be opened; hostname not served');
      return undefined;
    }
    const clientCaPems = await clientCas(r.tenant, cas);
    const chain = r.certificateChainPem as string;
    const version = createHash('sha256').update(chain).update('\0').update(clientCaPems.join('')).digest('hex').slice(0, 16);
    return { hostname: r.hostname, tenant: r.tenant, certificateChainPem: chain, privateKeyPem, clientCaPems, version };
  };

  /** Applies the fresh entries of `names` (undefined: remove) and notifies once. */
  const apply = (fresh: ReadonlyMap<string, ServedHostname | undefined>): void => {
    const upserted: string[] = [];
    const removed: string[] = [];
    for (const [name, entry] of fresh) {
      const old = entries.get(name);
      if (entry === undefined) {
        if (old) {
          entries.delete(name);
          removed.push(name);
        }
      } else if (!old || old.version !== entry.version) {
        entries.set(name, entry);
        upserted.push(name);
      }
    }
    emit(upserted, removed);
  };

  // Reads and applies run one after another, so a slow read never overwrites a newer one.
  let queue: Promise<void> = Promise.resolve();
  const serial = (job: () => Promise<void>): Promise<void> => {
    const next = queue.then(job);
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    list: () => [...entries.values()],
    get: (hostname) => entries.get(hostname),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get size() {
      return entries.size;
    },
    reload: () => serial(async () => {
      const cas = new Map<string, string[]>();
      const fresh = new Map<string, ServedHostname | undefined>();
      for (const r of await deps.store.listWithCertificates()) fresh.set(r.hostname, await entryOf(r, cas));
      for (const name of entries.keys()) if (!fresh.has(name)) fresh.set(name, undefined);
      apply(fresh);
    }),
    refresh: (hostname) => serial(async () => {
      const r = await deps.store.get(hostname);
      apply(new Map([[hostname, r === undefined ? undefined : await entryOf(r, new Map())]]));
    }),
    refreshTenant: (tenant) => serial(async () => {
      const cas = new Map<string, string[]>();
      const fresh = new Map<string, ServedHostname | undefined>();
      for (const r of await deps.store.listWithCertificates(tenant)) fresh.set(r.hostname, await entryOf(r, cas));
      for (const [name, e] of entries) if (e.tenant === tenant && !fresh.has(name)) fresh.set(name, undefined);
      apply(fresh);
    }),
  };
}

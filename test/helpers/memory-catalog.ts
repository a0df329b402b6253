import { createHash } from 'node:crypto';
import type { HostnameCatalog, HostnameCatalogChange, ServedHostname } from '../../src/core/served-hostname.js';
import { createRootCa, issueServerCert, type KeyAlgorithm, type KeyPairPem } from '../../src/pki/generate.js';

/** A HostnameCatalog held in memory, changed by the test; notifies like the real one. */
export class MemoryCatalog implements HostnameCatalog {
  private readonly entries = new Map<string, ServedHostname>();
  private readonly listeners = new Set<(change: HostnameCatalogChange) => void>();

  list(): readonly ServedHostname[] {
    return [...this.entries.values()];
  }
  get(hostname: string): ServedHostname | undefined {
    return this.entries.get(hostname);
  }
  subscribe(listener: (change: HostnameCatalogChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Adds or replaces entries without notifying (initial contents). */
  seed(entries: Iterable<Omit<ServedHostname, 'version'>>): void {
    for (const e of entries) this.entries.set(e.hostname, withVersion(e));
  }

  upsert(...entries: Array<Omit<ServedHostname, 'version'>>): void {
    for (const e of entries) this.entries.set(e.hostname, withVersion(e));
    this.notify({ upserted: entries.map((e) => e.hostname), removed: [] });
  }

  remove(...hostnames: string[]): void {
    for (const h of hostnames) this.entries.delete(h);
    this.notify({ upserted: [], removed: hostnames });
  }

  private notify(change: HostnameCatalogChange): void {
    for (const l of this.listeners) l(change);
  }
}

function withVersion(e: Omit<ServedHostname, 'version'>): ServedHostname {
  const version = createHash('sha256').update(e.certificateChainPem).update(e.privateKeyPem).update(e.clientCaPems.join('')).digest('hex').slice(0, 16);
  return { ...e, version };
}

/** A server CA and one tenant client CA, for hostname entries. */
export interface HostnameFixtures {
  readonly serverCa: KeyPairPem;
  readonly clientCa: KeyPairPem;
  entry(hostname: string, tenant: string, clientCas?: readonly KeyPairPem[], keyAlgorithm?: KeyAlgorithm): Promise<Omit<ServedHostname, 'version'>>;
}

export async function hostnameFixtures(): Promise<HostnameFixtures> {
  const serverCa = await createRootCa({ commonName: 'Test Server CA' });
  const clientCa = await createRootCa({ commonName: 'Tenant Client CA', organization: 'Tenant' });
  return {
    serverCa,
    clientCa,
    async entry(hostname, tenant, clientCas = [clientCa], keyAlgorithm = 'ec-p256') {
      const leaf = await issueServerCert({ commonName: hostname.replace(/^\*\./, 'wildcard.'), dns: [hostname], issuer: serverCa, keyAlgorithm });
      return { hostname, tenant, certificateChainPem: leaf.certPem, privateKeyPem: leaf.keyPem, clientCaPems: clientCas.map((c) => c.certPem) };
    },
  };
}

/**
 * Opens customer hostnames from the `hostnames` config section: the keyring,
 * the store (PostgreSQL with `store.postgres`, memory otherwise), the ACME
 * issuer and DNS check when configured, the TLS-ALPN-01 responder when that
 * challenge is chosen, the metrics, and the manager whose catalog the xDS
 * server serves.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { HostnamesConfig } from '../config/types.js';
import { BouncerError } from '../core/errors.js';
import type { TenantStore } from '../stores/tenant-store.js';
import { createAcmeIssuer } from './acme-issuer.js';
import { createDnsCheck } from './dns-check.js';
import { loadKekRing } from './key-envelope.js';
import { createHostnameManager } from './manager.js';
import type { HostnameManager } from './manager-contract.js';
import { createMemoryHostnameStore } from './memory-store.js';
import { createTlsAlpnResponder } from './tls-alpn-responder.js';
import { createHostnameMetrics } from './metrics.js';
import type { HostnameStore } from './store.js';

export interface OpenHostnamesOptions {
  readonly config: HostnamesConfig;
  /** `store.postgres.url`; absent, hostnames live in this process's memory. */
  readonly postgresUrl?: string | undefined;
  readonly tenants: TenantStore;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock: () => number;
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** Hostnames no tenant may claim (the login service's `auth.domain`). */
  readonly reserved?: readonly string[] | undefined;
}

export interface OpenHostnames {
  readonly manager: HostnameManager;
  /** The key authorization for an HTTP-01 token, for the web service. */
  challenge(token: string): Promise<string | undefined>;
  /**
   * Binds the TLS-ALPN-01 responder on `hostnames.acme.tls_alpn_listen` when
   * `tls-alpn-01` is among the challenges; resolves to its port, or undefined.
   */
  listenTlsAlpn(): Promise<number | undefined>;
  close(): Promise<void>;
}

export async function openHostnames(o: OpenHostnamesOptions): Promise<OpenHostnames> {
  const keys = loadKekRing({ file: o.config.kekFile, env: o.config.kekEnv }, o.env);
  let store: HostnameStore;
  if (o.postgresUrl !== undefined) {
    const { createPgHostnameStore } = await import('./pg-store.js');
    store = await createPgHostnameStore({ connection: { connectionString: o.postgresUrl }, logger: o.logger });
  } else {
    store = createMemoryHostnameStore();
  }
  const acme = o.config.acme;
  let caPem: string | undefined;
  if (acme?.caFile !== undefined) {
    try {
      caPem = readFileSync(acme.caFile, 'utf8');
    } catch (err) {
      await store.close();
      throw new BouncerError('ERR_CONFIG_READ', `cannot read hostnames.acme.ca_file ${acme.caFile}: ${(err as Error).message}`, { cause: err });
    }
  }
  const issuer = acme ? createAcmeIssuer({ settings: { directoryUrl: acme.directoryUrl, email: acme.email, caPem, challenges: acme.challenges }, store, keys, clock: o.clock, logger: o.logger }) : undefined;
  const dnsCheck = acme && acme.expectedAddresses.length > 0 ? createDnsCheck({ expectedAddresses: acme.expectedAddresses, servers: acme.dnsServers }) : undefined;
  let built: HostnameManager | undefined;
  const metrics = createHostnameMetrics(o.registry, () => store.countByState(), () => built?.catalog.size ?? 0);
  const manager = createHostnameManager({ store, tenants: o.tenants, keys, issuer, dnsCheck, clock: o.clock, logger: o.logger, metrics, reserved: o.reserved });
  built = manager;
  const tlsAlpn = acme?.challenges.includes('tls-alpn-01')
    ? createTlsAlpnResponder({ keyAuthorization: (hostname) => store.getTlsAlpnChallenge(hostname, o.clock()), logger: o.logger, onResult: (result) => metrics.tlsAlpn(result) })
    : undefined;
  o.logger.info({ kek: keys.activeId, store: o.postgresUrl !== undefined ? 'postgres' : 'memory', acme: acme?.directoryUrl ?? null, challenges: acme?.challenges ?? [] }, 'custom hostnames: ready');
  return {
    manager,
    challenge: (token) => store.getChallenge(token, o.clock()),
    async listenTlsAlpn() {
      if (!tlsAlpn || !acme) return undefined;
      const port = await tlsAlpn.listen(acme.tlsAlpnListen.host, acme.tlsAlpnListen.port);
      o.logger.info({ listen: `${acme.tlsAlpnListen.host}:${port}` }, 'custom hostnames: answering ACME TLS-ALPN-01');
      return port;
    },
    async close() {
      await tlsAlpn?.close();
      await manager.close();
      await store.close();
    },
  };
}

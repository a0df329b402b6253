// The customer hostname lifecycle against a real ACME CA: Pebble (Let's
// Encrypt's test server) validates HTTP-01 by fetching the key authorization
// from bouncer's web service, resolving the hostnames with a tiny DNS
// responder; TLS-ALPN-01 against bouncer's responder, for the choice between the
// two. Pebble issues 20-second certificates here, so the worker renews
// on its own at two thirds of that, off any request path.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pino, type Logger } from 'pino';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/observability/logger.js';
import type { ServedHostname } from '../../src/core/served-hostname.js';
import { createAcmeIssuer } from '../../src/hostnames/acme-issuer.js';
import { createDnsCheck } from '../../src/hostnames/dns-check.js';
import { parseKekRing } from '../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../src/hostnames/manager.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createMemoryHostnameStore } from '../../src/hostnames/memory-store.js';
import { createHostnameMetrics } from '../../src/hostnames/metrics.js';
import { createTlsAlpnResponder, type TlsAlpnResponder, type TlsAlpnResult } from '../../src/hostnames/tls-alpn-responder.js';
import type { HostnameRecord, HostnameStore } from '../../src/hostnames/store.js';
import { createRootCa, type KeyPairPem } from '../../src/pki/generate.js';
import { openKeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { createAuthServer, type AuthServer } from '../../src/web/auth/server.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { waitFor } from '../helpers/ports.js';

const VALIDITY_SEC = 20;
const HOUR = 3_600_000;

let db: TestDatabase;
let tenants: PgTenantStore;
let dns: DnsResponder;
let web: AuthServer;
let pebble: Pebble;
let store: HostnameStore;
let manager: HostnameManager;
/** The same store and CA, without the DNS check: the CA's own validation decides. */
let noDnsCheck: HostnameManager;
let tenantCa: KeyPairPem;
let responder: TlsAlpnResponder;
/** What the web service was asked for (HTTP-01 tokens) and how the responder's connections ended. */
const httpAsked: string[] = [];
const alpnResults: TlsAlpnResult[] = [];
let logs = '';
let logger: Logger;
const registry = new Registry();
const kekText = `k1:${randomBytes(32).toString('base64')}`;

/** Resolves once the hostname's record satisfies `ok`, re-checking on every store change. */
function until(hostname: string, ok: (r: HostnameRecord) => boolean, what: string, timeoutMs = 60_000): Promise<HostnameRecord> {
  return new Promise((resolve, reject) => {
    let done = false;
    const check = (): void => {
      void store.get(hostname).then((r) => {
        if (done || r === undefined || !ok(r)) return;
        done = true;
        off();
        clearTimeout(timer);
        resolve(r);
      });
    };
    const off = store.onChange((h) => (h === hostname ? check() : undefined));
    const timer = setTimeout(() => {
      off();
      void store.get(hostname).then((r) => reject(new Error(`timed out waiting for ${hostname} to be ${what}; it is ${JSON.stringify(r && { state: r.state, reason: r.reason, detail: r.reasonDetail })}\npebble:\n${pebble.output().slice(-3000)}`)));
    }, timeoutMs);
    check();
  });
}

/** Resolves once the catalog serves the hostname (with a version other than `not`). */
function servedIn(m: HostnameManager, hostname: string, not?: string): Promise<ServedHostname> {
  return new Promise((resolve) => {
    const now = (): ServedHostname | undefined => {
      const e = m.catalog.get(hostname);
      return e !== undefined && e.version !== not ? e : undefined;
    };
    const found = now();
    if (found) return resolve(found);
    const off = m.catalog.subscribe(() => {
      const e = now();
      if (e) {
        off();
        resolve(e);
      }
    });
  });
}

beforeAll(async () => {
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString()));
  logger = createLogger('debug', sink);
  db = await createTestDatabase();
  tenants = await createPgTenantStore({ connection: db.connection });
  tenantCa = await createRootCa({ commonName: 'Shop Devices CA' });
  await tenants.putTenant({ name: 'shop', hostnames: ['www.shop.test'], mtls: { caPem: tenantCa.certPem } });
  await tenants.putTenant({ name: 'other', hostnames: ['taken.shop.test'], mtls: { mode: 'off' } });
  dns = await startDnsResponder({ 'pay.shop.test': ['127.0.0.1'], 'blocked.shop.test': ['127.0.0.1'], 'elsewhere.shop.test': ['127.0.0.2'], 'pref.shop.test': ['127.0.0.1'] });

  store = createMemoryHostnameStore();
  const keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: HOUR, nowMs: Date.now() });
  web = createAuthServer({
    config: () => ({ auth: undefined, apps: [] }),
    keys,
    revocation: createMemoryRevocationStore(),
    connectors: () => new Map(),
    logger: pino({ level: 'silent' }),
    clock: Date.now,
    acmeChallenge: (token) => {
      httpAsked.push(token);
      return store.getChallenge(token, Date.now());
    },
  });
  const webPort = await web.listen('127.0.0.1', 0);
  responder = createTlsAlpnResponder({ keyAuthorization: (h) => store.getTlsAlpnChallenge(h, Date.now()), logger: pino({ level: 'silent' }), onResult: (r) => alpnResults.push(r) });
  const tlsPort = await responder.listen('127.0.0.1', 0);
  pebble = await startPebble({ httpPort: webPort, tlsPort, dnsServer: dns.address, certificateValidityPeriodSec: VALIDITY_SEC, domainBlocklist: ['blocked.shop.test'] });

  const kek = parseKekRing(kekText, 'test');
  const issuer = createAcmeIssuer({ settings: { directoryUrl: pebble.directoryUrl, caPem: pebble.tlsCaPem, pollMinMs: 100, pollMaxMs: 500 }, store, keys: kek, clock: Date.now, logger });
  const metrics = createHostnameMetrics(registry, () => store.countByState(), () => manager.catalog.size);
  const common = { store, tenants, keys: kek, issuer, clock: Date.now, logger, metrics, retry: { initialMs: HOUR, maxMs: HOUR, retryAfterMaxMs: HOUR } };
  manager = createHostnameManager({ ...common, dnsCheck: createDnsCheck({ expectedAddresses: ['127.0.0.1'], servers: [dns.address] }), replicaId: 'a', workerIntervalMs: 200 });
  noDnsCheck = createHostnameManager({ ...common, replicaId: 'b' });
  await manager.start();
}, 60_000);

afterAll(async () => {
  await manager?.close();
  await noDnsCheck?.close();
  await web?.close();
  await responder?.close();
  await pebble?.stop();
  await dns?.close();
  await tenants?.close();
  await db?.drop();
});

describe('custom hostnames with ACME (Pebble)', () => {
  let first: ServedHostname;

  it('added → pending_validation → issuing → active, served in the catalog with the tenant\'s client CAs', async () => {
    const changes: string[][] = [];
    const off = manager.catalog.subscribe((c) => changes.push([...c.upserted]));
    const added = await manager.add('shop', 'Pay.Shop.Test');
    expect(added).toMatchObject({ hostname: 'pay.shop.test', tenant: 'shop', state: 'pending_validation', reason: null, source: 'acme' });
    const active = await until('pay.shop.test', (r) => r.state === 'active', 'active');
    const served = await servedIn(manager, 'pay.shop.test');
    off();
    expect(changes.flat()).toContain('pay.shop.test');
    expect(active.sealedKey?.startsWith('bk1.k1.')).toBe(true);
    first = served;
    expect(served.tenant).toBe('shop');
    expect(served.clientCaPems).toHaveLength(1);
    expect(new X509Certificate(served.clientCaPems[0] as string).subject).toContain('Shop Devices CA');
    const leaf = new X509Certificate(served.certificateChainPem);
    expect(leaf.checkHost('pay.shop.test')).toBe('pay.shop.test');
    expect(leaf.checkPrivateKey(createPrivateKey(served.privateKeyPem))).toBe(true);
    // Issued by Pebble: the chain's intermediate verifies the leaf and chains to Pebble's issuing root.
    const blocks = served.certificateChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const intermediate = new X509Certificate(blocks[1] as string);
    expect(leaf.verify(intermediate.publicKey)).toBe(true);
    const root = new X509Certificate(await pebble.issuingRoot());
    expect(intermediate.verify(root.publicKey)).toBe(true);
    // The ext_authz server resolves it to the tenant too.
    const routed = await tenants.resolveHost('pay.shop.test');
    expect(routed.kind === 'tenant' && routed.tenant.name).toBe('shop');
    // The challenge token was served and then forgotten.
    expect(logs).toContain('"state":"issuing"');
  }, 90_000);

  it('renews at about two thirds of the 20-second lifetime, passing through renewing, while the old certificate is served', async () => {
    const renewed = await servedIn(manager, 'pay.shop.test', first.version);
    const oldLeaf = new X509Certificate(first.certificateChainPem);
    const newLeaf = new X509Certificate(renewed?.certificateChainPem ?? '');
    expect(newLeaf.serialNumber).not.toBe(oldLeaf.serialNumber);
    // A new key per certificate.
    expect(createPublicKey(renewed?.privateKeyPem ?? '').export({ format: 'der', type: 'spki' }).equals(createPublicKey(first.privateKeyPem).export({ format: 'der', type: 'spki' }))).toBe(false);
    const lifetime = Date.parse(oldLeaf.validTo) - Date.parse(oldLeaf.validFrom);
    const record = await store.get('pay.shop.test');
    expect(record?.state).toBe('active');
    expect(record?.renewAt).toBe(Math.round((record?.notBefore ?? 0) + ((record?.notAfter ?? 0) - (record?.notBefore ?? 0)) * (2 / 3)));
    expect(lifetime).toBeLessThanOrEqual((VALIDITY_SEC + 1) * 1000);
    expect(logs).toMatch(/"hostname":"pay.shop.test"[^\n]*"from":"active","state":"renewing"/);
  }, 60_000);

  it('fails with dns_not_pointing_here, before any order, when the DNS points elsewhere', async () => {
    await manager.add('shop', 'elsewhere.shop.test');
    const failed = await until('elsewhere.shop.test', (r) => r.state === 'failed', 'failed');
    expect(failed.reason).toBe('dns_not_pointing_here');
    expect(failed.reasonDetail).toContain('127.0.0.2');
    expect(failed.orderUrl).toBeNull();
    // Retried later, with backoff.
    expect(failed.attempts).toBe(1);
    expect(failed.nextAttemptAt).toBeGreaterThan(Date.now() + HOUR / 2);
    expect(manager.catalog.get('elsewhere.shop.test')).toBeUndefined();
  }, 90_000);

  it('fails with challenge_failed when the CA itself cannot reach the challenge', async () => {
    await noDnsCheck.add('shop', 'elsewhere2.shop.test');
    dns.set('elsewhere2.shop.test', ['127.0.0.2']);
    expect(await noDnsCheck.runDue()).toBeGreaterThanOrEqual(1);
    const failed = await until('elsewhere2.shop.test', (r) => r.state === 'failed', 'failed');
    expect(failed.reason).toBe('challenge_failed');
    expect(failed.reasonDetail).toMatch(/connection|127\.0\.0\.2/);
  });

  it('fails with ca_refused when the CA will not issue for the name', async () => {
    await manager.add('shop', 'blocked.shop.test');
    const failed = await until('blocked.shop.test', (r) => r.state === 'failed', 'failed');
    expect(failed.reason).toBe('ca_refused');
    expect(failed.reasonDetail).toMatch(/rejectedIdentifier/);
  });

  it('a failed hostname retried after its DNS was fixed becomes active', async () => {
    dns.set('elsewhere.shop.test', ['127.0.0.1']);
    const retried = await manager.retry('elsewhere.shop.test');
    expect(retried.state).toBe('pending_validation');
    await until('elsewhere.shop.test', (r) => r.state === 'active', 'active');
    expect((await servedIn(manager, 'elsewhere.shop.test')).tenant).toBe('shop');
  }, 90_000);

  it('refuses bad names, unknown tenants, and hostnames of another tenant', async () => {
    await expect(manager.add('shop', 'pay_me.shop.test')).rejects.toMatchObject({ code: 'ERR_CUSTOM_HOSTNAME_INVALID' });
    await expect(manager.add('nobody', 'x.shop.test')).rejects.toMatchObject({ code: 'ERR_TENANT_NOT_FOUND' });
    await expect(manager.add('shop', 'taken.shop.test')).rejects.toMatchObject({ code: 'ERR_CUSTOM_HOSTNAME_TAKEN' });
    await expect(manager.add('other', 'pay.shop.test')).rejects.toMatchObject({ code: 'ERR_CUSTOM_HOSTNAME_TAKEN' });
    const wild = await manager.add('shop', '*.wild.shop.test');
    expect(wild).toMatchObject({ state: 'failed', reason: 'wildcard_needs_upload' });
  });

  it('shows every state and reason in the metrics', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/bouncer_custom_hostnames\{state="active",reason=""\} 2/);
    expect(text).toMatch(/bouncer_custom_hostnames\{state="failed",reason="challenge_failed"\} 1/);
    expect(text).toMatch(/bouncer_custom_hostnames\{state="failed",reason="ca_refused"\} 1/);
    expect(text).toMatch(/bouncer_custom_hostname_transitions_total\{state="renewing",reason=""\} [1-9]/);
    expect(text).toMatch(/bouncer_acme_orders_total\{result="issued"\} [3-9]/);
    expect(text).toMatch(/bouncer_acme_orders_total\{result="dns_not_pointing_here"\} 1/);
    expect(text).toMatch(/bouncer_custom_hostnames_served 2/);
  });

  it('removing a hostname takes it out of the catalog', async () => {
    const removed = new Promise<string[]>((resolve) => {
      const off = manager.catalog.subscribe((c) => {
        if (c.removed.length > 0) {
          off();
          resolve([...c.removed]);
        }
      });
    });
    await manager.remove('elsewhere.shop.test');
    expect(await removed).toEqual(['elsewhere.shop.test']);
    expect(await store.get('elsewhere.shop.test')).toBeUndefined();
  });

  it('logged the whole lifecycle without any key material', async () => {
    expect(logs).toContain('"state":"active"');
    expect(logs).not.toMatch(/PRIVATE KEY/);
    const secrets: string[] = [kekText.slice(3)];
    for (const s of manager.catalog.list()) secrets.push(...s.privateKeyPem.split('\n').filter((l) => l.length > 40));
    secrets.push(...first.privateKeyPem.split('\n').filter((l) => l.length > 40));
    for (const entry of await store.listSealed()) secrets.push(entry.sealedKey.split('.')[2] as string, entry.sealedKey.split('.')[3] as string);
    expect(secrets.length).toBeGreaterThan(4);
    for (const s of secrets) expect(logs).not.toContain(s);
  });
});

describe('the challenge type', () => {
  // The lifecycle's worker would go on renewing pay.shop.test over HTTP-01 meanwhile: stopped, so
  // every request seen here is the issuer's under test.
  beforeAll(async () => {
    await manager.close();
    await noDnsCheck.close();
  });

  const issuerPreferring = (challenges: Array<'http-01' | 'tls-alpn-01'>) =>
    createAcmeIssuer({ settings: { directoryUrl: pebble.directoryUrl, caPem: pebble.tlsCaPem, pollMinMs: 100, pollMaxMs: 500, challenges }, store, keys: parseKekRing(kekText, 'test'), clock: Date.now, logger });

  it.each([
    [['tls-alpn-01', 'http-01'], 'tls-alpn-01'],
    [['http-01', 'tls-alpn-01'], 'http-01'],
    [['tls-alpn-01'], 'tls-alpn-01'],
  ] as const)('%j: the CA offers both, %s is answered and the other never asked', async (challenges, used) => {
    // A name of its own per case: an order stored for a name already issued could be taken up again without any challenge.
    const hostname = `pref-${challenges.join('-')}.shop.test`;
    dns.set(hostname, ['127.0.0.1']);
    httpAsked.length = 0;
    alpnResults.length = 0;
    const outcome = await issuerPreferring([...challenges]).issue(hostname, null, async () => undefined);
    expect(outcome.ok).toBe(true);
    if (used === 'tls-alpn-01') {
      expect(alpnResults.filter((r) => r === 'answered').length).toBeGreaterThan(0);
      expect(httpAsked).toEqual([]);
    } else {
      expect(httpAsked.length).toBeGreaterThan(0);
      expect(alpnResults).toEqual([]);
    }
  }, 60_000);
});

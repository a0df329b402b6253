// Two bouncer replicas on one PostgreSQL, each with its own hostname store,
// manager and catalog, against Pebble: a hostname is ordered once however the
// replicas race, both serve it, they share one ACME account, a replica that
// dies mid-order hands the hostname on when its lease runs out, and the
// database holds keys only as envelopes.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { ServedHostname } from '../../src/core/served-hostname.js';
import { createAcmeIssuer } from '../../src/hostnames/acme-issuer.js';
import { parseKekRing, type KekRing } from '../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../src/hostnames/manager.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createHostnameMetrics } from '../../src/hostnames/metrics.js';
import { createPgHostnameStore, type PgHostnameStore } from '../../src/hostnames/pg-store.js';
import type { StoredAccount } from '../../src/hostnames/store.js';
import { createRootCa } from '../../src/pki/generate.js';
import { openKeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { createAuthServer, type AuthServer } from '../../src/web/auth/server.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';

let db: TestDatabase;
let tenants: PgTenantStore;
let dns: DnsResponder;
let web: AuthServer;
let pebble: Pebble;
let storeA: PgHostnameStore;
let storeB: PgHostnameStore;
let a: HostnameManager;
let b: HostnameManager;
let kek: KekRing;
const registryA = new Registry();
const registryB = new Registry();
const logger = pino({ level: 'silent' });

function servedIn(m: HostnameManager, hostname: string): Promise<ServedHostname> {
  return new Promise((resolve) => {
    const found = m.catalog.get(hostname);
    if (found) return resolve(found);
    const off = m.catalog.subscribe(() => {
      const e = m.catalog.get(hostname);
      if (e) {
        off();
        resolve(e);
      }
    });
  });
}

async function ordersIssued(registry: Registry): Promise<number> {
  const metric = (await registry.getSingleMetric('bouncer_acme_orders_total')?.get())?.values ?? [];
  return metric.filter((v) => v.labels.result === 'issued').reduce((n, v) => n + v.value, 0);
}

beforeAll(async () => {
  db = await createTestDatabase();
  tenants = await createPgTenantStore({ connection: db.connection });
  const ca = await createRootCa({ commonName: 'Fleet Devices CA' });
  await tenants.putTenant({ name: 'fleet', hostnames: ['www.fleet.test'], mtls: { caPem: ca.certPem } });
  dns = await startDnsResponder({ 'pay.fleet.test': ['127.0.0.1'], 'eu.fleet.test': ['127.0.0.1'] });
  [storeA, storeB] = await Promise.all([createPgHostnameStore({ connection: db.connection, logger }), createPgHostnameStore({ connection: db.connection, logger })]);
  const keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: 3_600_000, nowMs: Date.now() });
  // Replica B's web service answers the CA, whichever replica ordered.
  web = createAuthServer({
    config: () => ({ auth: undefined, apps: [] }),
    keys,
    revocation: createMemoryRevocationStore(),
    connectors: () => new Map(),
    logger,
    clock: Date.now,
    acmeChallenge: (token) => storeB.getChallenge(token, Date.now()),
  });
  pebble = await startPebble({ httpPort: await web.listen('127.0.0.1', 0), dnsServer: dns.address });
  kek = parseKekRing(`fleet1:${randomBytes(32).toString('base64')}`, 'test');
  const make = (store: PgHostnameStore, registry: Registry, id: string): HostnameManager => {
    const issuer = createAcmeIssuer({ settings: { directoryUrl: pebble.directoryUrl, caPem: pebble.tlsCaPem, pollMinMs: 100, pollMaxMs: 500 }, store, keys: kek, clock: Date.now, logger });
    let manager: HostnameManager | undefined;
    const metrics = createHostnameMetrics(registry, () => store.countByState(), () => manager?.catalog.size ?? 0);
    manager = createHostnameManager({ store, tenants, keys: kek, issuer, clock: Date.now, logger, metrics, replicaId: id });
    return manager;
  };
  a = make(storeA, registryA, 'replica-a');
  b = make(storeB, registryB, 'replica-b');
  // Neither is started: the test runs their worker passes itself, at the same moment.
  await Promise.all([a.catalog.reload(), b.catalog.reload()]);
  storeA.onChange((h) => void a.catalog.refresh(h));
  storeB.onChange((h) => void b.catalog.refresh(h));
}, 60_000);

afterAll(async () => {
  await a?.close();
  await b?.close();
  await storeA?.close();
  await storeB?.close();
  await web?.close();
  await pebble?.stop();
  await dns?.close();
  await tenants?.close();
  await db?.drop();
});

describe('two replicas on one PostgreSQL', () => {
  it('order once for a hostname both replicas find due, and both serve it', async () => {
    await a.add('fleet', 'pay.fleet.test');
    const handled = await Promise.all([a.runDue(), b.runDue()]);
    expect(handled.sort()).toEqual([0, 1]);
    const [onA, onB] = await Promise.all([servedIn(a, 'pay.fleet.test'), servedIn(b, 'pay.fleet.test')]);
    expect(onA.version).toBe(onB.version);
    expect(onB.privateKeyPem).toBe(onA.privateKeyPem);
    expect((await ordersIssued(registryA)) + (await ordersIssued(registryB))).toBe(1);
    expect((await db.query<{ n: string }>('SELECT count(*)::text AS n FROM acme_accounts')).rows[0]?.n).toBe('1');
    // Nothing left due: another pass by either replica orders nothing.
    expect(await Promise.all([a.runDue(), b.runDue()])).toEqual([0, 0]);
  }, 90_000);

  it('replicas asking for the ACME account together register one', async () => {
    let created = 0;
    const create = async (): Promise<StoredAccount> => {
      created++;
      await new Promise((r) => setTimeout(r, 200));
      return { directoryUrl: 'https://ca.example/dir', accountUrl: `https://ca.example/acct/${created}`, sealedKey: kek.seal('not a real key', 'x') };
    };
    const [fromA, fromB] = await Promise.all([storeA.account('https://ca.example/dir', create), storeB.account('https://ca.example/dir', create)]);
    expect(created).toBe(1);
    expect(fromA.accountUrl).toBe(fromB.accountUrl);
  });

  it('a replica that dies mid-order holds the hostname only until its lease runs out', async () => {
    await a.add('fleet', 'eu.fleet.test');
    const now = Date.now() + 1_000;
    const taken = await storeA.claimDue('replica-a', now, 60_000, 10);
    expect(taken.map((r) => r.hostname)).toEqual(['eu.fleet.test']);
    // A never finishes; B finds nothing to do while the lease holds...
    expect(await storeB.claimDue('replica-b', now + 59_000, 60_000, 10)).toEqual([]);
    // ...and takes over once it ran out; A's late results are then refused.
    expect((await storeB.claimDue('replica-b', now + 60_001, 60_000, 10)).map((r) => r.hostname)).toEqual(['eu.fleet.test']);
    expect(await storeA.update('eu.fleet.test', { state: 'failed' }, { leaseOwner: 'replica-a' }, now)).toBeUndefined();
    await storeB.release('eu.fleet.test', 'replica-b');
  });

  it('keeps keys in the database only as envelopes', async () => {
    const served = a.catalog.get('pay.fleet.test');
    if (!served) throw new Error('not served');
    const rows = await db.query<{ row: string }>("SELECT row_to_json(h)::text AS row FROM custom_hostnames h UNION ALL SELECT row_to_json(x)::text FROM acme_accounts x");
    const dump = rows.rows.map((r) => r.row).join('\n');
    expect(dump).toContain('bk1.fleet1.');
    expect(dump).not.toMatch(/PRIVATE KEY/);
    for (const line of served.privateKeyPem.split('\n').filter((l) => l.length > 40)) expect(dump).not.toContain(line);
    // The database refuses a plain key outright.
    await expect(db.query("UPDATE custom_hostnames SET sealed_key = '-----BEGIN PRIVATE KEY-----' WHERE hostname = 'pay.fleet.test'")).rejects.toThrow(/check constraint/);
  });

  it('a removal on one replica takes the hostname out of the other\'s catalog', async () => {
    const gone = new Promise<void>((resolve) => {
      const off = b.catalog.subscribe((c) => {
        if (c.removed.includes('pay.fleet.test')) {
          off();
          resolve();
        }
      });
    });
    await a.remove('pay.fleet.test');
    await gone;
    expect(b.catalog.get('pay.fleet.test')).toBeUndefined();
  });
});

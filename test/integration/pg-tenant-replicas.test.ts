// Two store instances on one database stand in for two bouncer replicas: a
// change made through one must take effect on the other via LISTEN/NOTIFY,
// although the other has the old answer cached.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { TenantChange, TenantLookup } from '../../src/stores/tenant-store.js';
import { NOW, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

let db: TestDatabase;
let a: PgTenantStore;
let b: PgTenantStore;
let root: TestCert;
let rotated: TestCert;
const seenByB: TenantChange[] = [];

/** NOTIFY is delivered in milliseconds; the issue allows "a few seconds", and we hold it to that. */
const PROPAGATION_MS = 3_000;

beforeAll(async () => {
  db = await createTestDatabase();
  [root, rotated] = await Promise.all([makeRoot('CN=Replica Root'), makeRoot('CN=Rotated Root')]);
  // Long negative TTLs, so only a notification can make a cached "unknown" go away in time.
  const cache = { negativeTtlMs: 60_000 };
  a = await createPgTenantStore({ connection: db.connection, now: () => NOW, cache });
  b = await createPgTenantStore({ connection: db.connection, now: () => NOW, cache });
  b.onChange((c) => seenByB.push(c));
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await db?.drop();
});

function nameOf(found: TenantLookup): string {
  return found.kind === 'tenant' ? found.tenant.name : found.kind;
}

describe('two replicas', () => {
  it('a tenant added on one resolves on the other, which had the host cached as unknown', async () => {
    expect(nameOf(await b.resolveHost('new.example'))).toBe('unknown');
    expect(b.cacheStats().unknownSize).toBe(1);
    await a.putTenant({ name: 'newco', hostnames: ['new.example'], mtls: { caPem: root.pem } });
    const started = Date.now();
    await waitFor('replica b to see newco', async () => nameOf(await b.resolveHost('new.example')) === 'newco', PROPAGATION_MS, 20);
    expect(Date.now() - started).toBeLessThan(PROPAGATION_MS);
    expect(seenByB).toContainEqual({ kind: 'tenant', name: 'newco', hostnames: ['new.example'] });
  });

  it('a wildcard added on one replaces cached unknowns it covers on the other', async () => {
    expect(nameOf(await b.resolveHost('eu.wild.example'))).toBe('unknown');
    await a.putTenant({ name: 'wild', hostnames: ['*.wild.example'], mtls: { mode: 'off' } });
    await waitFor('replica b to see the wildcard', async () => nameOf(await b.resolveHost('eu.wild.example')) === 'wild', PROPAGATION_MS);
  });

  it('a CA rotated on one is served by the other instead of its cached copy', async () => {
    const before = await b.resolveHost('new.example');
    expect(before.kind === 'tenant' && before.tenant.mtls.trust?.roots[0]?.fingerprint256).toBe(root.cert.fingerprint256);
    await a.putTenant({ name: 'newco', hostnames: ['new.example'], mtls: { caPem: rotated.pem } });
    await waitFor(
      'replica b to serve the rotated CA',
      async () => {
        const found = await b.resolveHost('new.example');
        return found.kind === 'tenant' && found.tenant.mtls.trust?.roots[0]?.fingerprint256 === rotated.cert.fingerprint256;
      },
      PROPAGATION_MS,
    );
  });

  it('a hostname moved between tenants on one is re-resolved on the other', async () => {
    await a.putTenant({ name: 'mover', hostnames: ['mover.example', 'moving.example'], mtls: { mode: 'off' } });
    await waitFor('b to see mover', async () => nameOf(await b.resolveHost('moving.example')) === 'mover', PROPAGATION_MS);
    await a.removeHostname('mover', 'moving.example');
    await a.addHostname('newco', 'moving.example');
    await waitFor('b to see the move', async () => nameOf(await b.resolveHost('moving.example')) === 'newco', PROPAGATION_MS);
  });

  it('a tenant deleted on one stops resolving on the other', async () => {
    expect(nameOf(await b.resolveHost('mover.example'))).toBe('mover');
    await a.deleteTenant('mover');
    await waitFor('b to forget mover', async () => nameOf(await b.resolveHost('mover.example')) === 'unknown', PROPAGATION_MS);
  });

  it('a change made on b reaches a too: both directions work', async () => {
    expect(nameOf(await a.resolveHost('from-b.example'))).toBe('unknown');
    await b.putTenant({ name: 'from-b', hostnames: ['from-b.example'], mtls: { mode: 'off' } });
    await waitFor('a to see from-b', async () => nameOf(await a.resolveHost('from-b.example')) === 'from-b', PROPAGATION_MS);
  });
});

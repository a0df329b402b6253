// The database goes away under a running store: its connections are killed with
// pg_terminate_backend and new ones are refused (ALLOW_CONNECTIONS false), as in
// a server restart or failover. Cached tenants must keep being served, unknown
// hosts must get store_unavailable (not "unknown"), health must say so, and the
// store must recover by itself, catching up on what changed while it was away.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { TenantChange, TenantLookup } from '../../src/stores/tenant-store.js';
import { NOW, makeRoot } from '../helpers/pki-fixtures.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

let db: TestDatabase;
let store: PgTenantStore;
const changes: TenantChange[] = [];

const nameOf = (found: TenantLookup): string => (found.kind === 'tenant' ? found.tenant.name : found.kind);

beforeAll(async () => {
  db = await createTestDatabase();
  const root = await makeRoot('CN=Outage Root');
  store = await createPgTenantStore({
    connection: db.connection,
    now: () => NOW,
    // Fast retries keep the test short; the defaults are for production.
    reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
    cache: { negativeTtlMs: 60_000 },
  });
  store.onChange((c) => changes.push(c));
  await store.putTenant({ name: 'warm', hostnames: ['warm.example'], mtls: { caPem: root.pem } });
  await store.putTenant({ name: 'doomed', hostnames: ['doomed.example'], mtls: { mode: 'off' } });
  await store.putTenant({ name: 'cold', hostnames: ['cold.example'], mtls: { mode: 'off' } });
  // The store hears its own writes too, and each evicts what it touched; let them
  // arrive before caching, or a late one would empty the cache the test relies on.
  await waitFor('our own change notifications', () => changes.length === 3);
});

afterAll(async () => {
  await db?.allowConnections(true).catch(() => undefined);
  await store?.close();
  await db?.drop();
});

describe('database outage', () => {
  it('starts healthy with two tenants cached', async () => {
    expect(store.health()).toMatchObject({ healthy: true, reason: undefined });
    expect(nameOf(await store.resolveHost('warm.example'))).toBe('warm');
    expect(nameOf(await store.resolveHost('doomed.example'))).toBe('doomed');
  });

  it('keeps serving cached tenants, answers store_unavailable for the rest, and reports it', async () => {
    await db.allowConnections(false);
    expect(await db.terminateConnections()).toBeGreaterThan(0);
    await waitFor('the store to notice', () => !store.health().healthy, 5_000);
    expect(store.health().reason).toEqual(expect.any(String));

    expect(nameOf(await store.resolveHost('warm.example'))).toBe('warm');
    // Not cached: the store cannot know, and must not claim the tenant does not exist.
    const cold = await store.resolveHost('cold.example');
    expect(cold).toEqual({ kind: 'store_unavailable', detail: expect.stringContaining('unavailable') });
    expect(nameOf(await store.resolveHost('never-heard-of.example'))).toBe('store_unavailable');
    // Writes fail with a code the admin API maps to 503, and nothing is half-written.
    await expect(store.putTenant({ name: 'during', hostnames: ['during.example'], mtls: { mode: 'off' } })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    await expect(store.listTenants()).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
  });

  it('stays down while the database refuses connections', async () => {
    await new Promise((done) => setTimeout(done, 600));
    expect(store.health().healthy).toBe(false);
    expect(nameOf(await store.resolveHost('warm.example'))).toBe('warm');
  });

  it('recovers by itself, drops what changed unseen, and loses no stored tenant', async () => {
    // Changed behind the store's back while it was not listening: no NOTIFY reaches it.
    await db.query(`DELETE FROM tenants WHERE name = 'doomed'`);
    const resyncsBefore = changes.filter((c) => c.kind === 'resync').length;
    await db.allowConnections(true);
    await waitFor('the store to recover', () => store.health().healthy, 10_000);

    expect(changes.filter((c) => c.kind === 'resync').length).toBe(resyncsBefore + 1);
    expect(nameOf(await store.resolveHost('warm.example'))).toBe('warm');
    expect(nameOf(await store.resolveHost('cold.example'))).toBe('cold');
    expect(nameOf(await store.resolveHost('doomed.example'))).toBe('unknown');
    expect((await store.listTenants()).items.map((t) => t.name)).toEqual(['cold', 'warm']);
    const put = await store.putTenant({ name: 'after', hostnames: ['after.example'], mtls: { mode: 'off' } });
    expect(put.created).toBe(true);
  });

  it('is listening again: a change made by another writer arrives by NOTIFY', async () => {
    const other = await createPgTenantStore({ connection: db.connection, now: () => NOW });
    try {
      expect(nameOf(await store.resolveHost('late.example'))).toBe('unknown');
      await other.putTenant({ name: 'late', hostnames: ['late.example'], mtls: { mode: 'off' } });
      await waitFor('the recovered store to hear of late', async () => nameOf(await store.resolveHost('late.example')) === 'late', 3_000);
    } finally {
      await other.close();
    }
  });

  it('recovers from a bare kill of its connections (a failover) without an outage being visible for cached tenants', async () => {
    const resyncs = (): number => changes.filter((c) => c.kind === 'resync').length;
    const before = resyncs();
    expect(await db.terminateConnections()).toBeGreaterThan(0);
    expect(nameOf(await store.resolveHost('warm.example'))).toBe('warm');
    // A resync is emitted only after a reconnect, so this proves the store noticed and came back.
    await waitFor('the store to reconnect', () => resyncs() > before && store.health().healthy, 5_000);
    expect(nameOf(await store.resolveHost('after.example'))).toBe('after');
  });
});

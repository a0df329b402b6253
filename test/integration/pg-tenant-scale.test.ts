// 100,000 tenants in PostgreSQL: a warm tenant is served from memory without a
// query (so it costs what it costs with 10 tenants), a cold one is loaded on
// first use, and the cache never grows past its bound.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { TenantLookup } from '../../src/stores/tenant-store.js';
import { sha256Hex } from '../../src/stores/tenant-input-check.js';
import { NOW, makeRoot } from '../helpers/pki-fixtures.js';
import { bulkInsertTenants, createCountingPool, createTestDatabase, type CountingPool, type TestDatabase } from '../helpers/pg.js';

const TENANTS = 100_000;
const CACHE_MAX = 1_000;

let big: TestDatabase;
let small: TestDatabase;
let bigPool: CountingPool;
let smallPool: CountingPool;
let bigStore: PgTenantStore;
let smallStore: PgTenantStore;

const host = (i: number): string => `t${String(i).padStart(6, '0')}.bulk.example`;
const nameOf = (found: TenantLookup): string => (found.kind === 'tenant' ? found.tenant.name : found.kind);

beforeAll(async () => {
  [big, small] = await Promise.all([createTestDatabase(), createTestDatabase()]);
  const root = await makeRoot('CN=Bulk Root');
  bigPool = createCountingPool(big.connection);
  smallPool = createCountingPool(small.connection);
  const cache = { maxEntries: CACHE_MAX };
  bigStore = await createPgTenantStore({ connection: big.connection, pool: bigPool.pool, now: () => NOW, cache });
  smallStore = await createPgTenantStore({ connection: small.connection, pool: smallPool.pool, now: () => NOW, cache });
  await bulkInsertTenants(big, TENANTS, root.pem, sha256Hex(root.pem));
  await bulkInsertTenants(small, 10, root.pem, sha256Hex(root.pem));
}, 120_000);

afterAll(async () => {
  await bigStore?.close();
  await smallStore?.close();
  await bigPool?.pool.end();
  await smallPool?.pool.end();
  await big?.drop();
  await small?.drop();
});

/** Fastest of several rounds of `n` warm lookups, in ms: the minimum filters out GC pauses and scheduler noise. */
async function warmLookups(store: PgTenantStore, h: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) expect((await store.resolveHost(h)).kind).toBe('tenant');
}

describe('100,000 tenants', () => {
  it('holds them all', async () => {
    const count = await big.query<{ n: string }>('SELECT count(*)::text AS n FROM tenants');
    expect(Number(count.rows[0]?.n)).toBe(TENANTS);
  });

  it('loads a cold tenant on first use with one query, then serves it with none', async () => {
    bigPool.reset();
    const cold = await bigStore.resolveHost(host(77_777));
    expect(nameOf(cold)).toBe('bulk-077777');
    expect(cold.kind === 'tenant' && cold.tenant.mtls.trust?.roots).toHaveLength(1);
    // One indexed query, whatever the tenant count (the time it takes is a benchmark's business, not a test's).
    expect(bigPool.hits()).toBe(1);

    bigPool.reset();
    for (let i = 0; i < 1_000; i++) expect(nameOf(await bigStore.resolveHost(host(77_777)))).toBe('bulk-077777');
    expect(bigPool.hits()).toBe(0);
  });

  it('answers a warm tenant with the same work as a store with 10 tenants: no query, one cache read', async () => {
    await smallStore.resolveHost(host(7));
    bigPool.reset();
    smallPool.reset();
    const n = 20_000;
    await warmLookups(bigStore, host(77_777), n);
    await warmLookups(smallStore, host(7), n);
    expect(bigPool.hits()).toBe(0);
    expect(smallPool.hits()).toBe(0);
  });

  it('keeps the cache within its bound however many tenants are touched', async () => {
    for (let i = 1; i <= CACHE_MAX * 3; i++) expect(nameOf(await bigStore.resolveHost(host(i * 31)))).toBe(`bulk-${String(i * 31).padStart(6, '0')}`);
    const stats = bigStore.cacheStats();
    expect(stats.max).toBe(CACHE_MAX);
    expect(stats.size).toBeLessThanOrEqual(CACHE_MAX);
    expect(stats.size).toBeGreaterThan(CACHE_MAX / 2);
  });

  it('remembers unknown hosts briefly, so repeated misses do not reach the database', async () => {
    bigPool.reset();
    for (let i = 0; i < 100; i++) expect(nameOf(await bigStore.resolveHost('nobody.bulk.example'))).toBe('unknown');
    expect(bigPool.hits()).toBe(1);
  });

  it('sends concurrent lookups of one cold host to the database once', async () => {
    bigPool.reset();
    const all = await Promise.all(Array.from({ length: 50 }, () => bigStore.resolveHost(host(99_999))));
    expect(new Set(all.map(nameOf))).toEqual(new Set(['bulk-099999']));
    expect(bigPool.hits()).toBe(1);
  });
});

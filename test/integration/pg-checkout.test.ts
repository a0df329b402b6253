// A pooled connection that dies while a transaction holds it (a failover, or
// pg_terminate_backend landing between two queries) must surface as that
// transaction's error, never as an unheard 'error' event that ends the process.
// Jest fails the file on an uncaught exception, so these tests also prove none
// escaped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { checkout } from '../../src/stores/postgres/checkout.js';
import { createPgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe('checkout', () => {
  it('hears a connection killed between two queries of a transaction, discards it, and the pool carries on', async () => {
    const pool = new pg.Pool({ ...db.connection, max: 1, application_name: 'checkout-test' });
    const poolErrors: Error[] = [];
    pool.on('error', (err) => poolErrors.push(err));
    try {
      const held = await checkout(pool);
      await held.client.query('BEGIN');
      // Idle in transaction, no query running: the server's goodbye arrives as an 'error' event.
      expect(await db.terminateConnections('checkout-test')).toBe(1);
      await waitFor('the connection to report its death', () => held.failure() !== undefined);
      await expect(held.client.query('SELECT 1')).rejects.toThrow();
      held.release();
      // The dead connection was dropped: the single slot opens a fresh one.
      const again = await checkout(pool);
      expect((await again.client.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
      expect(again.failure()).toBeUndefined();
      again.release();
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('a healthy connection goes back to the pool and is reused', async () => {
    const pool = new pg.Pool({ ...db.connection, max: 1, application_name: 'checkout-reuse' });
    try {
      const first = await checkout(pool);
      const pid = (await first.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      first.release();
      first.release(); // a second release is a no-op, not a double release into the pool
      const second = await checkout(pool);
      expect((await second.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid).toBe(pid);
      second.release();
    } finally {
      await pool.end();
    }
  });
});

describe('tenant store writes while the database kills its connections', () => {
  it('every write either lands or fails with ERR_STORE_UNAVAILABLE, and the store writes again afterwards', async () => {
    const store = await createPgTenantStore({ connection: db.connection, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    try {
      const outcomes: string[] = [];
      // Writes race a stream of terminations, so some connections die mid-transaction.
      const killer = (async () => {
        for (let i = 0; i < 20; i++) {
          await db.terminateConnections();
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          try {
            await store.putTenant({ name: `t${i}`, hostnames: [`t${i}.example`], mtls: { mode: 'off' } });
            outcomes.push('ok');
          } catch (err) {
            outcomes.push((err as { code?: string }).code ?? String(err));
          }
        }),
      );
      await killer;
      expect(outcomes).toHaveLength(40);
      expect(outcomes.filter((o) => o !== 'ok' && o !== 'ERR_STORE_UNAVAILABLE')).toEqual([]);
      await waitFor('the store to recover', () => store.health().healthy, 10_000);
      await store.putTenant({ name: 'after', hostnames: ['after.example'], mtls: { mode: 'off' } });
      expect((await store.getTenant('after'))?.name).toBe('after');
    } finally {
      await store.close();
    }
  });
});

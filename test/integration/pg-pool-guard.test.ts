// A pooled connection that dies while someone holds it (a failover, or
// pg_terminate_backend landing between two queries) must surface as the holder's
// query error, never as an unheard 'error' event that ends the process.
// Jest fails the file on an uncaught exception, so these tests also prove none
// escaped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { guardPoolConnections } from '../../src/stores/postgres/pool-guard.js';
import { createPgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db?.drop();
});

describe('guardPoolConnections', () => {
  it('hears a connection killed between two queries of a transaction, and the pool discards it and carries on', async () => {
    const pool = new pg.Pool({ ...db.connection, max: 1, application_name: 'guard-test' });
    const heard: Error[] = [];
    guardPoolConnections(pool, (err) => heard.push(err));
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      // Idle in transaction, no query running: the server's goodbye arrives as an 'error' event
      // on a checked-out connection, which pg-pool does not listen to.
      expect(await db.terminateConnections('guard-test')).toBe(1);
      await waitFor('the connection to report its death', () => heard.length > 0);
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release();
      // The dead connection was dropped: the single slot opens a fresh one, guarded too.
      const again = await pool.connect();
      expect((await again.query<{ n: number }>('SELECT 1 AS n')).rows[0]?.n).toBe(1);
      expect(again.listenerCount('error')).toBeGreaterThan(0);
      again.release();
      expect(pool.totalCount).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('stops guarding new connections once told to', async () => {
    const pool = new pg.Pool({ ...db.connection, max: 1, application_name: 'guard-stop' });
    const stop = guardPoolConnections(pool, () => undefined);
    try {
      stop();
      const client = await pool.connect();
      // Checked out and unguarded: pg-pool itself has removed its idle listener.
      expect(client.listenerCount('error')).toBe(0);
      client.release();
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

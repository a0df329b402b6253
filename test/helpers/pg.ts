// PostgreSQL for integration tests: each test file gets a database of its own
// (bouncer_test_<random>) on the run's private server, which the global setup
// starts in a temporary folder on an ephemeral port (test/helpers/private-postgres.js)
// and names in BOUNCER_TEST_PG_URL; every file drops its database afterwards.
// Set BOUNCER_TEST_PG_URL yourself to run against another server (trust auth,
// a user allowed to CREATE DATABASE, the URL's database used for CREATE/DROP).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { TenantStoreError } from '../../src/stores/tenant-store.js';

/** Where the test server is; its database is the maintenance one we connect to for CREATE/DROP DATABASE. */
export const PG_SERVER: pg.ClientConfig = serverFromEnv(process.env.BOUNCER_TEST_PG_URL);

function serverFromEnv(url: string | undefined): pg.ClientConfig {
  if (!url) throw new Error('BOUNCER_TEST_PG_URL is not set: the global setup (test/helpers/global-setup.js) starts PostgreSQL for the run');
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 5432),
    user: decodeURIComponent(u.username) || 'postgres',
    database: decodeURIComponent(u.pathname.slice(1)) || 'postgres',
  };
}

export interface TestDatabase {
  readonly name: string;
  /** Client settings for the test database, to give a store. */
  readonly connection: pg.ClientConfig;
  /** Runs SQL on the test database through a connection of the test's own (not a store's). */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * Kills every store connection to the test database, like a server restart
   * or a failover does, optionally only those with one `application_name`.
   * Returns how many were terminated.
   */
  terminateConnections(applicationName?: string): Promise<number>;
  /** With false, the server refuses new connections to the test database: it is "down" for the stores. */
  allowConnections(allow: boolean): Promise<void>;
  drop(): Promise<void>;
}

/** Creates an empty database with a random name; call `drop()` in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `bouncer_test_${randomBytes(6).toString('hex')}`;
  await admin(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  const connection: pg.ClientConfig = { ...PG_SERVER, database: name };
  // Opened before any outage is simulated, so tests can still read and write
  // "behind the stores' backs" while the database refuses new connections.
  const own = new pg.Client({ ...connection, application_name: 'bouncer-test-admin' });
  await own.connect();
  own.on('error', () => undefined);
  return {
    name,
    connection,
    query: (text, values) => own.query(text, values),
    async terminateConnections(applicationName) {
      const res = await admin<{ n: string }>(
        `SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity
         WHERE datname = $1 AND application_name <> 'bouncer-test-admin' AND ($2::text IS NULL OR application_name = $2)`,
        [name, applicationName ?? null],
      );
      return Number(res.rows[0]?.n ?? 0);
    },
    async allowConnections(allow) {
      await admin(`ALTER DATABASE ${pg.escapeIdentifier(name)} ALLOW_CONNECTIONS ${allow ? 'true' : 'false'}`);
    },
    async drop() {
      await own.end().catch(() => undefined);
      await admin(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    },
  };
}

/**
 * One statement on the maintenance database over a connection of its own:
 * other suites on this server may kill connections to it, and a long-lived
 * one would then take this test (and the DROP that cleans up) down with it.
 */
async function admin<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ ...PG_SERVER, application_name: 'bouncer-test-admin' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await client.query<R>(text, values);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A pool that counts its use, to prove a lookup did (or did not) reach the database. */
export interface CountingPool {
  readonly pool: pg.Pool;
  /**
   * Connections checked out since the last reset. Every statement, whether sent
   * with `pool.query` or inside a transaction, needs one, so zero means the
   * database was not asked.
   */
  hits(): number;
  reset(): void;
}

export function createCountingPool(connection: pg.ClientConfig): CountingPool {
  const pool = new pg.Pool({ ...connection, max: 4 });
  pool.on('error', () => undefined);
  let hits = 0;
  pool.on('acquire', () => {
    hits += 1;
  });
  return { pool, hits: () => hits, reset: () => void (hits = 0) };
}

/**
 * Inserts `count` tenants straight into the schema with set-based SQL (a
 * hundred thousand in a couple of seconds, where one API call each would take
 * minutes): `bulk-000001` … served on `t000001.bulk.example`, all with mode
 * `require` and the same CA bundle.
 */
export async function bulkInsertTenants(db: TestDatabase, count: number, caPem: string, caSha256: string): Promise<void> {
  await db.query('BEGIN');
  try {
    await db.query(
      `INSERT INTO tenants (name, mtls_mode, stale_crl) SELECT 'bulk-' || lpad(i::text, 6, '0'), 'require', 'deny' FROM generate_series(1, $1) AS i`,
      [count],
    );
    await db.query(
      `INSERT INTO tenant_hostnames (hostname, tenant_name) SELECT 't' || lpad(i::text, 6, '0') || '.bulk.example', 'bulk-' || lpad(i::text, 6, '0') FROM generate_series(1, $1) AS i`,
      [count],
    );
    await db.query(
      `INSERT INTO tenant_ca_bundles (tenant_name, pem, sha256) SELECT 'bulk-' || lpad(i::text, 6, '0'), $2, $3 FROM generate_series(1, $1) AS i`,
      [count, caPem, caSha256],
    );
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK');
    throw err;
  }
}

/** The one waitFor of the tests (polling until a check gives a value), re-exported for the database tests. */
export { waitFor } from './ports.js';

/** What a tenant store refused `p` with: the error's code, field and message (fails the test if it was accepted). */
export async function storeRefusal(p: Promise<unknown>): Promise<{ code: string; field: string | undefined; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TenantStoreError);
  const e = err as TenantStoreError;
  return { code: e.code, field: e.field, message: e.message };
}

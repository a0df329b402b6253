// The PostgreSQL tenant store against a real server: migrations, CRUD, the
// validation errors an admin API will surface, and host resolution rules.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { MIGRATIONS, runMigrations } from '../../src/stores/postgres/migrations.js';
import { TenantStoreError, type TenantInput, type TenantLookup, type TenantStoreErrorCode } from '../../src/stores/tenant-store.js';
import { DAY, NOW, makeCrl, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import pg from 'pg';

let db: TestDatabase;
let store: PgTenantStore;
let root: TestCert;
let otherRoot: TestCert;

beforeAll(async () => {
  db = await createTestDatabase();
  [root, otherRoot] = await Promise.all([makeRoot('CN=Acme Root'), makeRoot('CN=Other Root')]);
  store = await createPgTenantStore({ connection: db.connection, now: () => NOW });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

function tenantName(found: TenantLookup): string | undefined {
  return found.kind === 'tenant' ? found.tenant.name : found.kind;
}

async function codeOf(work: Promise<unknown>): Promise<TenantStoreErrorCode | 'resolved'> {
  try {
    await work;
    return 'resolved';
  } catch (err) {
    if (err instanceof TenantStoreError) return err.code;
    throw err;
  }
}

describe('migrations', () => {
  it('records every migration once, and a second run applies nothing', async () => {
    const rows = await db.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
    expect(rows.rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
    expect(store.migrations.applied).toEqual(MIGRATIONS.map((m) => m.version));
    const pool = new pg.Pool(db.connection);
    pool.on('error', () => undefined);
    try {
      expect(await runMigrations(pool)).toEqual({ applied: [], unknown: [] });
    } finally {
      await pool.end();
    }
  });

  it('lets replicas that start together on an empty database race safely', async () => {
    const fresh = await createTestDatabase();
    try {
      const replicas = await Promise.all(Array.from({ length: 4 }, () => createPgTenantStore({ connection: fresh.connection })));
      const applied = replicas.map((r) => r.migrations.applied.length);
      await Promise.all(replicas.map((r) => r.close()));
      // Exactly one replica applied the schema; the others waited on the lock and found it current.
      expect(applied.sort()).toEqual([0, 0, 0, MIGRATIONS.length]);
      const count = await fresh.query<{ n: string }>('SELECT count(*)::text AS n FROM schema_migrations');
      expect(Number(count.rows[0]?.n)).toBe(MIGRATIONS.length);
    } finally {
      await fresh.drop();
    }
  });

  it('refuses to run when an applied migration was edited', async () => {
    const pool = new pg.Pool(db.connection);
    pool.on('error', () => undefined);
    try {
      const edited = MIGRATIONS.map((m) => ({ ...m, sql: `${m.sql}\n-- edited` }));
      await expect(runMigrations(pool, edited)).rejects.toMatchObject({ code: 'ERR_STORE_MIGRATION' });
    } finally {
      await pool.end();
    }
  });
});

describe('CRUD', () => {
  const acme = (): TenantInput => ({
    name: 'acme',
    hostnames: ['Acme.Example.', 'api.acme.example', '*.apps.acme.example'],
    mtls: { mode: 'require', caPem: root.pem, exemptPaths: ['/healthz', '/public/*'] },
  });

  it('creates a tenant, normalising hostnames and filling defaults', async () => {
    const put = await store.putTenant(acme());
    expect(put.created).toBe(true);
    expect(put.record).toMatchObject({
      name: 'acme',
      hostnames: ['*.apps.acme.example', 'acme.example', 'api.acme.example'],
      mtls: { mode: 'require', caPem: root.pem, crlPems: [], staleCrl: 'deny', exemptPaths: ['/healthz', '/public/*'] },
      version: 1,
    });
    expect(await store.getTenant('acme')).toEqual(put.record);
  });

  it('resolves the parsed tenant by exact name and by one-label wildcard only', async () => {
    const found = await store.resolveHost('acme.example');
    expect(found.kind).toBe('tenant');
    if (found.kind !== 'tenant') return;
    expect(found.tenant.mtls.trust?.roots.map((c) => c.fingerprint256)).toEqual([root.cert.fingerprint256]);
    expect(found.tenant.mtls.exemptPaths).toEqual(['/healthz', '/public/*']);
    expect(tenantName(await store.resolveHost('eu.apps.acme.example'))).toBe('acme');
    // RFC 6125 §6.4.3: a wildcard covers exactly one label.
    expect(tenantName(await store.resolveHost('a.eu.apps.acme.example'))).toBe('unknown');
    expect(tenantName(await store.resolveHost('apps.acme.example'))).toBe('unknown');
    expect(tenantName(await store.resolveHost(''))).toBe('unknown');
  });

  it('prefers an exact hostname of another tenant over a wildcard, even with the wildcard tenant cached', async () => {
    expect(tenantName(await store.resolveHost('pay.apps.acme.example'))).toBe('acme');
    expect(tenantName(await store.resolveHost('shop.apps.acme.example'))).toBe('acme');
    await store.putTenant({ name: 'pay', hostnames: ['shop.apps.acme.example'], mtls: { mode: 'off' } });
    expect(tenantName(await store.resolveHost('shop.apps.acme.example'))).toBe('pay');
    expect(tenantName(await store.resolveHost('pay.apps.acme.example'))).toBe('acme');
  });

  it('replaces a tenant, bumping its version, and serves the new hostnames at once', async () => {
    expect(tenantName(await store.resolveHost('api.acme.example'))).toBe('acme');
    const put = await store.putTenant({ ...acme(), hostnames: ['acme.example', 'v2.acme.example'] });
    expect(put.created).toBe(false);
    expect(put.record.version).toBe(2);
    expect(put.record.hostnames).toEqual(['acme.example', 'v2.acme.example']);
    expect(tenantName(await store.resolveHost('api.acme.example'))).toBe('unknown');
    expect(tenantName(await store.resolveHost('v2.acme.example'))).toBe('acme');
  });

  it('conditional writes: create only when absent, replace only the version that was read', async () => {
    const code = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof TenantStoreError ? e.code : String(e)));
    // A create of an existing name, and a replace of a version someone else has moved on from.
    expect(await code(store.putTenant({ name: 'cond', hostnames: ['cond.example'], mtls: { mode: 'off' } }, { absent: true }))).toBe('ok');
    expect(await code(store.putTenant({ name: 'cond', hostnames: ['cond2.example'], mtls: { mode: 'off' } }, { absent: true }))).toBe('ERR_TENANT_CONFLICT');
    const read = await store.getTenant('cond');
    expect(read?.version).toBe(1);
    await store.addHostname('cond', 'cond3.example');
    expect(await code(store.putTenant({ name: 'cond', hostnames: ['cond.example'], mtls: { mode: 'off' } }, { version: 1 }))).toBe('ERR_TENANT_CONFLICT');
    // The hostname added meanwhile was not lost.
    expect((await store.getTenant('cond'))?.hostnames).toEqual(['cond.example', 'cond3.example']);
    expect(await code(store.putTenant({ name: 'cond', hostnames: ['cond.example', 'cond3.example'], mtls: { mode: 'off' } }, { version: 2 }))).toBe('ok');
    expect(await code(store.putTenant({ name: 'nobody', hostnames: ['nobody.example'], mtls: { mode: 'off' } }, { version: 1 }))).toBe('ERR_TENANT_CONFLICT');
    // Ten creates of one name at once: exactly one wins, none replaces another.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => code(store.putTenant({ name: 'race', hostnames: [`race-${i}.example`], mtls: { mode: 'off' } }, { absent: true }))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'ERR_TENANT_CONFLICT')).toHaveLength(9);
    expect((await store.getTenant('race'))?.version).toBe(1);
    await store.deleteTenant('cond');
    await store.deleteTenant('race');
  });

  it('adds and removes single hostnames', async () => {
    const added = await store.addHostname('acme', 'Extra.Acme.Example');
    expect(added.hostnames).toContain('extra.acme.example');
    expect(added.version).toBe(3);
    expect(tenantName(await store.resolveHost('extra.acme.example'))).toBe('acme');
    const removed = await store.removeHostname('acme', 'extra.acme.example');
    expect(removed.hostnames).not.toContain('extra.acme.example');
    expect(tenantName(await store.resolveHost('extra.acme.example'))).toBe('unknown');
  });

  it('lists tenants a page at a time', async () => {
    await store.putTenant({ name: 'zeta', hostnames: ['zeta.example'], mtls: { mode: 'off' } });
    const first = await store.listTenants({ limit: 2 });
    expect(first.items.map((t) => t.name)).toEqual(['acme', 'pay']);
    expect(first.next).toBe('pay');
    const second = await store.listTenants({ limit: 2, after: first.next });
    expect(second.items.map((t) => t.name)).toEqual(['zeta']);
    expect(second.next).toBeUndefined();
    expect(await codeOf(store.listTenants({ limit: 0 }))).toBe('ERR_TENANT_INVALID');
  });

  it('deletes a tenant with its hostnames, CA and CRLs', async () => {
    await store.deleteTenant('zeta');
    expect(await store.getTenant('zeta')).toBeUndefined();
    expect(tenantName(await store.resolveHost('zeta.example'))).toBe('unknown');
    const left = await db.query<{ n: string }>(`SELECT (SELECT count(*) FROM tenant_hostnames WHERE tenant_name = 'zeta')::text AS n`);
    expect(left.rows[0]?.n).toBe('0');
    expect(await codeOf(store.deleteTenant('zeta'))).toBe('ERR_TENANT_NOT_FOUND');
  });

  it('stores CRLs that verify against the tenant CA and serves them parsed', async () => {
    const leaf = await makeLeaf('CN=revoked', root);
    const crl = await makeCrl({ issuer: root, revoked: [leaf.cert] });
    const put = await store.putTenant({ name: 'crl-tenant', hostnames: ['crl.example'], mtls: { caPem: root.pem, crlPems: [crl.pem], staleCrl: 'use' } });
    expect(put.record.mtls.crlPems).toEqual([crl.pem]);
    const found = await store.resolveHost('crl.example');
    expect(found.kind === 'tenant' && [...(found.tenant.mtls.trust?.crls[0]?.revokedSerials ?? [])]).toEqual([leaf.cert.serial]);
    expect(found.kind === 'tenant' && found.tenant.mtls.trust?.staleCrl).toBe('use');
  });
});

describe('validation errors', () => {
  type Case = readonly [string, TenantStoreErrorCode, string, () => Promise<TenantInput>];
  const cases: readonly Case[] = [
    ['bad name', 'ERR_TENANT_INVALID', 'name', async () => ({ name: 'Acme Corp', hostnames: ['x.example'], mtls: { mode: 'off' } })],
    ['no hostnames', 'ERR_TENANT_INVALID', 'hostnames', async () => ({ name: 'h0', hostnames: [], mtls: { mode: 'off' } })],
    ['IP hostname', 'ERR_TENANT_INVALID', 'hostnames[0]', async () => ({ name: 'h1', hostnames: ['10.0.0.1'], mtls: { mode: 'off' } })],
    ['TLD wildcard', 'ERR_TENANT_INVALID', 'hostnames[1]', async () => ({ name: 'h2', hostnames: ['ok.example', '*.example'], mtls: { mode: 'off' } })],
    ['bad exempt path', 'ERR_TENANT_INVALID', 'mtls.exemptPaths[0]', async () => ({ name: 'h3', hostnames: ['h3.example'], mtls: { mode: 'off', exemptPaths: ['/a/../admin'] } })],
    ['require without CA', 'ERR_TENANT_INVALID', 'mtls.caPem', async () => ({ name: 'c0', hostnames: ['c0.example'] })],
    ['CA with mode off', 'ERR_TENANT_INVALID', 'mtls.caPem', async () => ({ name: 'c1', hostnames: ['c1.example'], mtls: { mode: 'off', caPem: root.pem } })],
    ['not PEM', 'ERR_CA_INVALID', 'mtls.caPem', async () => ({ name: 'c2', hostnames: ['c2.example'], mtls: { caPem: 'hello' } })],
    ['bad base64', 'ERR_CA_INVALID', 'mtls.caPem', async () => ({ name: 'c3', hostnames: ['c3.example'], mtls: { caPem: '-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n' } })],
    ['client cert, not a CA', 'ERR_CA_INVALID', 'mtls.caPem', async () => ({ name: 'c4', hostnames: ['c4.example'], mtls: { caPem: (await makeLeaf('CN=leaf', root)).pem } })],
    ['expired CA', 'ERR_CA_INVALID', 'mtls.caPem', async () => ({ name: 'c5', hostnames: ['c5.example'], mtls: { caPem: (await makeRoot('CN=Old', { notAfter: NOW - DAY })).pem } })],
    ['CRL not PEM', 'ERR_CRL_INVALID', 'mtls.crlPems[0]', async () => ({ name: 'r0', hostnames: ['r0.example'], mtls: { caPem: root.pem, crlPems: ['nope'] } })],
    [
      'CRL signed by another key',
      'ERR_CRL_INVALID',
      'mtls.crlPems[0]',
      async () => ({ name: 'r1', hostnames: ['r1.example'], mtls: { caPem: root.pem, crlPems: [(await makeCrl({ issuer: root, signingKeys: otherRoot.keys })).pem] } }),
    ],
  ];

  it.each(cases)('%s → %s at %s', async (_label, code, field, make) => {
    const input = await make();
    const err = await store.putTenant(input).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(TenantStoreError);
    expect(err).toMatchObject({ code, field });
    expect(await store.getTenant(input.name)).toBeUndefined();
  });

  it('refuses a hostname owned by another tenant, naming the owner, and changes nothing', async () => {
    await store.putTenant({ name: 'first', hostnames: ['shared.example'], mtls: { mode: 'off' } });
    const err = await store.putTenant({ name: 'second', hostnames: ['second.example', 'SHARED.example'], mtls: { mode: 'off' } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_HOSTNAME_TAKEN', owner: 'first' });
    expect(await store.getTenant('second')).toBeUndefined();
    expect(tenantName(await store.resolveHost('shared.example'))).toBe('first');
    expect(await codeOf(store.addHostname('pay', 'shared.example'))).toBe('ERR_HOSTNAME_TAKEN');
  });

  it('reports the single-hostname errors with codes', async () => {
    expect(await codeOf(store.addHostname('nobody', 'x.example'))).toBe('ERR_TENANT_NOT_FOUND');
    expect(await codeOf(store.addHostname('first', 'bad host'))).toBe('ERR_TENANT_INVALID');
    expect(await codeOf(store.removeHostname('first', 'other.example'))).toBe('ERR_HOSTNAME_NOT_FOUND');
    expect(await codeOf(store.removeHostname('first', 'shared.example'))).toBe('ERR_TENANT_INVALID');
  });

  it('lets only one of two tenants claiming the same new hostname at once win', async () => {
    const results = await Promise.allSettled(
      ['racer-a', 'racer-b', 'racer-c'].map((name) => store.putTenant({ name, hostnames: [`${name}.example`, 'contested.example'], mtls: { mode: 'off' } })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_HOSTNAME_TAKEN' });
    const owners = await db.query<{ tenant_name: string }>(`SELECT tenant_name FROM tenant_hostnames WHERE hostname = 'contested.example'`);
    expect(owners.rows).toHaveLength(1);
  });
});

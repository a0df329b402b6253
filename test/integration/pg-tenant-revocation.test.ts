// Tenants in PostgreSQL carry `mtls.revocation` as file tenants do: checked with
// the config file's rules, stored, read back, added to a database created before
// the column existed, and applied by the ext_authz path (a configured CRL URL of a
// stored tenant is fetched and denies a revoked certificate, passes a good one).
import { jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { createAuthzServer, type AuthzServer, type AuthzState } from '../../src/authz/server.js';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { parseCertificateBundle } from '../../src/core/cert-parse.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createRootCa, issueClientCert, issueCrl, type KeyPairPem } from '../../src/pki/generate.js';
import { createCrlFetcher } from '../../src/revocation/crl-fetcher.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOcspChecker } from '../../src/revocation/ocsp-checker.js';
import { createRevocationView } from '../../src/revocation/revocation-view.js';
import { followCrlTenants } from '../../src/revocation/tenant-sources.js';
import { MIGRATIONS, runMigrations } from '../../src/stores/postgres/migrations.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { RevocationInput } from '../../src/stores/tenant-revocation.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { createTestDatabase, storeRefusal, waitFor, type TestDatabase } from '../helpers/pg.js';

jest.setTimeout(60_000);

let db: TestDatabase;
let store: PgTenantStore;
let ca: KeyPairPem;
let good: KeyPairPem;
let revoked: KeyPairPem;

beforeAll(async () => {
  db = await createTestDatabase();
  // A database as an older build left it: migrations 1-3 and a tenant stored then.
  const pool = new pg.Pool({ ...db.connection, max: 1 });
  await runMigrations(pool, MIGRATIONS.filter((m) => m.version < 4));
  await pool.end();
  ca = await createRootCa({ commonName: 'revocation root CA', validDays: 30 });
  [good, revoked] = await Promise.all([issueClientCert({ issuer: ca, commonName: 'good-device', validDays: 2 }), issueClientCert({ issuer: ca, commonName: 'revoked-device', validDays: 2 })]);
  await db.query("INSERT INTO tenants (name, mtls_mode, stale_crl) VALUES ('old', 'require', 'deny')");
  await db.query("INSERT INTO tenant_hostnames (hostname, tenant_name) VALUES ('old.example', 'old')");
  await db.query("INSERT INTO tenant_ca_bundles (tenant_name, pem, sha256) VALUES ('old', $1, 'x')", [ca.certPem]);
  store = await createPgTenantStore({ connection: db.connection });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

const put = (name: string, revocation: RevocationInput | null, mode: 'require' | 'off' = 'require') =>
  store.putTenant({ name, hostnames: [`${name}.example`], mtls: mode === 'off' ? { mode, revocation } : { mode, caPem: ca.certPem, revocation } });

const refusal = storeRefusal;

describe('schema', () => {
  it('migrates a database made before the column: the old tenant reads back with no revocation checks', async () => {
    expect(store.migrations.applied).toEqual(MIGRATIONS.filter((m) => m.version >= 4).map((m) => m.version));
    const old = await store.getTenant('old');
    expect(old?.mtls.revocation).toBeUndefined();
    const found = await store.resolveHost('old.example');
    expect(found.kind === 'tenant' && found.tenant.mtls.revocation).toBeUndefined();
  });
});

describe('stored and read back', () => {
  it('fills the file defaults in, and the served tenant carries the same policy', async () => {
    const { record } = await put('acme', { ocsp: 'prefer', crl: 'require', crlUrls: ['http://crl.acme.test/ca.crl', 'http://crl.acme.test/ca.crl'] });
    const expected = { ocsp: 'prefer', ocspUrl: undefined, ocspNonce: true, crl: 'require', crlUrls: ['http://crl.acme.test/ca.crl'], crlDistributionPoints: true };
    expect(record.mtls.revocation).toEqual(expected);
    expect((await store.getTenant('acme'))?.mtls.revocation).toEqual(expected);
    const found = await store.resolveHost('acme.example');
    expect(found.kind === 'tenant' && found.tenant.mtls.revocation).toEqual(expected);
    // Every field is written out in the row, so a later change of a default leaves it as it was.
    const row = (await db.query<{ revocation: unknown }>("SELECT revocation FROM tenants WHERE name = 'acme'")).rows[0];
    expect(row?.revocation).toEqual({ ocsp: 'prefer', ocspUrl: null, ocspNonce: true, crl: 'require', crlUrls: ['http://crl.acme.test/ca.crl'], crlDistributionPoints: true, intermediates: false });
  });

  it('both modes off, or null, store no policy; a replace without it removes it', async () => {
    expect((await put('quiet', { ocsp: 'off', crl: 'off' })).record.mtls.revocation).toBeUndefined();
    await put('quiet', { ocsp: 'require', ocspUrl: 'https://ocsp.quiet.test/', ocspNonce: false });
    expect((await store.getTenant('quiet'))?.mtls.revocation).toMatchObject({ ocsp: 'require', ocspUrl: 'https://ocsp.quiet.test/', ocspNonce: false, crl: 'off' });
    expect((await put('quiet', null)).record.mtls.revocation).toBeUndefined();
    expect((await db.query<{ revocation: unknown }>("SELECT revocation FROM tenants WHERE name = 'quiet'")).rows[0]?.revocation).toBeNull();
  });
});

describe("refused with the file's rules and a clear error", () => {
  it.each([
    [{ ocsp: 'always' }, 'mtls.revocation.ocsp', /must be one of off, prefer, require/],
    [{ ocspUrl: 'ldap://dir.acme.test' }, 'mtls.revocation.ocspUrl', /http:\/\/ or https:\/\/ URL without credentials/],
    [{ crl: 'prefer', crlUrls: ['https://user:pw@crl.acme.test/'] }, 'mtls.revocation.crlUrls[0]', /without credentials/],
    [{ crl: 'require', crlDistributionPoints: false }, 'mtls.revocation.crl', /crl is require but no CRL source is set: list crlUrls or set crlDistributionPoints: true/],
    [{ crl: 'prefer', crlUrls: Array.from({ length: 17 }, (_, i) => `http://crl${i}.test/`) }, 'mtls.revocation.crlUrls', /at most 16 CRL URLs/],
    [{ ocspNonce: 'yes' }, 'mtls.revocation.ocspNonce', /true or false/],
    [{ crl_urls: [] }, 'mtls.revocation.crl_urls', /unknown field/],
  ])('%j', async (revocation, field, message) => {
    const r = await refusal(put('bad', revocation as never));
    expect(r).toMatchObject({ code: 'ERR_TENANT_INVALID', field });
    expect(r.message).toMatch(message);
    expect(await store.getTenant('bad')).toBeUndefined();
  });

  it('with mode off', async () => {
    const r = await refusal(put('bad', { ocsp: 'require' }, 'off'));
    expect(r).toMatchObject({ code: 'ERR_TENANT_INVALID', field: 'mtls.revocation' });
    expect(r.message).toMatch(/mode is off/);
  });
});

describe('a row edited by hand into something the rules refuse', () => {
  it('makes that tenant unusable with its own problem code, never a silently dropped setting', async () => {
    await put('edited', { ocsp: 'require' });
    await db.query(`UPDATE tenants SET revocation = '{"ocsp": "sometimes"}' WHERE name = 'edited'`);
    await db.query(`SELECT pg_notify('bouncer_tenants', '{"t":"edited","h":["edited.example"]}')`);
    const found = await waitFor('the edited row to be loaded again', async () => {
      const f = await store.resolveHost('edited.example');
      return f.kind === 'tenant' && f.tenant.mtls.trust?.roots.length === 0 ? f : undefined;
    });
    const trust = found.kind === 'tenant' ? found.tenant.mtls.trust : undefined;
    expect(trust?.roots).toEqual([]);
    expect(trust?.problems?.map((p) => p.code)).toEqual(['revocation_invalid']);
    const record = await store.getTenant('edited');
    expect(record?.trust).toMatchObject({ status: 'unusable', problems: [{ code: 'revocation_invalid' }] });
  });
});

describe('through the ext_authz path', () => {
  let crlServer: Server;
  let crlBody = '';
  let hits = 0;
  let server: AuthzServer | undefined;
  let client: ReturnType<typeof authzClient> | undefined;

  beforeAll(async () => {
    crlServer = createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(crlBody);
    });
    await new Promise<void>((r) => crlServer.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    client?.close();
    await server?.close(0);
    crlServer.closeAllConnections();
    await new Promise<void>((r) => crlServer.close(() => r()));
  });

  const peer = (host: string, pem: string): ReturnType<typeof checkRequest> => {
    const req = checkRequest(host);
    return { ...req, attributes: { ...req.attributes, source: { ...req.attributes?.source, certificate: encodeURIComponent(pem) } } };
  };

  it("a stored tenant's crl_urls are fetched on its first request, deny the revoked certificate and pass the good one", async () => {
    const serial = parseCertificateBundle(revoked.certPem)[0]!.serial;
    crlBody = await issueCrl({ issuer: ca, revoked: [{ serialNumber: serial }], crlNumber: 1n });
    const url = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/ca.crl`;
    await put('fetched', { crl: 'require', crlUrls: [url], crlDistributionPoints: false });
    const metrics = createMetrics({ defaultMetrics: false });
    const deps = { now: Date.now, logger: pino({ level: 'silent' }), metrics: createRevocationMetrics(metrics.registry), settings: { ...REVOCATION_DEFAULTS } };
    const crls = createCrlFetcher(deps);
    // As the app wires it: the file lists no tenant, and a reload must not drop the stored tenants' sources.
    const follow = followCrlTenants(crls, store);
    const state: AuthzState = {
      tenants: buildTenantIndex([]),
      tenantStore: { store, timeoutMs: 5_000 },
      verifier: createCertVerifier({ maxEntries: 100, ttlMs: 60_000 }),
      revocation: createRevocationView({ ocsp: createOcspChecker(deps), crls }),
      xfcc: { trustedHop: false, maxElements: 1 },
    };
    server = createAuthzServer({ getState: () => state, logger: pino({ level: 'silent' }), metrics });
    client = authzClient(await server.listen('127.0.0.1', 0));
    try {
      const denied = await client.check(peer('fetched.example', revoked.certPem));
      expect(denied.status.code).toBe(7);
      expect(JSON.stringify(denied)).toContain('client_cert_revoked');
      expect((await client.check(peer('fetched.example', good.certPem))).status.code).toBe(0);
      follow.sync([]);
      expect((await client.check(peer('fetched.example', good.certPem))).status.code).toBe(0);
      expect(JSON.stringify(await client.check(peer('fetched.example', revoked.certPem)))).toContain('client_cert_revoked');
      expect(hits).toBe(1);
      // A tenant without revocation settings, same CA: the revoked certificate passes there (tenants are isolated).
      expect((await client.check(peer('old.example', revoked.certPem))).status.code).toBe(0);
    } finally {
      follow.close();
      crls.close();
    }
  });
});

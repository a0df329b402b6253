// Tenants in PostgreSQL carry `mtls.certificate_policies` and
// `mtls.revocation.intermediates` as file tenants do: checked with the config
// file's rules, stored, read back, added to a database created before the
// column existed, and applied by the ext_authz path (a tenant requiring a policy
// the device's path lacks denies it; a revoked intermediate on a fetched CRL
// denies its devices when the tenant checks intermediates).
import 'reflect-metadata';
import { jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { pino } from 'pino';
import { createAuthzServer, type AuthzServer, type AuthzState } from '../../src/authz/server.js';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { ANY_POLICY, DEFAULT_POLICY_INPUTS } from '../../src/core/cert-policy.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { createCrlFetcher } from '../../src/revocation/crl-fetcher.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOcspChecker } from '../../src/revocation/ocsp-checker.js';
import { createRevocationView } from '../../src/revocation/revocation-view.js';
import { followCrlTenants } from '../../src/revocation/tenant-sources.js';
import { MIGRATIONS, runMigrations } from '../../src/stores/postgres/migrations.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { TenantInput } from '../../src/stores/tenant-store.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { createTestDatabase, storeRefusal, waitFor, type TestDatabase } from '../helpers/pg.js';
import { DAY, makeCrl, makeIntermediate, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { certificatePolicies } from '../helpers/x509-extensions.js';

jest.setTimeout(60_000);

const P1 = '1.3.6.1.4.1.99999.1.1';
const P2 = '1.3.6.1.4.1.99999.1.2';

let db: TestDatabase;
let store: PgTenantStore;
let root: TestCert;
let intermediate: TestCert;
let policyLeaf: TestCert;
let chainLeaf: TestCert;

// Valid by the real clock, which the store and the ext_authz server judge with.
const valid = () => ({ notBefore: Date.now() - DAY, notAfter: Date.now() + 30 * DAY });

beforeAll(async () => {
  db = await createTestDatabase();
  root = await makeRoot('CN=Policy Store Root', valid());
  intermediate = await makeIntermediate('CN=Policy Store Issuing CA', root, valid());
  [policyLeaf, chainLeaf] = await Promise.all([
    makeLeaf('CN=device under P1', root, { ...valid(), extraExtensions: [certificatePolicies([P1])] }),
    makeLeaf('CN=device under the intermediate', intermediate, valid()),
  ]);
  // A database as an older build left it: migrations before the column, and a tenant stored then with revocation settings of that time.
  const pool = new pg.Pool({ ...db.connection, max: 1 });
  await runMigrations(pool, MIGRATIONS.filter((m) => m.version < 6));
  await pool.end();
  await db.query(`INSERT INTO tenants (name, mtls_mode, stale_crl, revocation) VALUES ('old', 'require', 'deny', '{"ocsp": "prefer", "ocspUrl": null, "ocspNonce": true, "crl": "off", "crlUrls": [], "crlDistributionPoints": true}')`);
  await db.query("INSERT INTO tenant_hostnames (hostname, tenant_name) VALUES ('old.example', 'old')");
  await db.query("INSERT INTO tenant_ca_bundles (tenant_name, pem, sha256) VALUES ('old', $1, 'x')", [root.pem]);
  store = await createPgTenantStore({ connection: db.connection });
});

afterAll(async () => {
  await store?.close();
  await db?.drop();
});

type Mtls = NonNullable<TenantInput['mtls']>;
const put = (name: string, mtls: Partial<Mtls>) => store.putTenant({ name, hostnames: [`${name}.example`], mtls: mtls.mode === 'off' ? mtls : { caPem: root.pem, ...mtls } });

const refusal = storeRefusal;

describe('schema', () => {
  it('migrates a database made before the column: the old tenant keeps the defaults', async () => {
    expect(store.migrations.applied).toEqual(MIGRATIONS.filter((m) => m.version >= 6).map((m) => m.version));
    const old = await store.getTenant('old');
    expect(old?.mtls.certificatePolicies).toBeUndefined();
    // Its revocation settings, written before intermediates existed, read back as leaf only.
    expect(old?.mtls.revocation).toMatchObject({ ocsp: 'prefer' });
    expect(old?.mtls.revocation?.intermediates).toBeUndefined();
    const found = await store.resolveHost('old.example');
    if (found.kind !== 'tenant') throw new Error(`old.example: ${found.kind}`);
    expect(found.tenant.mtls.trust?.policy).toBeUndefined();
    expect(found.tenant.mtls.trust?.roots).toHaveLength(1);
    expect(found.tenant.mtls.revocation?.intermediates).toBeUndefined();
  });
});

describe('stored and read back', () => {
  it('fills the file defaults in, and the served tenant carries the same inputs', async () => {
    const { record } = await put('acme', { certificatePolicies: { accept: [P1, 'anyPolicy', P1], explicit: true } });
    const expected = { ...DEFAULT_POLICY_INPUTS, initialPolicySet: [P1, ANY_POLICY], initialExplicitPolicy: true };
    expect(record.mtls.certificatePolicies).toEqual(expected);
    expect((await store.getTenant('acme'))?.mtls.certificatePolicies).toEqual(expected);
    const found = await store.resolveHost('acme.example');
    expect(found.kind === 'tenant' && found.tenant.mtls.trust?.policy).toEqual(expected);
    // Every field is written out in the row, so a later change of a default leaves it as it was.
    const row = (await db.query<{ certificate_policies: unknown }>("SELECT certificate_policies FROM tenants WHERE name = 'acme'")).rows[0];
    expect(row?.certificate_policies).toEqual({ accept: [P1, ANY_POLICY], explicit: true, inhibitMapping: false, inhibitAny: false });
  });

  it('null or absent stores nothing; a replace without it removes it', async () => {
    expect((await put('plain', { certificatePolicies: null })).record.mtls.certificatePolicies).toBeUndefined();
    await put('plain', { certificatePolicies: { inhibitMapping: true, inhibitAny: true } });
    expect((await store.getTenant('plain'))?.mtls.certificatePolicies).toEqual({ ...DEFAULT_POLICY_INPUTS, initialPolicyMappingInhibit: true, initialAnyPolicyInhibit: true });
    expect((await put('plain', {})).record.mtls.certificatePolicies).toBeUndefined();
    expect((await db.query<{ certificate_policies: unknown }>("SELECT certificate_policies FROM tenants WHERE name = 'plain'")).rows[0]?.certificate_policies).toBeNull();
  });

  it('revocation intermediates are stored, read back and served', async () => {
    const { record } = await put('chain', { revocation: { ocsp: 'prefer', intermediates: true } });
    expect(record.mtls.revocation).toMatchObject({ ocsp: 'prefer', intermediates: true });
    const row = (await db.query<{ revocation: { intermediates?: unknown } }>("SELECT revocation FROM tenants WHERE name = 'chain'")).rows[0];
    expect(row?.revocation.intermediates).toBe(true);
    const found = await store.resolveHost('chain.example');
    expect(found.kind === 'tenant' && found.tenant.mtls.revocation?.intermediates).toBe(true);
    await put('chain', { revocation: { ocsp: 'prefer' } });
    expect((await store.getTenant('chain'))?.mtls.revocation?.intermediates).toBeUndefined();
  });
});

describe("refused with the file's rules and a clear error", () => {
  it.each([
    ['an OID with a leading zero', { certificatePolicies: { accept: ['1.02.3'] } }, 'mtls.certificatePolicies.accept[0]', /certificate policy OID in dotted form .*got '1\.02\.3'/],
    ['a name instead of an OID', { certificatePolicies: { accept: ['policy-one'] } }, 'mtls.certificatePolicies.accept[0]', /certificate policy OID in dotted form/],
    ['an empty accept', { certificatePolicies: { accept: [] } }, 'mtls.certificatePolicies.accept', /at least one policy/],
    ['65 policies', { certificatePolicies: { accept: Array.from({ length: 65 }, (_, i) => `1.2.${i}`) } }, 'mtls.certificatePolicies.accept', /at most 64 are allowed/],
    ['a flag that is not a boolean', { certificatePolicies: { explicit: 'yes' } }, 'mtls.certificatePolicies.explicit', /true or false/],
    ['an unknown key', { certificatePolicies: { inhibit_any: true } }, 'mtls.certificatePolicies.inhibit_any', /unknown field/],
    ['intermediates that is not a boolean', { revocation: { ocsp: 'prefer', intermediates: 1 } }, 'mtls.revocation.intermediates', /true or false/],
  ])('%s', async (_what, mtls, field, message) => {
    const r = await refusal(put('bad', mtls as never));
    expect(r).toMatchObject({ code: 'ERR_TENANT_INVALID', field });
    expect(r.message).toMatch(message);
    expect(await store.getTenant('bad')).toBeUndefined();
  });

  it('with mode off', async () => {
    const r = await refusal(put('bad', { mode: 'off', certificatePolicies: { explicit: true } }));
    expect(r).toMatchObject({ code: 'ERR_TENANT_INVALID', field: 'mtls.certificatePolicies' });
    expect(r.message).toMatch(/mode is off/);
  });
});

describe('a row edited by hand into something the rules refuse', () => {
  it('makes that tenant unusable with its own problem code, never a silently dropped requirement', async () => {
    await put('edited', { certificatePolicies: { accept: [P2], explicit: true } });
    await db.query(`UPDATE tenants SET certificate_policies = '{"accept": ["not-an-oid"], "explicit": true}' WHERE name = 'edited'`);
    await db.query(`SELECT pg_notify('bouncer_tenants', '{"t":"edited","h":["edited.example"]}')`);
    const found = await waitFor('the edited row to be loaded again', async () => {
      const f = await store.resolveHost('edited.example');
      return f.kind === 'tenant' && f.tenant.mtls.trust?.roots.length === 0 ? f : undefined;
    });
    const trust = found.kind === 'tenant' ? found.tenant.mtls.trust : undefined;
    expect(trust?.problems?.map((p) => p.code)).toEqual(['certificate_policies_invalid']);
    expect(trust?.problems?.[0]?.message).toMatch(/certificate_policies\.accept\[0\]/);
    const record = await store.getTenant('edited');
    expect(record?.trust).toMatchObject({ status: 'unusable', problems: [{ code: 'certificate_policies_invalid' }] });
  });
});

describe('through the ext_authz path', () => {
  let crlServer: Server;
  const crlBodies = new Map<string, string>();
  let server: AuthzServer | undefined;
  let client: ReturnType<typeof authzClient> | undefined;
  let crls: ReturnType<typeof createCrlFetcher> | undefined;
  let follow: ReturnType<typeof followCrlTenants> | undefined;

  beforeAll(async () => {
    crlServer = createServer((req, res) => {
      const body = crlBodies.get(req.url ?? '');
      if (body === undefined) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(body);
    });
    await new Promise<void>((r) => crlServer.listen(0, '127.0.0.1', r));
    const now = Date.now();
    const crlTimes = { thisUpdate: now - 60_000, nextUpdate: now + DAY };
    const [rootCrl, intermediateCrl] = await Promise.all([makeCrl({ issuer: root, revoked: [intermediate.cert], ...crlTimes }), makeCrl({ issuer: intermediate, ...crlTimes })]);
    crlBodies.set('/root.crl', rootCrl.pem);
    crlBodies.set('/intermediate.crl', intermediateCrl.pem);

    const metrics = createMetrics({ defaultMetrics: false });
    const deps = { now: Date.now, logger: pino({ level: 'silent' }), metrics: createRevocationMetrics(metrics.registry), settings: { ...REVOCATION_DEFAULTS } };
    crls = createCrlFetcher(deps);
    follow = followCrlTenants(crls, store);
    const state: AuthzState = {
      tenants: buildTenantIndex([]),
      tenantStore: { store, timeoutMs: 5_000 },
      verifier: createCertVerifier({ maxEntries: 100, ttlMs: 60_000 }),
      revocation: createRevocationView({ ocsp: createOcspChecker(deps), crls }),
      xfcc: { trustedHop: false, maxElements: 1 },
    };
    server = createAuthzServer({ getState: () => state, logger: pino({ level: 'silent' }), metrics });
    client = authzClient(await server.listen('127.0.0.1', 0));
  });

  afterAll(async () => {
    follow?.close();
    crls?.close();
    client?.close();
    await server?.close(0);
    crlServer.closeAllConnections();
    await new Promise<void>((r) => crlServer.close(() => r()));
  });

  /** A check as Envoy sends it: the peer certificate, and the chain in XFCC (SANITIZE_SET with cert and chain details). */
  const peer = (host: string, leaf: TestCert, intermediates: readonly TestCert[] = []): ReturnType<typeof checkRequest> => {
    const certificate = encodeURIComponent(leaf.pem);
    const extra: Record<string, string> = intermediates.length > 0 ? { 'x-forwarded-client-cert': `Cert="${certificate}";Chain="${encodeURIComponent([leaf, ...intermediates].map((c) => c.pem).join(''))}"` } : {};
    const req = checkRequest(host, '/', extra);
    return { ...req, attributes: { ...req.attributes, source: { ...req.attributes?.source, certificate } } };
  };
  const check = async (req: ReturnType<typeof checkRequest>) => {
    const res = await (client as ReturnType<typeof authzClient>).check(req);
    return { code: res.status.code, text: JSON.stringify(res) };
  };

  it('a tenant requiring a policy the device path lacks denies it with client_cert_policy_mismatch; one accepting it allows', async () => {
    await put('needs-p2', { certificatePolicies: { accept: [P2], explicit: true } });
    await put('needs-p1', { certificatePolicies: { accept: [P1], explicit: true } });
    const denied = await check(peer('needs-p2.example', policyLeaf));
    expect(denied.code).toBe(7);
    expect(denied.text).toContain('client_cert_policy_mismatch');
    expect((await check(peer('needs-p1.example', policyLeaf))).code).toBe(0);
    // The same device at a tenant without policy settings: RFC 5280's defaults, nothing required.
    expect((await check(peer('old.example', policyLeaf))).code).toBe(0);
  });

  it('with intermediates: true, an intermediate revoked on a fetched CRL denies its devices; without it, only the leaf is checked', async () => {
    const base = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}`;
    const crlUrls = [`${base}/root.crl`, `${base}/intermediate.crl`];
    await put('chain-checked', { revocation: { crl: 'require', crlUrls, crlDistributionPoints: false, intermediates: true } });
    await put('leaf-checked', { revocation: { crl: 'require', crlUrls, crlDistributionPoints: false } });
    const denied = await check(peer('chain-checked.example', chainLeaf, [intermediate]));
    expect(denied.code).toBe(7);
    expect(denied.text).toContain('client_cert_revoked');
    expect(denied.text).toContain('Policy Store Issuing CA');
    expect((await check(peer('leaf-checked.example', chainLeaf, [intermediate]))).code).toBe(0);
  });
});

/**
 * The admin API as `bouncer serve` runs it in the default mode: tenants from
 * the config file (listed, never written), decisions recorded by ext_authz,
 * revocations reaching the session gate.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { createRootCa } from '../../src/pki/generate.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';

const TOKEN = 'serve-admin-token-abcdefghijklmnop';
let dir: string;
let app: BouncerApp;
let client: ReturnType<typeof authzClient>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-admin-serve-'));
  const ca = await createRootCa({ commonName: 'file tenant root', keyAlgorithm: 'ec-p256', validDays: 30 });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  const old = await createRootCa({ commonName: 'file tenant old root', notBefore: new Date(Date.now() - 400 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
  writeFileSync(join(dir, 'old-ca.pem'), old.certPem);
  writeFileSync(join(dir, 'rotation.pem'), old.certPem + ca.certPem);
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${hashAdminToken(TOKEN)}, scopes: [admin] }
tenants:
  - { name: acme, hostnames: [pay.acme.test], mtls: { ca: ./ca.pem } }
  - { name: open, hostnames: [www.open.test], mtls: { mode: "off" } }
  - { name: rotating, hostnames: [www.rotating.test], mtls: { ca: ./rotation.pem } }
  - { name: stale, hostnames: [www.stale.test], mtls: { ca: ./old-ca.pem } }
`,
  );
  app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), {}), logger: pino({ level: 'silent' }), env: {}, watch: false });
  client = authzClient(app.authzPort);
});

afterAll(async () => {
  client?.close();
  await app?.close(0);
  rmSync(dir, { recursive: true, force: true });
});

const api = (path: string, init: RequestInit = {}): Promise<Response> =>
  fetch(`http://127.0.0.1:${app.adminPort}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...init.headers } });

test('the file tenants are listed and shown, with their CA', async () => {
  expect(app.adminPort).toBeGreaterThan(0);
  const list = (await (await api('/v1/tenants')).json()) as { items: Array<{ name: string; mode: string }> };
  expect(list.items.map((t) => [t.name, t.mode])).toEqual([
    ['acme', 'require'],
    ['open', 'off'],
    ['rotating', 'require'],
    ['stale', 'require'],
  ]);
  const acme = (await (await api('/v1/tenants/acme')).json()) as Record<string, unknown>;
  expect(JSON.stringify(acme)).toContain('BEGIN CERTIFICATE');
});

test("each file tenant's trust status is listed, and shown with its reasons", async () => {
  const list = (await (await api('/v1/tenants')).json()) as { items: Array<{ name: string; trust_status: string }> };
  expect(list.items.map((t) => [t.name, t.trust_status])).toEqual([
    ['acme', 'ok'],
    ['open', 'ok'],
    ['rotating', 'degraded'],
    ['stale', 'unusable'],
  ]);
  const stale = (await (await api('/v1/tenants/stale')).json()) as { trust: unknown };
  expect(stale.trust).toEqual({
    status: 'unusable',
    problems: [{ code: 'ca_expired', message: expect.stringMatching(/^CA file .*old-ca\.pem: certificate "CN=file tenant old root" expired on /) }],
  });
  expect(((await (await api('/v1/tenants/rotating')).json()) as { trust: { status: string } }).trust.status).toBe('degraded');
});

test('writes are refused with 409 ERR_STORE_READ_ONLY, saying where tenants live', async () => {
  const res = await api('/v1/tenants', { method: 'POST', body: JSON.stringify({ name: 'new', hostnames: ['new.test'], mtls: { mode: 'off' } }) });
  expect(res.status).toBe(409);
  const body = (await res.json()) as { error: string; message: string };
  expect(body.error).toBe('ERR_STORE_READ_ONLY');
  expect(body.message).toContain('bouncer.yaml');
  expect(body.message).toContain('store.postgres');
});

test('every check ext_authz decides shows up in the decision query', async () => {
  await client.check(checkRequest('www.open.test', '/hello'));
  await client.check(checkRequest('nobody.test', '/'));
  const res = (await (await api('/v1/decisions?limit=10')).json()) as { items: Array<{ host: string; reason: string; allow: boolean }> };
  expect(res.items).toEqual(
    expect.arrayContaining([expect.objectContaining({ host: 'www.open.test', reason: 'mtls_off', allow: true }), expect.objectContaining({ host: 'nobody.test', reason: 'tenant_unknown', allow: false })]),
  );
  const denied = (await (await api('/v1/decisions?allow=false')).json()) as { items: Array<{ allow: boolean }> };
  expect(denied.items.length).toBeGreaterThan(0);
  expect(denied.items.every((d) => d.allow === false)).toBe(true);
});

test('no token, no API', async () => {
  const res = await fetch(`http://127.0.0.1:${app.adminPort}/v1/tenants`);
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
});

/**
 * Apps (with their policies), identity providers and service tokens kept in
 * PostgreSQL and managed through the admin API: validated exactly as the file
 * would be, enforced at once, picked up by another replica through NOTIFY, and
 * refused with clear errors when they would break the config.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { runCaptured } from '../helpers/cli.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

const TOKEN = 'config-docs-admin-token-0123456789';
const READER = 'config-docs-reader-token-0123456789';
const SECRET = 'ci-bot-secret-value';
const env = { GH_SECRET: 'unused' };

let dir: string;
let db: TestDatabase;
let a: BouncerApp;
let b: BouncerApp;
let clientA: ReturnType<typeof authzClient>;
let clientB: ReturnType<typeof authzClient>;

function yaml(extra = ''): string {
  const url = `postgres://${db.connection.user ?? 'postgres'}@${String(db.connection.host)}:${String(db.connection.port)}/${db.name}`;
  return `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
store:
  postgres: { url: "${url}" }
auth: { domain: auth.docs.test, session: { duration: 1h } }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${hashAdminToken(TOKEN)}, scopes: [admin] }
    - { id: reader, secret_sha256: ${hashAdminToken(READER)}, scopes: [config:read] }
${extra}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-docs-'));
  db = await createTestDatabase();
  writeFileSync(join(dir, 'bouncer.yaml'), yaml());
  const start = async (): Promise<BouncerApp> =>
    startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), env), logger: pino({ level: 'silent' }), env, watch: false });
  a = await start();
  b = await start();
  clientA = authzClient(a.authzPort);
  clientB = authzClient(b.authzPort);
});

afterAll(async () => {
  clientA?.close();
  clientB?.close();
  await a?.close(0);
  await b?.close(0);
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

const api = (app: BouncerApp, method: string, path: string, body?: unknown, token = TOKEN): Promise<Response> =>
  fetch(`http://127.0.0.1:${app.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

const serviceHeaders = { 'x-bouncer-client-id': 'ci-bot.docs', 'x-bouncer-client-secret': SECRET, accept: 'application/json' };

async function reason(client: ReturnType<typeof authzClient>, host: string, headers: Record<string, string> = {}): Promise<string> {
  const res = await client.check(checkRequest(host, '/', headers));
  if (res.status.code === 0) return 'allow';
  return (JSON.parse(res.denied_response?.body ?? '{}') as { error?: string }).error ?? 'unreadable';
}

test('an IdP, a service token and an app put through one replica are enforced by both', async () => {
  expect(await reason(clientA, 'ci.docs.test')).toBe('tenant_unknown');
  expect((await api(a, 'PUT', '/v1/idps/gh', { type: 'github', client_id: 'docs', client_secret_env: 'GH_SECRET' })).status).toBe(200);
  const sha = createHash('sha256').update(SECRET).digest('hex');
  const token = await api(a, 'PUT', '/v1/service-tokens/ci-bot', { client_id: 'ci-bot.docs', secret_sha256: sha });
  expect(await token.json()).toMatchObject({ created: true });
  const app = await api(a, 'PUT', '/v1/apps/ci', {
    hostnames: ['ci.docs.test'],
    idps: ['gh'],
    policies: [{ name: 'machines', action: 'service_auth', include: [{ service_token: ['ci-bot'] }] }],
  });
  expect(app.status).toBe(200);
  for (const client of [clientA, clientB]) {
    await waitFor('the app on this replica', async () => (await reason(client, 'ci.docs.test', serviceHeaders)) === 'allow', 5_000);
    // Nobody else gets in: the app has a service_auth policy only.
    expect(await reason(client, 'ci.docs.test')).toBe('policy_no_match');
    expect(await reason(client, 'ci.docs.test', { ...serviceHeaders, 'x-bouncer-client-secret': 'wrong' })).toBe('service_token_invalid');
  }
  // The read-only views show it, from either replica.
  const apps = (await (await api(b, 'GET', '/v1/apps', undefined, READER)).json()) as { items: Array<{ name: string }> };
  expect(apps.items.map((x) => x.name)).toContain('ci');
});

test('a change that would break the config is refused with every problem and its field, and nothing is stored', async () => {
  const bad = await api(a, 'PUT', '/v1/apps/broken', { hostnames: ['broken.docs.test'], idps: ['nope'], policies: [{ name: 'p', action: 'alow', include: [{ everyone: true }] }] });
  expect(bad.status).toBe(400);
  const body = (await bad.json()) as { error: string; message: string };
  expect(body.error).toBe('ERR_CONFIG_REJECTED');
  expect(body.message).toContain('apps[1].idps');
  expect(body.message).toContain('nope');
  expect(body.message).toMatch(/apps\[1\]\.policies\[0\]\.action/);
  expect(await reason(clientA, 'broken.docs.test')).toBe('tenant_unknown');
  // Removing an IdP an app still uses would break it too.
  const del = await api(a, 'DELETE', '/v1/idps/gh');
  expect(del.status).toBe(400);
  expect(((await del.json()) as { message: string }).message).toContain("'gh'");
  // A body whose id disagrees with the path, and deleting what is not there.
  expect((await api(a, 'PUT', '/v1/service-tokens/x', { id: 'y', client_id: 'c', secret_sha256: 'a'.repeat(64) })).status).toBe(400);
  expect(((await (await api(a, 'DELETE', '/v1/service-tokens/never')).json()) as { error: string }).error).toBe('ERR_CONFIG_NOT_FOUND');
});

test('the CLI puts and deletes entries from YAML files, and reports refusals', async () => {
  const saved = process.env.BOUNCER_ADMIN_TOKEN;
  process.env.BOUNCER_ADMIN_TOKEN = TOKEN;
  const url = ['--url', `http://127.0.0.1:${a.adminPort}`];
  try {
    const file = join(dir, 'deploy-bot.yaml');
    writeFileSync(file, `client_id: deploy.docs\nsecret_sha256: ${'e'.repeat(64)}\n`);
    const put = await runCaptured(['service-token', 'put', 'deploy-bot', '-f', file, ...url]);
    expect(put.err).toBe('');
    expect(put.out).toMatch(/^created service-token deploy-bot \(document version \d+\)/);
    const badFile = join(dir, 'bad-app.yaml');
    writeFileSync(badFile, 'hostnames: [x.docs.test]\nidps: [missing]\npolicies: []\n');
    const bad = await runCaptured(['app', 'put', 'x', '-f', badFile, ...url]);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('ERR_CONFIG_REJECTED');
    expect(bad.err).toContain('missing');
    expect((await runCaptured(['service-token', 'delete', 'deploy-bot', ...url])).code).toBe(2);
    expect((await runCaptured(['service-token', 'delete', 'deploy-bot', '--yes', ...url])).code).toBe(0);
  } finally {
    if (saved === undefined) delete process.env.BOUNCER_ADMIN_TOKEN;
    else process.env.BOUNCER_ADMIN_TOKEN = saved;
  }
});

test('scopes: config:read cannot write', async () => {
  const res = await api(a, 'PUT', '/v1/service-tokens/other', { client_id: 'o', secret_sha256: 'b'.repeat(64) }, READER);
  expect(res.status).toBe(403);
});

test('deleting the app and token takes effect on both replicas, and the audit trail says who did it', async () => {
  expect((await api(b, 'DELETE', '/v1/apps/ci')).status).toBe(200);
  expect((await api(b, 'DELETE', '/v1/service-tokens/ci-bot')).status).toBe(200);
  for (const client of [clientA, clientB]) await waitFor('the app gone', async () => (await reason(client, 'ci.docs.test', serviceHeaders)) === 'tenant_unknown', 5_000);
  const audit = (await (await api(b, 'GET', '/v1/audit')).json()) as { items: Array<{ actor: string; action: string; target: string }> };
  expect(audit.items).toEqual(expect.arrayContaining([expect.objectContaining({ actor: 'ops', action: 'app.delete', target: 'ci' }), expect.objectContaining({ actor: 'ops', action: 'app.put', target: 'ci' })]));
});

test('a section in both the file and the database stops the start with a message saying so', async () => {
  expect((await api(a, 'PUT', '/v1/service-tokens/kept', { client_id: 'kept.docs', secret_sha256: 'c'.repeat(64) })).status).toBe(200);
  const other = join(dir, 'both.yaml');
  writeFileSync(other, yaml('service_tokens:\n  - { id: filetok, client_id: file.docs, secret_sha256: ' + 'd'.repeat(64) + ' }\n'));
  await expect(startBouncer({ config: await loadConfig(other, env), logger: pino({ level: 'silent' }), env, watch: false })).rejects.toThrow(
    /service_tokens is defined both in this file and in the database/,
  );
});

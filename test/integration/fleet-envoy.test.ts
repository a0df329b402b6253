/**
 * A fleet: two `bouncer serve` replicas (separate processes) behind one real
 * Envoy, tenants in PostgreSQL, shared state in a private Redis. What one
 * replica learns (a new tenant, a revoked session) the other enforces within
 * seconds; a replica killed mid-load loses no check it had not begun to
 * answer; PostgreSQL and Redis outages are ridden out as documented and
 * recovered from without a restart.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { signSession } from '../../src/core/session-token.js';
import { createRootCa, issueClientCert, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { openKeyStore, keyOverlapMs } from '../../src/sessions/key-store.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { startEnvoy, type RunningEnvoy } from '../helpers/envoy.js';
import { runCaptured } from '../helpers/cli.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { tlsRequest, type TlsResponse } from '../helpers/tls-client.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

interface Replica {
  name: string;
  proc: BouncerProcess;
  authzPort: number;
  httpPort: number;
  adminPort: number;
  client: ReturnType<typeof authzClient>;
}

let dir: string;
let db: TestDatabase;
let redis: PrivateRedis;
let upstream: Upstream;
let envoy: RunningEnvoy;
let writer: PgTenantStore;
let edgeCa: string;
let tenantCa: KeyPairPem;
let device: KeyPairPem;
const replicas: Replica[] = [];

const WIKI = 'wiki.fleet.test';
const ADMIN_TOKEN = 'fleet-admin-token-0123456789abcdef';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-fleet-'));
  [db, redis, upstream] = await Promise.all([createTestDatabase(), startPrivateRedis(), startUpstream()]);
  const edge = await createRootCa({ commonName: 'fleet edge CA', keyAlgorithm: 'ec-p256', validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'edge', dns: ['*.fleet.test', '*.acme.fleet.test'], keyAlgorithm: 'ec-p256', validDays: 2 });
  edgeCa = edge.certPem;
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
  tenantCa = await createRootCa({ commonName: 'acme fleet root', keyAlgorithm: 'ec-p256', validDays: 30 });
  device = await issueClientCert({ issuer: tenantCa, commonName: 'acme-device', keyAlgorithm: 'ec-p256', validDays: 2 });

  const pgUrl = `postgres://${db.connection.user ?? 'postgres'}@${String(db.connection.host)}:${String(db.connection.port)}/${db.name}`;
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:1, http: 127.0.0.1:2 }
store:
  postgres: { url_env: FLEET_PG_URL }
  redis: { url: "${redis.url}", key_prefix: "fleet:", revocation_grace: 1s }
admin:
  tokens:
    - { id: provisioning, secret_sha256: ${hashAdminToken(ADMIN_TOKEN)}, scopes: [admin] }
auth:
  domain: auth.fleet.test
  session: { duration: 1h, keys_dir: ./keys }
idps:
  - { id: gh, type: github, client_id: fleet, client_secret_env: GH_SECRET }
apps:
  - name: wiki
    hostnames: [${WIKI}]
    idps: [gh]
    policies:
      - { name: staff, action: allow, include: [ { group: [staff] } ] }
`,
  );
  // The first replica creates the schema and the signing key; start them one after the other.
  for (const name of ['a', 'b']) {
    const authzPort = await freePort();
    const httpPort = await freePort();
    const adminPort = await freePort();
    const proc = await startBouncerProcess({
      configPath: join(dir, 'bouncer.yaml'),
      env: {
        FLEET_PG_URL: pgUrl,
        GH_SECRET: 'unused',
        BOUNCER_LISTEN_AUTHZ: `127.0.0.1:${authzPort}`,
        BOUNCER_LISTEN_HTTP: `127.0.0.1:${httpPort}`,
        BOUNCER_LISTEN_ADMIN: `127.0.0.1:${adminPort}`,
      },
      readyUrl: `http://127.0.0.1:${httpPort}/readyz`,
    });
    replicas.push({ name, proc, authzPort, httpPort, adminPort, client: authzClient(authzPort) });
  }
  envoy = await startEnvoy(dir, {
    authzPort: replicas[0]?.authzPort ?? 0,
    authzEndpoints: replicas.map((r) => ({ host: '127.0.0.1', port: r.authzPort })),
    upstreamPort: upstream.port,
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server.key'),
  });
  // The "admin" side: another writer on the same database, as the admin API of any replica is.
  writer = await createPgTenantStore({ connection: db.connection });
}, 120_000);

afterAll(async () => {
  for (const r of replicas) r.client.close();
  await envoy?.stop();
  await Promise.all(replicas.map((r) => r.proc.stop('SIGKILL')));
  await writer?.close();
  await db?.allowConnections(true).catch(() => undefined);
  await Promise.all([upstream?.close(), redis?.close(), db?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

const viaEnvoy = (host: string, extra: { path?: string; cert?: boolean; headers?: Record<string, string> } = {}): Promise<TlsResponse> =>
  tlsRequest({
    port: envoy.port,
    ca: edgeCa,
    servername: host,
    path: extra.path ?? '/',
    headers: { accept: 'application/json', ...extra.headers },
    ...(extra.cert ? { cert: device.certPem, key: device.keyPem } : {}),
  });

/** The deny reason a replica gives, or 'allow'. */
async function reasonAt(r: Replica, host: string, path = '/', headers: Record<string, string> = {}): Promise<string> {
  const res = await r.client.check(checkRequest(host, path, { accept: 'application/json', ...headers }));
  if (res.status.code === 0) return 'allow';
  return (JSON.parse(res.denied_response?.body ?? '{}') as { error?: string }).error ?? 'unreadable';
}

async function metric(r: Replica, line: string): Promise<boolean> {
  return (await (await fetch(`http://127.0.0.1:${r.httpPort}/metrics`)).text()).includes(line);
}

/** `bouncer <args>` against one replica's admin API, as an operator runs it. */
async function cli(r: Replica, args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const saved = process.env.BOUNCER_ADMIN_TOKEN;
  process.env.BOUNCER_ADMIN_TOKEN = ADMIN_TOKEN;
  try {
    return await runCaptured([...args, '--url', `http://127.0.0.1:${r.adminPort}`]);
  } finally {
    if (saved === undefined) delete process.env.BOUNCER_ADMIN_TOKEN;
    else process.env.BOUNCER_ADMIN_TOKEN = saved;
  }
}

test('a tenant added through the admin API of one replica is enforced by both within seconds, with no restart', async () => {
  for (const r of replicas) expect(await reasonAt(r, 'pay.acme.fleet.test')).toBe('tenant_unknown');
  const caFile = join(dir, 'acme-ca.pem');
  writeFileSync(caFile, tenantCa.certPem);
  const added = await cli(replicas[0] as Replica, ['tenant', 'add', 'acme', '--hostname', 'pay.acme.fleet.test', '--ca', caFile]);
  expect(added.err).toBe('');
  expect(added.code).toBe(0);
  for (const r of replicas) {
    // Known now (waitFor gives up after 5 s): without a certificate the tenant's `require` mode answers.
    await waitFor(`replica ${r.name} to learn the tenant`, async () => (await reasonAt(r, 'pay.acme.fleet.test')) === 'client_cert_missing', 5_000);
  }
  // Through Envoy, both replicas take turns; every request with the device certificate is let in.
  for (let i = 0; i < 6; i++) expect((await viaEnvoy('pay.acme.fleet.test', { cert: true })).status).toBe(200);
  expect((await viaEnvoy('pay.acme.fleet.test')).status).toBe(401);
  // Both answered some of them (audit lines are written in batches, at most 100 ms late).
  for (const r of replicas) await waitFor(`replica ${r.name}'s audit line`, async () => r.proc.decisions().some((d) => d.reason === 'mtls_verified'), 3_000);

  // Removal (through the other replica) reaches both as well.
  await writer.putTenant({ name: 'gone', hostnames: ['gone.fleet.test'], mtls: { mode: 'off' } });
  for (const r of replicas) await waitFor(`replica ${r.name} to learn gone`, async () => (await reasonAt(r, 'gone.fleet.test')) === 'allow', 5_000);
  expect((await cli(replicas[1] as Replica, ['tenant', 'remove', 'gone', '--yes'])).code).toBe(0);
  // The change is audited, with who did it.
  const audit = (await (await fetch(`http://127.0.0.1:${replicas[1]?.adminPort}/v1/audit`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).json()) as { items: Array<{ actor: string; target: string }> };
  expect(audit.items.some((e) => e.actor === 'provisioning' && e.target === 'gone')).toBe(true);
  for (const r of replicas) await waitFor(`replica ${r.name} to forget gone`, async () => (await reasonAt(r, 'gone.fleet.test')) === 'tenant_unknown', 5_000);
});

async function appSession(sid: string): Promise<string> {
  const keys = await openKeyStore({ dir: join(dir, 'keys'), rotateAfterDays: 30, overlapMs: keyOverlapMs(3600), nowMs: Date.now() });
  const s = Math.floor(Date.now() / 1000);
  return signSession(
    { iss: 'auth.fleet.test', sub: 'gh:alice', aud: 'wiki', email: 'alice@fleet.test', groups: ['staff'], idp: 'gh', idp_type: 'github', amr: [], auth_time: s, sid, exp: s + 3600 },
    keys.current(),
    Date.now(),
  );
}

test('a session revoked through the admin API of one replica is refused by both', async () => {
  const cookie = `__Host-bouncer_session=${await appSession('sid-admin-revoke')}`;
  for (const r of replicas) expect(await reasonAt(r, WIKI, '/', { cookie })).toBe('allow');
  expect((await cli(replicas[1] as Replica, ['session', 'revoke', '--sid', 'sid-admin-revoke'])).code).toBe(0);
  for (const r of replicas) await waitFor(`replica ${r.name} to refuse the session`, async () => (await reasonAt(r, WIKI, '/', { cookie })) === 'login_required', 3_000);
});

test('a session signed out on one replica is refused by both', async () => {
  const cookie = `__Host-bouncer_session=${await appSession('sid-revoke-me')}`;
  for (const r of replicas) expect(await reasonAt(r, WIKI, '/', { cookie })).toBe('allow');
  // Sign out of the app on replica a only.
  const out = await replicas[0]?.client.check(checkRequest(WIKI, '/.bouncer/logout', { cookie }));
  expect(out?.denied_response?.status.code).toBe(302);
  for (const r of replicas) await waitFor(`replica ${r.name} to refuse the session`, async () => (await reasonAt(r, WIKI, '/', { cookie })) === 'login_required', 3_000);
  for (let i = 0; i < 4; i++) expect((await viaEnvoy(WIKI, { headers: { cookie } })).status).toBe(401);
});

test('PostgreSQL down: cached tenants and the file\'s apps keep working, unknown hosts get 503 tenant_store_unavailable, health says so; then it recovers', async () => {
  expect((await viaEnvoy('pay.acme.fleet.test', { cert: true })).status).toBe(200);
  const cookie = `__Host-bouncer_session=${await appSession('sid-pg-outage')}`;
  for (const r of replicas) expect(await reasonAt(r, WIKI, '/', { cookie })).toBe('allow');
  await db.allowConnections(false);
  await db.terminateConnections();
  try {
    for (const r of replicas) {
      await waitFor(`replica ${r.name} to report postgres down`, async () => (await fetch(`http://127.0.0.1:${r.httpPort}/readyz`)).status === 503, 10_000);
      const ready = (await (await fetch(`http://127.0.0.1:${r.httpPort}/readyz`)).json()) as { stores: Record<string, string> };
      expect(ready.stores['postgres']).toMatch(/^down/);
      expect(await metric(r, 'bouncer_store_up{store="postgres"} 0')).toBe(true);
      expect(await reasonAt(r, 'pay.acme.fleet.test')).toBe('client_cert_missing');
      expect(await reasonAt(r, 'never-seen.fleet.test')).toBe('tenant_store_unavailable');
      // An app behind sign-in that the file defines needs no tenant lookup: its sessions keep working.
      expect(await reasonAt(r, WIKI, '/', { cookie })).toBe('allow');
    }
    for (let i = 0; i < 4; i++) expect((await viaEnvoy('pay.acme.fleet.test', { cert: true })).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await viaEnvoy(WIKI, { headers: { cookie } })).status).toBe(200);
    const unknown = await viaEnvoy('never-seen.fleet.test');
    expect(unknown.status).toBe(503);
    expect(unknown.json()).toMatchObject({ error: 'tenant_store_unavailable' });
  } finally {
    await db.allowConnections(true);
  }
  for (const r of replicas) {
    await waitFor(`replica ${r.name} to recover`, async () => (await fetch(`http://127.0.0.1:${r.httpPort}/readyz`)).status === 200, 15_000);
    expect(await reasonAt(r, 'never-seen.fleet.test')).toBe('tenant_unknown');
  }
  // Nothing stored was lost.
  expect((await writer.getTenant('acme'))?.hostnames).toEqual(['pay.acme.fleet.test']);
  for (let i = 0; i < 4; i++) expect((await viaEnvoy('pay.acme.fleet.test', { cert: true })).status).toBe(200);
}, 60_000);

test('Redis down: after the grace, sessions get 503 state_unavailable (revocations unknown) while mTLS keeps working; then it recovers with revocations kept', async () => {
  const cookie = `__Host-bouncer_session=${await appSession('sid-outage')}`;
  const revoked = `__Host-bouncer_session=${await appSession('sid-revoke-me')}`;
  for (const r of replicas) expect(await reasonAt(r, WIKI, '/', { cookie })).toBe('allow');
  await redis.stop();
  try {
    for (const r of replicas) {
      await waitFor(`replica ${r.name} to fail closed`, async () => (await reasonAt(r, WIKI, '/', { cookie })) === 'state_unavailable', 10_000);
      expect(await metric(r, 'bouncer_store_up{store="redis"} 0')).toBe(true);
    }
    const res = await viaEnvoy(WIKI, { headers: { cookie } });
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ error: 'state_unavailable' });
    expect((await viaEnvoy('pay.acme.fleet.test', { cert: true })).status).toBe(200);
  } finally {
    // Restarted empty, like a cache-only Redis.
    await redis.start();
  }
  for (const r of replicas) {
    await waitFor(`replica ${r.name} to resync`, async () => (await reasonAt(r, WIKI, '/', { cookie })) === 'allow', 15_000);
    // The revocation from before the outage survived Redis losing its data.
    expect(await reasonAt(r, WIKI, '/', { cookie: revoked })).toBe('login_required');
  }
}, 60_000);

test('killing one replica under load: checks it had not begun to answer are retried on the other, one caught mid-answer fails closed', async () => {
  const statuses = new Map<string, number>();
  /** When each failed request started, to tell it from the kill. */
  const failedAt: number[] = [];
  let sent = 0;
  const deadline = Date.now() + 3_000;
  const worker = async (): Promise<void> => {
    while (Date.now() < deadline) {
      const started = Date.now();
      const res = await viaEnvoy('pay.acme.fleet.test', { cert: true });
      sent++;
      const key = res.status === 200 ? '200' : `${res.status} ${res.body.slice(0, 120)}`;
      if (res.status !== 200) failedAt.push(started);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
  };
  const WORKERS = 4;
  const load = Promise.all(Array.from({ length: WORKERS }, () => worker()));
  await new Promise((r) => setTimeout(r, 700));
  const victim = replicas[0] as Replica;
  await victim.proc.stop('SIGKILL');
  const deadAt = Date.now();
  await load;
  expect(sent).toBeGreaterThan(50);
  // Every check that reached the dead replica before it answered was retried on the other one.
  expect(await envoy.stat('cluster.bouncer_authz.upstream_rq_retry_success')).toBeGreaterThan(0);
  // A gRPC answer is two writes: headers and message, then the grpc-status trailers. A
  // replica killed between them leaves Envoy holding a response it may not retry (Envoy
  // retries only calls that got no response), so that one check fails closed with
  // status_on_error (503, empty body). Only checks in flight at the kill can be caught so:
  // at most one per worker, and none that started after the replica was gone.
  const { 200: ok = 0, ...others } = Object.fromEntries(statuses);
  expect(Object.keys(others).filter((k) => k !== '503 ')).toEqual([]);
  expect(sent - ok).toBeLessThanOrEqual(WORKERS);
  for (const t of failedAt) expect(t).toBeLessThanOrEqual(deadAt);
  // The survivor answered the requests after the kill.
  const survivor = replicas[1] as Replica;
  expect(await reasonAt(survivor, 'pay.acme.fleet.test')).toBe('client_cert_missing');
}, 30_000);

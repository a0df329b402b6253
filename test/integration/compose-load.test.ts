/**
 * `docker compose --profile load up`, run as local processes: the services of
 * src/load/topology.ts (the description docker-compose.yml is checked against
 * in test/unit/compose-topology.test.ts) started in depends_on order with
 * their own commands and healthchecks: the setup job, the demo upstream, the
 * demo OIDC IdP, two `bouncer serve` replicas on a private PostgreSQL and a
 * private Redis, Envoy in front, and the load generator for a short run. The
 * generator's printed table is what is asserted.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSetupArgs, writeLoadFiles } from '../../src/load/setup.js';
import { COMPOSE_ADDRESSES, LOAD_DATA, LOAD_KEYS, LOAD_TENANTS, loadServices, type LoadAddresses } from '../../src/load/topology.js';
import { BOUNCER_BIN } from '../helpers/bouncer-process.js';
import { envoyBinary } from '../helpers/envoy.js';
import { startNative, type NativeTopology } from '../helpers/compose-native.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { freePort } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

const REQUESTS = 300;

let dir: string;
let db: TestDatabase;
let redis: PrivateRedis;
let topology: NativeTopology | undefined;
let addresses: LoadAddresses;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-compose-load-'));
  [db, redis] = await Promise.all([createTestDatabase(), startPrivateRedis()]);
  const c = db.connection;
  const port = async (): Promise<number> => freePort();
  addresses = {
    bind: '127.0.0.1',
    envoy: { host: '127.0.0.1', port: await port() },
    envoyAdminPort: await port(),
    bouncers: [
      { host: '127.0.0.1', authzPort: await port(), httpPort: await port() },
      { host: '127.0.0.1', authzPort: await port(), httpPort: await port() },
    ],
    upstream: { host: '127.0.0.1', port: await port() },
    idp: { host: '127.0.0.1', port: await port() },
    postgresUrl: `postgres://${encodeURIComponent(c.user ?? 'postgres')}@${String(c.host)}:${String(c.port)}/${db.name}`,
    redisUrl: redis.url,
  };
}, 60_000);

afterAll(async () => {
  await topology?.stop();
  await Promise.all([redis?.close(), db?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

interface Row {
  scenario: string;
  host: string;
  expect: number;
  requests: number;
  rps: number;
  p50: number;
  p99: number;
  asExpected: number;
  errors: number;
}

/** The rows of the generator's table (header `scenario host expect requests rps p50_ms p90_ms p99_ms max_ms as_expected errors`). */
function table(out: string): Row[] {
  const lines = out.split('\n');
  const header = lines.findIndex((l) => /^scenario\s+host\s+expect\s+requests\s+rps\s+p50_ms\s+p90_ms\s+p99_ms\s+max_ms\s+as_expected\s+errors$/.test(l.trim()));
  expect(header).toBeGreaterThanOrEqual(0);
  const rows: Row[] = [];
  for (const line of lines.slice(header + 1)) {
    const cells = line.trim().split(/\s+/);
    if (cells.length !== 11) break;
    const [scenario = '', host = '', expectS, requests, rps, p50, , p99, , asExpected, errors] = cells;
    rows.push({ scenario, host, expect: Number(expectS), requests: Number(requests), rps: Number(rps), p50: Number(p50), p99: Number(p99), asExpected: Number(asExpected), errors: Number(errors) });
  }
  return rows;
}

async function checksAnswered(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return [...text.matchAll(/^bouncer_checks_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

test('the load profile runs natively: every tenant, the cross-tenant attempt and the SSO app, through Envoy and two replicas', async () => {
  const services = loadServices(addresses, { requests: REQUESTS, connections: 2 });
  topology = await startNative(services, {
    volumes: { [LOAD_DATA.volume]: join(dir, 'load'), [LOAD_KEYS.volume]: join(dir, 'keys') },
    envoyBaseId: addresses.envoy.port,
  });
  const load = topology.services.get('load');
  const out = load?.output() ?? '';
  // Kept in the test's output: the figures of this run.
  process.stdout.write(`\n${out}\n`);
  expect(topology.completed.get('load')).toBe(0);

  const rows = table(out);
  const [acme, globex] = LOAD_TENANTS;
  expect(rows.map((r) => r.scenario)).toEqual([acme.name, globex.name, `${acme.name}-on-${globex.name}`, 'sso-alice']);
  for (const r of rows) {
    expect({ scenario: r.scenario, requests: r.requests, asExpected: r.asExpected, errors: r.errors }).toEqual({ scenario: r.scenario, requests: REQUESTS, asExpected: REQUESTS, errors: 0 });
    expect(r.rps).toBeGreaterThan(0);
    expect(r.p50).toBeGreaterThan(0);
    expect(r.p99).toBeGreaterThanOrEqual(r.p50);
  }
  expect(rows.find((r) => r.scenario === `${acme.name}-on-${globex.name}`)).toMatchObject({ host: globex.host, expect: 403 });
  expect(rows.filter((r) => r.scenario !== `${acme.name}-on-${globex.name}`).every((r) => r.expect === 200)).toBe(true);

  // Envoy spread the checks over both replicas.
  for (const b of addresses.bouncers) expect(await checksAnswered(b.httpPort)).toBeGreaterThan(0);
}, 300_000);

/** Runs a program to its end; resolves with its exit code and output. */
function run(bin: string, args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(bin, [...args], { timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }));
  });
}

test("the setup job's files for the compose addresses (service names, fixed ports) pass `bouncer config validate` and `envoy --mode validate`", async () => {
  const setup = loadServices(COMPOSE_ADDRESSES).find((s) => s.name === 'load-setup');
  expect(setup).toBeDefined();
  // The compose command, with the volume's folder here instead of in a container.
  const local = join(dir, 'compose-files');
  mkdirSync(local, { recursive: true });
  const args = (setup?.command ?? []).map((a) => (a === LOAD_DATA.target ? local : a === LOAD_KEYS.target ? join(dir, 'compose-keys') : a));
  const tenants = await writeLoadFiles(parseSetupArgs(args));
  expect(tenants.map((t) => t.hostnames)).toEqual(LOAD_TENANTS.map((t) => [t.host]));
  const bouncerCheck = await run(process.execPath, [BOUNCER_BIN, 'config', 'validate', join(local, 'bouncer.yaml')]);
  expect(bouncerCheck).toMatchObject({ code: 0 });
  const envoyCheck = await run(await envoyBinary(), ['--mode', 'validate', '-c', join(local, 'envoy.yaml'), '--disable-hot-restart']);
  expect(envoyCheck.output).toContain('OK');
  expect(envoyCheck.code).toBe(0);
}, 120_000);

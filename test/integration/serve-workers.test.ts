import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { authzClient, checkRequest, checksAcrossSigterm } from '../helpers/grpc-client.js';
import { freePortRange, waitFor } from '../helpers/ports.js';

// `bouncer serve --workers 2` as an operator runs it: two processes, worker i
// on the configured ports + i, each reloading and draining on its own while
// the supervisor forwards signals.
const bin = join(packageRoot(), 'dist', 'src', 'cli', 'bin.js');
const WORKERS = 2;

let dir: string;
let configPath: string;
let child: ChildProcess;
let out = '';
let authzBase: number;
let httpBase: number;

function writeConfig(extraTenants = ''): void {
  writeFileSync(
    configPath,
    `listen:\n  authz: 127.0.0.1:1\n  http: 127.0.0.1:2\ntenants:\n  - name: open\n    hostnames: [app.open.test]\n    mtls: { mode: "off" }\n${extraTenants}`,
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-workers-'));
  configPath = join(dir, 'bouncer.yaml');
  writeConfig();
  authzBase = await freePortRange(WORKERS);
  httpBase = await freePortRange(WORKERS);
  child = spawn(process.execPath, [bin, 'serve', '--config', configPath, '--grace', '5', '--workers', String(WORKERS)], {
    env: { ...process.env, BOUNCER_LISTEN_AUTHZ: `127.0.0.1:${authzBase}`, BOUNCER_LISTEN_HTTP: `127.0.0.1:${httpBase}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  for (let i = 0; i < WORKERS; i++) {
    await waitFor(`worker ${i} to be ready`, async () => (await fetch(`http://127.0.0.1:${httpBase + i}/readyz`)).ok, 30_000);
  }
}, 60_000);

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function allowed(port: number, host: string): Promise<boolean> {
  const c = authzClient(port);
  try {
    return (await c.check(checkRequest(host))).status.code === 0;
  } finally {
    c.close();
  }
}

describe('bouncer serve --workers', () => {
  test('every worker answers checks on its own port', async () => {
    for (let i = 0; i < WORKERS; i++) {
      expect(await allowed(authzBase + i, 'app.open.test')).toBe(true);
      expect(await allowed(authzBase + i, 'unknown.test')).toBe(false);
    }
    await waitFor('the supervisor to report its workers', async () => out.includes('"msg":"workers listening"'));
  });

  test('SIGHUP to the supervisor reloads the config in every worker', async () => {
    writeConfig(`  - name: late\n    hostnames: [late.test]\n    mtls: { mode: "off" }\n`);
    child.kill('SIGHUP');
    for (let i = 0; i < WORKERS; i++) {
      await waitFor(`worker ${i} to know the new tenant`, async () => allowed(authzBase + i, 'late.test'));
    }
  });

  test('SIGTERM: every worker drains its in-flight checks, then the supervisor exits 0', async () => {
    const clients = Array.from({ length: WORKERS }, (_, i) => authzClient(authzBase + i));
    const { codes, exit } = await checksAcrossSigterm(clients, child);
    expect(codes.every((x) => x === 0)).toBe(true);
    expect(exit).toBe(0);
    expect(out.match(/"msg":"stopped"/g)?.length).toBe(WORKERS);
    expect(out).toContain('"msg":"all workers stopped"');
    for (let i = 0; i < WORKERS; i++) await expect(fetch(`http://127.0.0.1:${httpBase + i}/readyz`)).rejects.toThrow();
  });
});

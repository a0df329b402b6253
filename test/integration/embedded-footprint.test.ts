/**
 * The embedded default needs no server, and loads no database client either:
 * the PostgreSQL and Redis drivers, and bouncer's stores on them, are
 * imported only when `store.postgres` or `store.redis` is configured.
 * Checked in a process of its own, on the build, so that nothing else the
 * test runner loaded is counted.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = (path: string): string => JSON.stringify(fileURLToPath(new URL(`../../dist/src/${path}`, import.meta.url)));

test('an embedded bouncer with an admin API serves without loading the PostgreSQL or Redis client', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-footprint-'));
  try {
    writeFileSync(
      join(dir, 'bouncer.yaml'),
      `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${'a'.repeat(64)}, scopes: [admin] }
tenants:
  - { name: open, hostnames: [www.open.test], mtls: { mode: "off" } }
`,
    );
    const script = `
import { createRequire } from 'node:module';
import { pino } from 'pino';
const { startBouncer } = await import(${dist('serve/start.js')});
const { loadConfig } = await import(${dist('config/load.js')});
const app = await startBouncer({ config: await loadConfig(${JSON.stringify(join(dir, 'bouncer.yaml'))}, {}), logger: pino({ level: 'silent' }), env: {}, watch: false });
const loaded = Object.keys(createRequire(import.meta.url).cache);
const pg = loaded.filter((p) => /[\\\\/]node_modules[\\\\/](pg|pg-pool|pg-protocol)[\\\\/]/.test(p));
const redis = loaded.filter((p) => /[\\\\/]node_modules[\\\\/](ioredis|@ioredis)[\\\\/]/.test(p));
const grpc = loaded.filter((p) => /[\\\\/]node_modules[\\\\/]@grpc[\\\\/]grpc-js[\\\\/]/.test(p));
process.stdout.write(JSON.stringify({ authzPort: app.authzPort, pg: pg.length, redis: redis.length, grpc: grpc.length }));
await app.close(0);
process.exit(0);
`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000, cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout) as { authzPort: number; pg: number; redis: number; grpc: number };
    expect(out.authzPort).toBeGreaterThan(0);
    // The probe sees CommonJS packages: grpc-js is one, and is loaded.
    expect(out.grpc).toBeGreaterThan(0);
    expect(out.pg).toBe(0);
    expect(out.redis).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

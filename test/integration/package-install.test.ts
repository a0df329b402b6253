// The package as a user gets it: `npm pack` in the checkout, then an install of
// that tarball into an empty folder outside it, and the `bouncer` command run
// from there (npx, `ca create`, `serve`). Catches what a checkout hides: a file
// left out of `files`, a run-time import of a devDependency, a path found by
// walking up to the checkout, a bin that is not executable.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { freePort, waitFor } from '../helpers/ports.js';

const root = packageRoot();
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string };

/**
 * npm and npx run in the folder given, with none of the `npm_*` variables that
 * `npm test` sets for its own project (they would point the child at the checkout).
 */
function npmEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

function run(cmd: string, args: string[], cwd: string, timeoutMs = 180_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: npmEnv(), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed in ${cwd}: ${err.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

let dir: string;
let app: string;
let packed: string[];
let serve: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-package-'));
  app = join(dir, 'app');
  mkdirSync(app);
  // `npm test` has just built dist/: pack that, without running `prepare` again.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], root);
  const [info] = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  if (!info) throw new Error(`npm pack printed no package: ${stdout}`);
  packed = info.files.map((f) => f.path);
  await run('npm', ['init', '-y'], app);
  // The dependencies come from npm's cache when `npm ci` has filled it (CI), else from the registry.
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, info.filename)], app);
}, 300_000);

afterAll(async () => {
  if (serve && serve.exitCode === null && serve.signalCode === null) {
    const gone = new Promise((r) => serve?.once('exit', r));
    serve.kill('SIGKILL');
    await gone;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed bouncer, installed into an empty folder', () => {
  it('ships the built CLI and what it reads at run time, and nothing of the checkout besides', () => {
    for (const f of ['package.json', 'README.md', 'dist/src/cli/bin.js', 'dist/src/authz/proto.js', 'envoy/envoy.yaml', 'scripts/install-envoy.sh', 'docs/config.md']) {
      expect(packed).toContain(f);
    }
    const strays = packed.filter((f) => /^(src|test|bench|dist\/scripts|dist\/bench|dist\/test|node_modules|\.demo|\.venv|\.cache)\//.test(f) || f.endsWith('.map'));
    expect(strays).toEqual([]);
  });

  it('is installed under its scoped name with an executable `bouncer` command', () => {
    const installed = join(app, 'node_modules', ...manifest.name.split('/'));
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))).toMatchObject({ name: manifest.name, version: manifest.version });
    expect(statSync(join(app, 'node_modules', '.bin', 'bouncer')).mode & 0o111).not.toBe(0);
  });

  it('runs with npx from that folder: version, help', async () => {
    expect((await run('npx', ['bouncer', '--version'], app)).stdout.trim()).toBe(manifest.version);
    const help = (await run('npx', ['bouncer', '--help'], app)).stdout;
    for (const cmd of ['serve', 'ca', 'cert', 'config', 'envoy']) expect(help).toMatch(new RegExp(`^\\s+${cmd}\\b`, 'm'));
  });

  it('creates a tenant CA with `bouncer ca create`', async () => {
    await run('npx', ['bouncer', 'ca', 'create', '--name', 'acme', '--out-dir', './pki'], app);
    expect(readFileSync(join(app, 'pki', 'acme-ca.pem'), 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(statSync(join(app, 'pki', 'acme-ca.key')).mode & 0o077).toBe(0);
  });

  it('serves with `bouncer serve`: ready on its HTTP port, then stops cleanly on SIGTERM', async () => {
    expect(existsSync(join(app, 'pki', 'acme-ca.pem'))).toBe(true);
    const [authz, http] = [await freePort(), await freePort()];
    writeFileSync(
      join(app, 'bouncer.yaml'),
      [
        'listen:',
        `  authz: 127.0.0.1:${authz}`,
        `  http: 127.0.0.1:${http}`,
        'tenants:',
        '  - name: acme',
        '    hostnames: [pay.acme.example]',
        '    mtls: { mode: require, ca: ./pki/acme-ca.pem }',
        '',
      ].join('\n'),
    );
    // The installed command itself, as a process manager would start it (npx
    // does not pass SIGTERM on to the command it runs).
    const proc = spawn(join(app, 'node_modules', '.bin', 'bouncer'), ['serve', '--config', 'bouncer.yaml'], { cwd: app, env: npmEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    serve = proc;
    let output = '';
    proc.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));

    await waitFor(
      'bouncer serve to answer /readyz',
      async () => {
        if (proc.exitCode !== null) throw new Error(`bouncer serve exited (${proc.exitCode}): ${output}`);
        const res = await fetch(`http://127.0.0.1:${http}/readyz`);
        return res.status === 200;
      },
      60_000,
    );
    const metrics = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    expect(metrics).toContain(`bouncer_build_info{version="${manifest.version}"`);

    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"stopped"');
  }, 90_000);
});

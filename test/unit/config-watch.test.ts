import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import type { BouncerConfig } from '../../src/config/types.js';
import { watchConfig, type ConfigWatcher } from '../../src/config/watch.js';
import { parseCertificateBundle } from '../../src/core/cert-parse.js';
import { ConfigError } from '../../src/core/errors.js';
import { createRootCa, type KeyPairPem } from '../../src/pki/generate.js';
import { waitFor } from '../helpers/ports.js';

const INTERVAL_MS = 40;
/** Long enough for several polls and a debounce: a change that was going to be seen has been. */
const QUIET_MS = 400;

let root: string;
let caA: KeyPairPem;
let caB: KeyPairPem;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'bouncer-watch-'));
  [caA, caB] = await Promise.all([
    createRootCa({ commonName: 'watch A root CA', keyAlgorithm: 'ec-p256', validDays: 365 }),
    createRootCa({ commonName: 'watch B root CA', keyAlgorithm: 'ec-p256', validDays: 365 }),
  ]);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

const fingerprint = (pem: string): string => parseCertificateBundle(pem)[0]?.fingerprint256 ?? '';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function yaml(tenants: Array<{ name: string; ca?: string }>): string {
  return [
    'listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }',
    'tenants:',
    ...tenants.flatMap((t) => [`  - name: ${t.name}`, `    hostnames: [${t.name}.watch.test]`, `    mtls: { mode: require, ca: ${t.ca ?? './a-ca.pem'} }`]),
    '',
  ].join('\n');
}

/** A fresh directory with a-ca.pem, b-ca.pem and a one-tenant config, and a watcher recording what it reports. */
async function setup(): Promise<{
  dir: string;
  file: string;
  initial: BouncerConfig;
  watcher: ConfigWatcher;
  reloads: BouncerConfig[];
  errors: unknown[];
}> {
  const dir = mkdtempSync(join(root, 'case-'));
  writeFileSync(join(dir, 'a-ca.pem'), caA.certPem);
  writeFileSync(join(dir, 'b-ca.pem'), caB.certPem);
  const file = join(dir, 'bouncer.yaml');
  writeFileSync(file, yaml([{ name: 'acme' }]));
  const initial = await loadConfig(file, {});
  const reloads: BouncerConfig[] = [];
  const errors: unknown[] = [];
  const watcher = watchConfig({
    path: file,
    env: {},
    initial,
    intervalMs: INTERVAL_MS,
    onReload: (next) => reloads.push(next),
    onError: (err) => errors.push(err),
  });
  watchers.push(watcher);
  return { dir, file, initial, watcher, reloads, errors };
}

const watchers: ConfigWatcher[] = [];
afterEach(() => {
  for (const w of watchers.splice(0)) w.close();
});

/** Saves like an editor does: write a temporary file, then rename it over the original. */
function saveByRename(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

describe('watchConfig', () => {
  test('an edit that adds a tenant reaches onReload', async () => {
    const s = await setup();
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'globex', ca: './b-ca.pem' }]));
    await waitFor('the reload', async () => s.reloads.length > 0, 5000, 20);
    expect(s.reloads).toHaveLength(1);
    expect(s.reloads[0]?.tenants.map((t) => t.name)).toEqual(['acme', 'globex']);
    expect(s.reloads[0]?.files).toContain(join(s.dir, 'b-ca.pem'));
    expect(s.errors).toEqual([]);
  });

  test('an invalid edit reports one error and keeps the last good config; fixing it reloads', async () => {
    const s = await setup();
    saveByRename(s.file, 'tenants: [ { name: broken');
    await waitFor('the error', async () => s.errors.length > 0, 5000, 20);
    await sleep(QUIET_MS);
    expect(s.errors).toHaveLength(1); // reported once, not on every poll
    expect(s.errors[0]).toBeInstanceOf(ConfigError);
    expect(s.errors[0]).toMatchObject({ code: 'ERR_CONFIG_INVALID', issues: expect.arrayContaining([expect.objectContaining({ file: s.file, line: 1, field: '(yaml)' })]) });
    expect(s.reloads).toEqual([]);
    await expect(s.watcher.reloadNow()).resolves.toBe(false);
    expect(s.reloads).toEqual([]);

    saveByRename(s.file, yaml([{ name: 'acme' }, { name: 'fixed' }]));
    await waitFor('the reload after the fix', async () => s.reloads.length > 0, 5000, 20);
    expect(s.reloads[0]?.tenants.map((t) => t.name)).toEqual(['acme', 'fixed']);
  });

  test('reverting an invalid edit to the config in force is reported as a successful reload', async () => {
    const s = await setup();
    const original = yaml([{ name: 'acme' }]);
    writeFileSync(s.file, 'tenants: {');
    await waitFor('the error', async () => s.errors.length > 0, 5000, 20);
    writeFileSync(s.file, original);
    // Same config as before, but the caller must learn that reloading works again.
    await waitFor('the reload', async () => s.reloads.length > 0, 5000, 20);
    expect(s.reloads[0]?.tenants.map((t) => t.name)).toEqual(['acme']);
  });

  test('a changed CA file triggers a reload with the new certificate', async () => {
    const s = await setup();
    expect(s.initial.tenants[0]?.mtls.trust?.roots[0]?.fingerprint256).toBe(fingerprint(caA.certPem));
    saveByRename(join(s.dir, 'a-ca.pem'), caB.certPem);
    await waitFor('the reload', async () => s.reloads.length > 0, 5000, 20);
    expect(s.reloads[0]?.tenants[0]?.mtls.trust?.roots[0]?.fingerprint256).toBe(fingerprint(caB.certPem));
  });

  test('a CA file that does not exist yet makes only its tenant unusable, and is watched: creating it reloads', async () => {
    const s = await setup();
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'late', ca: './late-ca.pem' }]));
    await waitFor('the reload', async () => s.reloads.length > 0, 5000, 20);
    expect(s.errors).toEqual([]);
    expect(s.reloads[0]?.tenants.map((t) => [t.name, t.mtls.trust?.roots.length])).toEqual([
      ['acme', 1],
      ['late', 0],
    ]);
    expect(s.reloads[0]?.warnings).toEqual([expect.stringMatching(/tenant late: CA file .*late-ca\.pem: cannot be read: no such file or directory \(ENOENT\)/)]);
    writeFileSync(join(s.dir, 'late-ca.pem'), caB.certPem);
    await waitFor('the second reload', async () => s.reloads.length > 1, 5000, 20);
    expect(s.reloads[1]?.tenants.map((t) => [t.name, t.mtls.trust?.roots.length])).toEqual([
      ['acme', 1],
      ['late', 1],
    ]);
  });

  test('touching or rewriting a file with the same content changes nothing', async () => {
    const s = await setup();
    const later = new Date(Date.now() + 5000);
    utimesSync(s.file, later, later);
    saveByRename(join(s.dir, 'a-ca.pem'), caA.certPem);
    await sleep(QUIET_MS);
    expect(s.reloads).toEqual([]);
    expect(s.errors).toEqual([]);
    await expect(s.watcher.reloadNow()).resolves.toBe(true);
    expect(s.reloads).toEqual([]);
  });

  test('a Kubernetes-style ConfigMap symlink swap is seen', async () => {
    const dir = mkdtempSync(join(root, 'k8s-'));
    for (const [version, tenants] of [
      ['v1', [{ name: 'acme' }]],
      ['v2', [{ name: 'acme' }, { name: 'swapped' }]],
    ] as const) {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, 'a-ca.pem'), caA.certPem);
      writeFileSync(join(dir, version, 'bouncer.yaml'), yaml([...tenants]));
    }
    // /dir/bouncer.yaml -> ..data/bouncer.yaml, ..data -> v1, as the kubelet lays it out.
    symlinkSync('v1', join(dir, '..data'));
    symlinkSync(join('..data', 'bouncer.yaml'), join(dir, 'bouncer.yaml'));
    symlinkSync(join('..data', 'a-ca.pem'), join(dir, 'a-ca.pem'));
    const file = join(dir, 'bouncer.yaml');
    const reloads: BouncerConfig[] = [];
    const watcher = watchConfig({ path: file, env: {}, initial: await loadConfig(file, {}), intervalMs: INTERVAL_MS, onReload: (c) => reloads.push(c), onError: () => undefined });
    watchers.push(watcher);
    symlinkSync('v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor('the reload', async () => reloads.length > 0, 5000, 20);
    expect(reloads[0]?.tenants.map((t) => t.name)).toEqual(['acme', 'swapped']);
  });

  test('close stops polling; reloadNow still works after it', async () => {
    const s = await setup();
    s.watcher.close();
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'after-close' }]));
    await sleep(QUIET_MS);
    expect(s.reloads).toEqual([]);
    await expect(s.watcher.reloadNow()).resolves.toBe(true);
    expect(s.reloads.map((c) => c.tenants.length)).toEqual([2]);
  });

  test('concurrent reloadNow calls do not overlap and the last one sees the newest files', async () => {
    const s = await setup();
    s.watcher.close();
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'second' }]));
    const first = s.watcher.reloadNow();
    // Written while the first reload may be reading: the queued one must pick it up.
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'second' }, { name: 'third' }]));
    const rest = [s.watcher.reloadNow(), s.watcher.reloadNow()];
    expect(rest[0]).toBe(rest[1]); // coalesced into one follow-up run
    await expect(Promise.all([first, ...rest])).resolves.toEqual([true, true, true]);
    expect(s.reloads.at(-1)?.tenants.map((t) => t.name)).toEqual(['acme', 'second', 'third']);
    expect(s.reloads.length).toBeLessThanOrEqual(2);
  });

  test('a throwing onReload is reported through onError and does not stop the watcher', async () => {
    const s = await setup();
    const errors: unknown[] = [];
    let calls = 0;
    const watcher = watchConfig({
      path: s.file,
      env: {},
      initial: s.initial,
      intervalMs: INTERVAL_MS,
      onReload: () => {
        calls++;
        throw new Error('apply failed');
      },
      onError: (err) => errors.push(err),
    });
    watchers.push(watcher);
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'boom' }]));
    await waitFor('the error', async () => errors.length > 0, 5000, 20);
    expect((errors[0] as Error).message).toBe('apply failed');
    writeFileSync(s.file, yaml([{ name: 'acme' }, { name: 'boom' }, { name: 'again' }]));
    await waitFor('the second reload', async () => calls > 1, 5000, 20);
  });
});

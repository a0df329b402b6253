// `bouncer hostname …` against a running admin API, and `bouncer hostname
// rewrap` finishing a key-encryption key rotation on PostgreSQL.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseKekRing } from '../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../src/hostnames/manager.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createPgHostnameStore, type PgHostnameStore } from '../../src/hostnames/pg-store.js';
import { createRootCa, issueIntermediateCa, issueServerCert } from '../../src/pki/generate.js';
import { runCaptured } from '../helpers/cli.js';
import { startTestAdmin, tokenOf, type TestAdmin } from '../helpers/admin-server.js';

let admin: TestAdmin;
let manager: HostnameManager | undefined;
let store: PgHostnameStore | undefined;
let dir: string;
const oldKek = `k2025:${randomBytes(32).toString('base64')}`;
const newKek = `k2026:${randomBytes(32).toString('base64')}`;
const files: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-hostname-cli-'));
  const root = await createRootCa({ commonName: 'CLI Root' });
  const inter = await issueIntermediateCa({ commonName: 'CLI Intermediate', issuer: root });
  const leaf = await issueServerCert({ commonName: 'pay.cli.test', issuer: inter, dns: ['pay.cli.test'] });
  const other = await issueServerCert({ commonName: 'other.cli.test', issuer: inter, dns: ['other.cli.test'] });
  for (const [name, text] of Object.entries({ chain: leaf.certPem + inter.certPem + root.certPem, key: leaf.keyPem, otherKey: other.keyPem, token: `${tokenOf('hostwriter')}\n` })) {
    files[name] = join(dir, name);
    writeFileSync(files[name] as string, text, { mode: 0o600 });
  }
  admin = await startTestAdmin({
    hostnames: async (tenants, db) => {
      store = await createPgHostnameStore({ connection: db.connection });
      manager = createHostnameManager({ store, tenants, keys: parseKekRing(oldKek, 'test'), clock: Date.now, logger: pino({ level: 'silent' }) });
      return manager;
    },
  });
  await admin.store.putTenant({ name: 'cli', hostnames: ['www.cli.test'], mtls: { mode: 'off' } });
  await manager?.start();
}, 60_000);

afterAll(async () => {
  await manager?.close();
  await store?.close();
  await admin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const as = (): string[] => ['--url', admin.url, '--token-file', files.token as string];

describe('bouncer hostname', () => {
  it('uploads, lists and shows a hostname in words', async () => {
    const up = await runCaptured(['hostname', 'upload', 'pay.cli.test', '--tenant', 'cli', '--cert', files.chain as string, '--key', files.key as string, ...as()]);
    expect(up).toEqual({ code: 0, out: 'uploaded pay.cli.test for tenant cli: active\n', err: '' });
    const list = await runCaptured(['hostname', 'list', ...as()]);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/^HOSTNAME\s+TENANT\s+SOURCE\s+NOT AFTER\s+STATE\npay\.cli\.test\s+cli\s+upload\s+\S+\s+active\n$/);
    const show = await runCaptured(['hostname', 'show', 'pay.cli.test', ...as()]);
    expect(show.out).toContain('pay.cli.test (tenant cli, upload): active');
    expect(show.out).toContain('issued by');
    expect(show.out).not.toContain('PRIVATE');
  });

  it('says why an upload is refused, with the reason code, and exits 1', async () => {
    const up = await runCaptured(['hostname', 'upload', 'pay.cli.test', '--tenant', 'cli', '--cert', files.chain as string, '--key', files.otherKey as string, ...as()]);
    expect(up.code).toBe(1);
    expect(up.err).toMatch(/^error: ERR_UPLOAD_INVALID: upload_invalid_key_mismatch: /);
  });

  it('adds a hostname for ACME and shows its failure reason when no CA is configured', async () => {
    const add = await runCaptured(['hostname', 'add', 'shop.cli.test', '--tenant', 'cli', ...as()]);
    expect(add.out).toBe('added shop.cli.test for tenant cli: failed (acme_not_configured)\n');
    const show = await runCaptured(['hostname', 'show', 'shop.cli.test', ...as()]);
    expect(show.out).toContain('why: no ACME CA is configured');
    const failed = await runCaptured(['hostname', 'list', '--state', 'failed', '--json', ...as()]);
    expect((JSON.parse(failed.out) as { items: Array<{ hostname: string }> }).items.map((i) => i.hostname)).toEqual(['shop.cli.test']);
  });

  it('removes a hostname', async () => {
    expect(await runCaptured(['hostname', 'remove', 'shop.cli.test', ...as()])).toEqual({ code: 0, out: 'removed shop.cli.test\n', err: '' });
    const again = await runCaptured(['hostname', 'remove', 'shop.cli.test', ...as()]);
    expect(again.code).toBe(1);
    expect(again.err).toContain('ERR_CUSTOM_HOSTNAME_NOT_FOUND');
  });

  it('rewrap moves every stored key to the new KEK, after which the old one can go', async () => {
    const c = admin.db.connection;
    const url = `postgres://${encodeURIComponent(String(c.user))}@${c.host}:${c.port}/${c.database}`;
    const config = join(dir, 'bouncer.yaml');
    writeFileSync(join(dir, 'kek'), `# new key first, old key until rewrap has run\n${newKek}\n${oldKek}\n`, { mode: 0o600 });
    writeFileSync(config, `store:\n  postgres:\n    url: ${url}\nhostnames:\n  kek_file: kek\n`);
    const before = await store?.listSealed();
    expect(before?.map((e) => e.sealedKey.split('.')[1])).toEqual(['k2025']);
    const run = await runCaptured(['hostname', 'rewrap', '--config', config]);
    expect(run).toEqual({ code: 0, out: "re-wrapped 1 of 1 keys with 'k2026' (already on it: 0; changed meanwhile: 0); before: k2025: 1\n", err: '' });
    const again = await runCaptured(['hostname', 'rewrap', '--config', config, '--json']);
    expect(JSON.parse(again.out)).toMatchObject({ active_kek: 'k2026', total: 1, rewrapped: 0, current: 1 });
    // The old KEK is gone: a keyring of the new one alone opens every key.
    const onlyNew = parseKekRing(newKek, 'new');
    const [entry] = (await store?.listSealed()) ?? [];
    expect(onlyNew.open(entry?.sealedKey ?? '', `hostname-key|${entry?.id ?? ''}`)).toContain('BEGIN PRIVATE KEY');
    expect(() => parseKekRing(oldKek, 'old').open(entry?.sealedKey ?? '', `hostname-key|${entry?.id ?? ''}`)).toThrow(expect.objectContaining({ code: 'ERR_KEK_UNKNOWN' }));
  });

  it('rewrap refuses a config without a keyring-backed store', async () => {
    const config = join(dir, 'memory.yaml');
    writeFileSync(config, `tenants:\n  - name: t\n    hostnames: [t.cli.test]\n    mtls: { mode: 'off' }\nhostnames:\n  kek_env: SOME_KEK\n`);
    const run = await runCaptured(['hostname', 'rewrap', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.err).toContain('no store.postgres');
  });
});

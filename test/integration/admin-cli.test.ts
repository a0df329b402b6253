// `bouncer tenant|session|decisions|admin` against a running admin API backed by
// PostgreSQL: the round trip with a real CA file, and the errors an operator
// sees when the API, the token or the input is wrong.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/paths.js';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { runCaptured } from '../helpers/cli.js';
import { DAY, NOW, makeLeaf, makeRoot } from '../helpers/pki-fixtures.js';
import { startTestAdmin, tokenOf, type TestAdmin } from '../helpers/admin-server.js';

let admin: TestAdmin;
let dir: string;
let caFile: string;
let expiredFile: string;
let leafFile: string;
const tokenFile = (name: string): string => join(dir, `${name}.token`);

beforeAll(async () => {
  admin = await startTestAdmin();
  dir = mkdtempSync(join(tmpdir(), 'bouncer-admin-cli-'));
  const [root, expired] = await Promise.all([makeRoot('CN=Acme Devices Root'), makeRoot('CN=Old Root', { notBefore: NOW - 800 * DAY, notAfter: NOW - DAY })]);
  const leaf = await makeLeaf('CN=laptop', root);
  caFile = join(dir, 'acme-ca.pem');
  expiredFile = join(dir, 'old-ca.pem');
  leafFile = join(dir, 'leaf.pem');
  writeFileSync(caFile, root.pem);
  writeFileSync(expiredFile, expired.pem);
  writeFileSync(leafFile, leaf.pem);
  for (const name of ['root', 'reader', 'revoker', 'decisions']) writeFileSync(tokenFile(name), `${tokenOf(name)}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await admin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const as = (token: string): string[] => ['--url', admin.url, '--token-file', tokenFile(token)];

describe('bouncer tenant', () => {
  it('adds a tenant with a real CA file, then lists it as JSON', async () => {
    const add = await runCaptured(['tenant', 'add', 'acme', '--hostname', 'pay.acme.example', '--hostname', '*.api.acme.example', '--ca', caFile, '--exempt-path', '/healthz', ...as('root')]);
    expect(add).toEqual({ code: 0, out: 'created tenant acme (version 1, mtls require): *.api.acme.example, pay.acme.example\n', err: '' });
    const list = await runCaptured(['tenant', 'list', '--json', ...as('reader')]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.out)).toEqual({ items: [{ name: 'acme', hostnames: ['*.api.acme.example', 'pay.acme.example'], mode: 'require', version: 1 }] });
  });

  it('lists, shows, and changes hostnames in words', async () => {
    const list = await runCaptured(['tenant', 'list', ...as('reader')]);
    expect(list.out).toBe('NAME  MODE      VERSION  HOSTNAMES\nacme  require         1  *.api.acme.example, pay.acme.example\n');
    const show = await runCaptured(['tenant', 'show', 'acme', ...as('reader')]);
    expect(show.code).toBe(0);
    expect(show.out).toContain('tenant acme (version 1');
    expect(show.out).toContain('exempt paths: /healthz');
    expect(show.out).toMatch(/CA: CN=Acme Devices Root \(sha256 [0-9a-f]{64}, until /);
    const added = await runCaptured(['tenant', 'add-hostname', 'acme', 'shop.acme.example', ...as('root')]);
    expect(added.out).toBe('updated tenant acme (version 2, mtls require): *.api.acme.example, pay.acme.example, shop.acme.example\n');
    const removed = await runCaptured(['tenant', 'remove-hostname', 'acme', 'shop.acme.example', ...as('root')]);
    expect(removed.code).toBe(0);
    const setCa = await runCaptured(['tenant', 'set-ca', 'acme', caFile, '--json', ...as('root')]);
    expect(JSON.parse(setCa.out)).toMatchObject({ tenant: { name: 'acme', version: 4 }, warnings: [] });
    const mode = await runCaptured(['tenant', 'set-mode', 'acme', 'optional', ...as('root')]);
    expect(mode.out).toBe('updated tenant acme (version 5, mtls optional): *.api.acme.example, pay.acme.example\n');
  });

  it('pages with --limit, --after and --all, and refuses a --limit that is not a number', async () => {
    expect((await runCaptured(['tenant', 'add', 'zeta', '--hostname', 'zeta.example', '--mode', 'off', ...as('root')])).code).toBe(0);
    try {
      type Page = { items: Array<{ name: string }>; next?: string };
      const first = JSON.parse((await runCaptured(['tenant', 'list', '--limit', '1', '--json', ...as('reader')])).out) as Page;
      expect(first.items.map((t) => t.name)).toEqual(['acme']);
      expect(first.next).toEqual(expect.any(String));
      const second = JSON.parse((await runCaptured(['tenant', 'list', '--limit', '1', '--after', first.next ?? '', '--json', ...as('reader')])).out) as Page;
      expect(second.items.map((t) => t.name)).toEqual(['zeta']);
      const all = JSON.parse((await runCaptured(['tenant', 'list', '--limit', '1', '--all', '--json', ...as('reader')])).out) as Page;
      expect(all).toEqual({ items: [expect.objectContaining({ name: 'acme' }), expect.objectContaining({ name: 'zeta' })] });
      const words = await runCaptured(['tenant', 'list', '--limit', '1', ...as('reader')]);
      expect(words.out).toMatch(/\n\(more: --after \S+, or --all\)\n$/);
      const bad = await runCaptured(['tenant', 'list', '--limit', 'ten', ...as('reader')]);
      expect(bad).toMatchObject({ code: 2, err: expect.stringMatching(/^error: ERR_CLI_USAGE: --limit must be a whole number from 1 to 1000; got 'ten'/) as unknown });
    } finally {
      await runCaptured(['tenant', 'remove', 'zeta', '--yes', ...as('root')]);
    }
  });

  it('shows the API refusal of a bad CA as one line with its code and request id', async () => {
    const expired = await runCaptured(['tenant', 'set-ca', 'acme', expiredFile, ...as('root')]);
    expect(expired.code).toBe(1);
    expect(expired.out).toBe('');
    expect(expired.err).toMatch(/^error: ERR_CA_INVALID: mtls\.ca_pem: certificate "CN=Old Root" .*expired.* \(request id [0-9a-f-]{36}\)\n$/);
    const notCa = await runCaptured(['tenant', 'add', 'bad', '--hostname', 'bad.example', '--ca', leafFile, ...as('root')]);
    expect(notCa.err).toMatch(/^error: ERR_CA_INVALID: mtls\.ca_pem: certificate "CN=laptop" /);
    const taken = await runCaptured(['tenant', 'add', 'copy', '--hostname', 'pay.acme.example', '--mode', 'off', ...as('root')]);
    expect(taken.err).toMatch(/^error: ERR_HOSTNAME_TAKEN: hostnames: 'pay\.acme\.example' already belongs to tenant 'acme'/);
    const missing = await runCaptured(['tenant', 'show', 'nobody', ...as('reader')]);
    expect(missing).toMatchObject({ code: 1, err: expect.stringMatching(/^error: ERR_TENANT_NOT_FOUND: no tenant named 'nobody'/) as unknown });
    const noFile = await runCaptured(['tenant', 'set-ca', 'acme', join(dir, 'nope.pem'), ...as('root')]);
    expect(noFile).toMatchObject({ code: 2, err: expect.stringMatching(/^error: ERR_CLI_USAGE: cannot read CA file .*nope\.pem: ENOENT/) as unknown });
  });

  it('says which scope is missing, and what to check when the token is wrong or absent', async () => {
    const forbidden = await runCaptured(['tenant', 'add', 'x', '--hostname', 'x.example', '--mode', 'off', ...as('reader')]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.err).toMatch(/^error: ERR_ADMIN_FORBIDDEN: token 'reader' lacks scope 'tenants:write'/);
    writeFileSync(join(dir, 'wrong.token'), 'not-a-real-token');
    const wrong = await runCaptured(['tenant', 'list', '--url', admin.url, '--token-file', join(dir, 'wrong.token')]);
    expect(wrong.err).toMatch(/^error: ERR_ADMIN_UNAUTHENTICATED: the bearer token matches no admin token; check BOUNCER_ADMIN_TOKEN or --token-file/);
    const saved = process.env.BOUNCER_ADMIN_TOKEN;
    delete process.env.BOUNCER_ADMIN_TOKEN;
    try {
      const none = await runCaptured(['tenant', 'list', '--url', admin.url]);
      expect(none).toMatchObject({ code: 2, err: expect.stringMatching(/^error: ERR_ADMIN_NO_TOKEN: no admin token: set BOUNCER_ADMIN_TOKEN/) as unknown });
    } finally {
      if (saved !== undefined) process.env.BOUNCER_ADMIN_TOKEN = saved;
    }
    // Tokens are never accepted as arguments: they would show in `ps` and shell history.
    const argv = await runCaptured(['tenant', 'list', '--url', admin.url, '--token', tokenOf('root')]);
    expect(argv.code).toBe(2);
    expect(argv.err).toContain("unknown option '--token'");
  });

  it('says clearly when the API cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there now.
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((done) => probe.close(done));
    const r = await runCaptured(['tenant', 'list', '--url', `http://127.0.0.1:${port}`, '--token-file', tokenFile('root')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: ERR_ADMIN_UNREACHABLE: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: connection refused \(ECONNREFUSED\); is bouncer running with an admin section/);
    const bad = await runCaptured(['tenant', 'list', '--url', 'ftp://x', '--token-file', tokenFile('root')]);
    expect(bad).toMatchObject({ code: 2, err: expect.stringContaining('ERR_ADMIN_BAD_URL') as unknown });
  });

  it('takes the URL and token from the environment', async () => {
    const saved = { url: process.env.BOUNCER_ADMIN_URL, token: process.env.BOUNCER_ADMIN_TOKEN };
    process.env.BOUNCER_ADMIN_URL = admin.url;
    process.env.BOUNCER_ADMIN_TOKEN = tokenOf('reader');
    try {
      const r = await runCaptured(['tenant', 'list', '--json']);
      expect(r.code).toBe(0);
      expect((JSON.parse(r.out) as { items: Array<{ name: string }> }).items.map((t) => t.name)).toEqual(['acme']);
    } finally {
      for (const [k, v] of [['BOUNCER_ADMIN_URL', saved.url], ['BOUNCER_ADMIN_TOKEN', saved.token]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('removes a tenant only with --yes', async () => {
    const unsure = await runCaptured(['tenant', 'remove', 'acme', ...as('root')]);
    expect(unsure).toMatchObject({ code: 2, err: expect.stringContaining('run again with --yes') as unknown });
    expect((await admin.call('GET', '/v1/tenants/acme')).status).toBe(200);
    const sure = await runCaptured(['tenant', 'remove', 'acme', '--yes', ...as('root')]);
    expect(sure).toEqual({ code: 0, out: 'removed tenant acme\n', err: '' });
    expect((await admin.call('GET', '/v1/tenants/acme')).status).toBe(404);
  });

  it('has help for every subcommand', async () => {
    const help = await runCaptured(['tenant', '--help']);
    expect(help.code).toBe(0);
    for (const sub of ['add', 'list', 'show', 'remove', 'add-hostname', 'remove-hostname', 'set-ca', 'set-crls', 'set-mode']) expect(help.out).toMatch(new RegExp(`\\n  ${sub}\\b`));
    const addHelp = await runCaptured(['tenant', 'add', '--help']);
    expect(addHelp.out).toContain('--token-file <file>');
    expect(addHelp.out).toContain('BOUNCER_ADMIN_TOKEN');
  });
});

describe('bouncer session, decisions, admin', () => {
  it('revokes a session and a user', async () => {
    const s = await runCaptured(['session', 'revoke', '--sid', 'sid-42', ...as('revoker')]);
    expect(s.code).toBe(0);
    expect(s.out).toBe(`revoked session sid-42: refused until ${new Date(NOW + 8 * 3600_000).toISOString()}\n`);
    expect(admin.revocation.isRevoked({ sid: 'sid-42', sub: 'u', iat: Math.floor(NOW / 1000) }, NOW)).toBe(true);
    const u = await runCaptured(['session', 'revoke', '--user', 'okta|bob', '--json', ...as('revoker')]);
    expect(JSON.parse(u.out)).toMatchObject({ revoked: 'user', target: 'okta|bob', propagated: true });
    const neither = await runCaptured(['session', 'revoke', ...as('revoker')]);
    expect(neither).toMatchObject({ code: 2, err: 'error: ERR_CLI_USAGE: give exactly one of --sid SESSION_ID or --user SUB\n' });
  });

  it('queries decisions with filters', async () => {
    const base = { path: '/x', method: 'GET', app: null, sub: null, email: null, cert_fingerprint: null, tenant: 'acme', host: 'pay.acme.example' };
    admin.decisions.record({ ...base, time: NOW - 5000, request_id: 'ok1', allow: true, status: 200, reason: 'mtls_verified' });
    admin.decisions.record({ ...base, time: NOW - 1000, request_id: 'no1', allow: false, status: 403, reason: 'client_cert_revoked' });
    const denied = await runCaptured(['decisions', '--deny', '--tenant', 'acme', '--json', ...as('decisions')]);
    expect((JSON.parse(denied.out) as { items: Array<{ request_id: string }> }).items.map((d) => d.request_id)).toEqual(['no1']);
    const words = await runCaptured(['decisions', '--limit', '5', ...as('decisions')]);
    expect(words.out.split('\n')[0]).toBe(`${new Date(NOW - 1000).toISOString()}  DENY  403 client_cert_revoked      GET pay.acme.example/x  tenant=acme`);
    const bad = await runCaptured(['decisions', '--since', 'last tuesday', ...as('decisions')]);
    expect(bad).toMatchObject({ code: 2, err: expect.stringContaining('--since must be an RFC 3339 time') as unknown });
    const both = await runCaptured(['decisions', '--allow', '--deny', ...as('decisions')]);
    expect(both.code).toBe(2);
  });

  it('shows the audit trail and the calling token', async () => {
    const audit = await runCaptured(['admin', 'audit', '--actor', 'root', '--json', ...as('root')]);
    const items = (JSON.parse(audit.out) as { items: Array<{ action: string; actor: string }> }).items;
    expect(items.map((e) => e.action)).toContain('tenant.create');
    expect(items.every((e) => e.actor === 'root')).toBe(true);
    const me = await runCaptured(['admin', 'whoami', ...as('reader')]);
    expect(me.out).toBe('token reader: tenants:read\n');
  });

  it('generates a token with the hash the config needs', async () => {
    const r = await runCaptured(['admin', 'hash-token', '--generate']);
    const m = /^token: +([0-9a-f]{64})\nsecret_sha256: ([0-9a-f]{64})\n$/.exec(r.out);
    expect(m).not.toBeNull();
    expect(hashAdminToken(m?.[1] ?? '')).toBe(m?.[2]);
  });

  it('works as the installed binary, hashing a token read from stdin', async () => {
    const bin = join(packageRoot(), 'dist', 'src', 'cli', 'bin.js');
    const run = promisify(execFile);
    const child = run(process.execPath, [bin, 'admin', 'hash-token']);
    child.child.stdin?.end('test');
    expect((await child).stdout).toBe('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n');
    const { stdout } = await run(process.execPath, [bin, 'tenant', 'list', '--json', '--url', admin.url], { env: { ...process.env, BOUNCER_ADMIN_TOKEN: tokenOf('reader') } });
    expect(JSON.parse(stdout)).toEqual({ items: [] });
  });
});

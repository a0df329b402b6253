// The optional `admin` section of the config file: off when absent, checked
// like the rest of the file (every problem at file:line:column), tokens only
// as hashes, scopes from the fixed list.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { hashAdminToken } from '../../src/admin/tokens.js';

let dir: string;
let n = 0;
const HASH = hashAdminToken('token-one');
const HASH2 = hashAdminToken('token-two');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-admin-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads a config whose tenants are trivial and whose admin section is `admin`. */
async function load(admin: string): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const path = join(dir, `c${++n}.yaml`);
  writeFileSync(path, `tenants:\n  - { name: a, hostnames: [a.example], mtls: { mode: "off" } }\n${admin}`);
  return loadConfig(path, {});
}

async function issues(admin: string): Promise<string[]> {
  const err = await load(admin).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error('expected a ConfigError');
  return err.issues.map((i) => `${i.line ?? '-'}:${i.column ?? '-'} ${i.field}: ${i.message}`);
}

describe('admin config section', () => {
  it('is off when absent', async () => {
    expect((await load('')).admin).toBeUndefined();
  });

  it('reads listen and tokens, lowercasing hashes and defaulting listen to 127.0.0.1:9002', async () => {
    const c = await load(`admin:\n  tokens:\n    - { id: ops, secret_sha256: ${HASH.toUpperCase()}, scopes: [admin] }\n    - { id: ci, secret_sha256: ${HASH2}, scopes: [tenants:read, tenants:write, tenants:read] }\n`);
    expect(c.admin).toEqual({
      listen: { host: '127.0.0.1', port: 9002 },
      tokens: [
        { id: 'ops', secretSha256: HASH, scopes: ['admin'] },
        { id: 'ci', secretSha256: HASH2, scopes: ['tenants:read', 'tenants:write'] },
      ],
    });
    expect(Object.isFrozen(c.admin)).toBe(true);
    expect(c.warnings).toEqual([]);
  });

  it('warns when listening beyond loopback, where tokens would travel in clear', async () => {
    const c = await load(`admin:\n  listen: 0.0.0.0:9002\n  tokens: [{ id: ops, secret_sha256: ${HASH}, scopes: [admin] }]\n`);
    expect(c.admin?.listen).toEqual({ host: '0.0.0.0', port: 9002 });
    expect(c.warnings).toEqual([expect.stringContaining('not a loopback address') as unknown]);
  });

  it('reports every problem at its line and column', async () => {
    const found = await issues(
      [
        'admin:',
        '  listen: nowhere',
        '  tokens:',
        `    - { id: ops, secret_sha256: ${HASH}, scopes: [tenant:write] }`,
        '    - { id: "Bad Id", secret_sha256: abc, scopes: [] }',
        '    - { id: leak, token: hunter2hunter2, secret_sha256: hunter2, scopes: [admin] }',
        `    - { id: ops, secret_sha256: ${HASH2}, scopes: [admin] }`,
        `    - { id: twin, secret_sha256: ${HASH2}, scopes: [admin] }`,
        '  token_file: /etc/x',
        '',
      ].join('\n'),
    );
    // Lines 1-2 hold the tenants list, so `admin:` is line 3.
    expect(found).toEqual([
      "4:11 admin.listen: 'nowhere' has no port; write HOST:PORT, like 127.0.0.1:9001",
      expect.stringMatching(/^6:\d+ admin\.tokens\[0\]\.scopes\[0\]: unknown scope 'tenant:write' \(did you mean 'tenants:write'\?\); expected one of tenants:read, tenants:write, /),
      "7:13 admin.tokens[1].id: id must be 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit; got 'Bad Id'",
      "7:38 admin.tokens[1].secret_sha256: secret_sha256 must be 64 hexadecimal digits, the hex SHA-256 of the token (`printf %s \"$TOKEN\" | sha256sum`; `bouncer admin hash-token` prints it); the value is not shown here in case it is the token itself",
      '7:51 admin.tokens[1].scopes: scopes must list at least one entry',
      expect.stringMatching(/^8:19 admin\.tokens\[2\]\.token: the token itself is never written in the config file: write secret_sha256/),
      expect.stringMatching(/^8:57 admin\.tokens\[2\]\.secret_sha256: secret_sha256 must be 64 hexadecimal digits/),
      // tokens[0] was refused above, so its id is free for tokens[3]; tokens[4] repeats tokens[3]'s token.
      '10:7 admin.tokens[4].secret_sha256: the same token as admin.tokens[3]: one token would act under two ids; generate a token for each',
      "11:3 admin.token_file: unknown field 'token_file'; expected one of listen, tokens",
    ]);
    expect(found.join('\n')).not.toContain('hunter2');
  });

  it('requires at least one token', async () => {
    expect(await issues('admin:\n  listen: 127.0.0.1:9002\n')).toEqual([expect.stringMatching(/^4:3 admin\.tokens: admin\.tokens is required/)]);
    expect(await issues('admin:\n  tokens: []\n')).toEqual(['4:11 admin.tokens: tokens must list at least one entry']);
  });
});

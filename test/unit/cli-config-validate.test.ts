import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, err, out } from '../helpers/cli.js';
import type { ValidateReport } from '../../src/cli/config-validate.js';
import { createRootCa } from '../../src/pki/generate.js';

let dir: string;

const p = (name: string): string => join(dir, name);
const DAY = 86_400_000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-cli-config-'));
  const ca = await createRootCa({ commonName: 'cli root CA', keyAlgorithm: 'ec-p256', validDays: 365 });
  const soon = await createRootCa({ commonName: 'cli soon CA', keyAlgorithm: 'ec-p256', validDays: 5 });
  writeFileSync(p('ca.pem'), ca.certPem);
  writeFileSync(p('soon-ca.pem'), soon.certPem);
  const expired = await createRootCa({ commonName: 'cli old CA', keyAlgorithm: 'ec-p256', notBefore: new Date(Date.now() - 40 * DAY), notAfter: new Date(Date.now() - DAY) });
  writeFileSync(p('expired-ca.pem'), expired.certPem);
  writeFileSync(
    p('one-bad-tenant.yaml'),
    ['tenants:', '  - name: acme', '    hostnames: [pay.acme.test]', '    mtls: { mode: require, ca: ./ca.pem }', '  - name: globex', '    hostnames: [pay.globex.test]', '    mtls: { mode: require, ca: ./expired-ca.pem }', ''].join('\n'),
  );
  writeFileSync(
    p('good.yaml'),
    ['tenants:', '  - name: acme', '    hostnames: [pay.acme.test, "*.api.acme.test"]', '    mtls: { mode: require, ca: ./ca.pem }', '  - name: open', '    hostnames: [app.open.test]', '    mtls: { mode: "off" }', ''].join('\n'),
  );
  writeFileSync(p('warn.yaml'), ['tenants:', '  - name: soon', '    hostnames: [soon.test.example]', '    mtls: { ca: ./soon-ca.pem }', ''].join('\n'));
  writeFileSync(
    p('bad.yaml'),
    ['tenants:', '  - name: acme', '    hostnames: [pay.acme.test]', '    mtls: { mode: requried, ca: ./ca.pem }', '  - name: globex', '    hostnames: [pay.acme.test]', '    mtls: { mode: require, ca: ./missing.pem }', ''].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeEach(() => {
  process.exitCode = undefined;
});
afterEach(() => {
  // The command reports failure through process.exitCode; do not let it leak into jest's own exit.
  process.exitCode = undefined;
});

describe('bouncer config validate', () => {
  test('a valid file: "ok" with tenant and hostname counts, exit 0', async () => {
    expect(await cli('config', 'validate', p('good.yaml'))).toBe(0);
    expect(out).toBe('ok: 2 tenants, 3 hostnames\n');
    expect(err).toBe('');
  });

  test('warnings are printed after ok, and do not fail validation', async () => {
    expect(await cli('config', 'validate', p('warn.yaml'))).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('ok: 1 tenants, 1 hostnames');
    expect(lines[1]).toMatch(/^warning: tenant soon: CA certificate "CN=cli soon CA" in .*soon-ca\.pem expires on .* \(in [45] days\)$/);
  });

  test('an invalid file: every issue as file:line:col: field: message, exit 1', async () => {
    expect(await cli('config', 'validate', p('bad.yaml'))).toBe(1);
    expect(out).toBe('');
    const file = p('bad.yaml');
    expect(err.trimEnd().split('\n')).toEqual([
      `${file}:4:19: tenants[0].mtls.mode: mode must be one of require, optional, off; got 'requried'`,
      `${file}:6:17: tenants[1].hostnames[0]: hostname 'pay.acme.test' is claimed by both tenant 'acme' (line 3) and tenant 'globex'; a hostname belongs to exactly one tenant`,
      `2 problems in ${file}`,
    ]);
  });

  test("one tenant's expired CA is a warning located at its ca line: exit 0, the other tenant is fine", async () => {
    expect(await cli('config', 'validate', p('one-bad-tenant.yaml'))).toBe(0);
    expect(err).toBe('');
    expect(out.trimEnd().split('\n')).toEqual([
      'ok: 2 tenants, 2 hostnames',
      'trust: 1 ok, 0 degraded (some CA certificates unusable), 1 unusable (no usable CA; their devices are denied)',
      expect.stringMatching(
        new RegExp(
          `^warning: ${p('one-bad-tenant.yaml')}:7:32: tenants\\[1\\]\\.mtls\\.ca: tenant globex: CA file ${p('expired-ca.pem')}: certificate "CN=cli old CA" expired on [0-9TZ:-]+; no usable CA certificate is left, so their devices are denied tenant_trust_unusable until it is fixed$`,
        ),
      ),
    ]);
  });

  test('--strict makes the same warning fail, exit 1, for CI', async () => {
    expect(await cli('config', 'validate', '--strict', p('one-bad-tenant.yaml'))).toBe(1);
    expect(out).toContain('warning: ');
    expect(err).toBe('error: 1 warning, and --strict makes warnings fail\n');
    expect(await cli('config', 'validate', '--strict', '--json', p('one-bad-tenant.yaml'))).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ ok: true, failed_on_warnings: true, trust: { ok: 1, degraded: 0, unusable: 1 }, warnings: [expect.stringContaining('tenant globex')] });
    // Without warnings, --strict passes.
    expect(await cli('config', 'validate', '--strict', p('good.yaml'))).toBe(0);
  });

  test('--json on a valid file', async () => {
    expect(await cli('config', 'validate', '--json', p('good.yaml'))).toBe(0);
    const report = JSON.parse(out) as ValidateReport;
    expect(report).toEqual({
      ok: true,
      file: p('good.yaml'),
      tenants: 2,
      hostnames: 3,
      trust: { ok: 2, degraded: 0, unusable: 0 },
      files: [p('good.yaml'), p('ca.pem')],
      warnings: [],
      issues: [],
      failed_on_warnings: false,
    });
  });

  test('--json on an invalid file lists the issues with their positions, exit 1', async () => {
    expect(await cli('config', 'validate', p('bad.yaml'), '--json')).toBe(1);
    const report = JSON.parse(out) as ValidateReport;
    expect(report.ok).toBe(false);
    if (report.ok) return;
    expect(report.code).toBe('ERR_CONFIG_INVALID');
    expect(report.issues).toHaveLength(2);
    expect(report.issues[0]).toEqual({
      file: p('bad.yaml'),
      line: 4,
      column: 19,
      field: 'tenants[0].mtls.mode',
      message: "mode must be one of require, optional, off; got 'requried'",
    });
  });

  test('a file that cannot be read: exit 1 with the reason', async () => {
    expect(await cli('config', 'validate', p('nope.yaml'))).toBe(1);
    expect(err).toBe(`error: cannot read config file ${p('nope.yaml')}: no such file or directory (ENOENT)\n`);
    expect(await cli('config', 'validate', '--json', p('nope.yaml'))).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ ok: false, code: 'ERR_CONFIG_READ' });
  });

  test('environment overrides are checked too', async () => {
    const saved = process.env.BOUNCER_LISTEN_AUTHZ;
    process.env.BOUNCER_LISTEN_AUTHZ = 'localhost';
    try {
      expect(await cli('config', 'validate', p('good.yaml'))).toBe(1);
      expect(err).toContain(`${p('good.yaml')}: env BOUNCER_LISTEN_AUTHZ: 'localhost' has no port`);
    } finally {
      if (saved === undefined) delete process.env.BOUNCER_LISTEN_AUTHZ;
      else process.env.BOUNCER_LISTEN_AUTHZ = saved;
    }
  });

  test('--help describes the command', async () => {
    expect(await cli('config', 'validate', '--help')).toBe(0);
    expect(out).toContain('Usage: bouncer config validate [options] <file>');
    expect(out).toContain('--json');
    expect(out).toContain('--strict');
    expect(out).toContain('Exit status: 0 when the config is valid, 1 when it is not (or, with --strict, when there are warnings).');
  });

  test('a missing file argument is a usage error', async () => {
    expect(await cli('config', 'validate')).toBe(2);
    expect(err).toContain("missing required argument 'file'");
  });
});

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli as run, err, out } from '../helpers/cli.js';
import { createRootCa, issueClientCert, issueIntermediateCa } from '../../src/pki/generate.js';

const DAY = 86_400_000;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-verify-'));
  const acme = await createRootCa({ commonName: 'acme root', notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() + 3650 * DAY) });
  const globex = await createRootCa({ commonName: 'globex root', notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() + 3650 * DAY) });
  const sub = await issueIntermediateCa({ issuer: acme, commonName: 'acme devices', validDays: 1000 });
  const laptop = await issueClientCert({ issuer: acme, commonName: 'acme-laptop', validDays: 30 });
  const phone = await issueClientCert({ issuer: sub, commonName: 'acme-phone', validDays: 30 });
  const intruder = await issueClientCert({ issuer: globex, commonName: 'globex-laptop', validDays: 30 });
  writeFileSync(join(dir, 'acme-ca.pem'), acme.certPem);
  writeFileSync(join(dir, 'globex-ca.pem'), globex.certPem);
  writeFileSync(join(dir, 'laptop.pem'), laptop.certPem);
  writeFileSync(join(dir, 'phone-leaf.pem'), phone.certPem);
  writeFileSync(join(dir, 'phone-full.pem'), phone.certPem + sub.certPem);
  writeFileSync(join(dir, 'sub.pem'), sub.certPem);
  writeFileSync(join(dir, 'intruder.pem'), intruder.certPem);
  writeFileSync(join(dir, 'garbage.pem'), 'not a certificate');
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    [
      'tenants:',
      '  - name: acme',
      '    hostnames: [pay.acme.test, "*.api.acme.test"]',
      '    mtls: { mode: require, ca: ./acme-ca.pem }',
      '  - name: globex',
      '    hostnames: [pay.globex.test]',
      '    mtls: { mode: require, ca: ./globex-ca.pem }',
      '  - name: open',
      '    hostnames: [open.test]',
      '    mtls: { mode: "off" }',
      '',
    ].join('\n'),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cfg = (): string[] => ['cert', 'verify', '-c', join(dir, 'bouncer.yaml')];

describe('bouncer cert verify', () => {
  test("a tenant's device passes, with its path and how long", async () => {
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'laptop.pem'))).toBe(0);
    expect(out).toMatch(/^PASS tenant acme \(mode require\)/);
    expect(out).toContain('leaf: CN=acme-laptop');
    expect(out).toContain('anchor: CN=acme root');
    expect(out).toMatch(/accepted until \d{4}-/);
  });

  test("another tenant's device fails with the reason code", async () => {
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'intruder.pem'))).toBe(1);
    expect(out).toMatch(/^FAIL tenant acme at .*: client_cert_untrusted/);
  });

  test('--host picks the tenant by hostname, wildcards included', async () => {
    expect(await run(...cfg(), '--host', 'eu.api.acme.test', '--cert', join(dir, 'laptop.pem'))).toBe(0);
    expect(await run(...cfg(), '--host', 'pay.globex.test', '--cert', join(dir, 'laptop.pem'))).toBe(1);
    expect(await run(...cfg(), '--host', 'nobody.test', '--cert', join(dir, 'laptop.pem'))).toBe(2);
    expect(err).toContain('no tenant serves hostname');
  });

  test('--at checks at another moment', async () => {
    const later = new Date(Date.now() + 60 * DAY).toISOString();
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'laptop.pem'), '--at', later, '--json')).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ tenant: 'acme', ok: false, reason: 'client_cert_expired', at: later });
    const earlier = String(Math.floor((Date.now() - 2 * DAY) / 1000));
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'laptop.pem'), '--at', earlier, '--json')).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ reason: 'client_cert_not_yet_valid' });
  });

  test("--at past the tenant's only root: the tenant's trust is at fault, tenant_trust_unusable", async () => {
    const afterRoot = new Date(Date.now() + 3700 * DAY).toISOString();
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'laptop.pem'), '--at', afterRoot, '--json')).toBe(1);
    expect(JSON.parse(out)).toMatchObject({ tenant: 'acme', ok: false, reason: 'tenant_trust_unusable', detail: expect.stringMatching(/no usable CA certificate: .*"CN=acme root" expired on/) });
  });

  test('intermediates come from the cert file or --chain', async () => {
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'phone-leaf.pem'))).toBe(1);
    expect(out).toContain('client_cert_untrusted');
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'phone-full.pem'), '--json')).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ ok: true, reason: 'mtls_verified' });
    expect((JSON.parse(out) as { chain: unknown[] }).chain).toHaveLength(3);
    expect(await run(...cfg(), '--tenant', 'acme', '--cert', join(dir, 'phone-leaf.pem'), '--chain', join(dir, 'sub.pem'))).toBe(0);
  });

  test('a tenant with mTLS off says so', async () => {
    expect(await run(...cfg(), '--tenant', 'open', '--cert', join(dir, 'intruder.pem'))).toBe(0);
    expect(out).toContain('mtls mode off');
  });

  test.each<[string, string[], number, RegExp]>([
    ['unknown tenant', ['--tenant', 'nope', '--cert', 'laptop.pem'], 2, /no tenant named "nope"/],
    ['both --tenant and --host', ['--tenant', 'acme', '--host', 'pay.acme.test', '--cert', 'laptop.pem'], 2, /either --tenant or --host/],
    ['neither --tenant nor --host', ['--cert', 'laptop.pem'], 2, /--tenant NAME or --host/],
    ['bad --at', ['--tenant', 'acme', '--cert', 'laptop.pem', '--at', 'next tuesday'], 2, /--at must be an ISO 8601 time/],
    ['missing cert file', ['--tenant', 'acme', '--cert', 'missing.pem'], 2, /cannot read certificate .*missing\.pem: ENOENT/],
    ['not a certificate', ['--tenant', 'acme', '--cert', 'garbage.pem'], 1, /ERR_CERT_PARSE/],
  ])('%s is a clear error', async (_name, args, code, message) => {
    const abs = args.map((a) => (a.endsWith('.pem') ? join(dir, a) : a));
    expect(await run(...cfg(), ...abs)).toBe(code);
    expect(err).toMatch(message);
  });

  test('a broken config is reported, not crashed on', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'tenants:\n  - name: acme\n    hostnames: [a.test]\n    mtls: { mode: requried }\n');
    expect(await run('cert', 'verify', '-c', join(dir, 'broken.yaml'), '--tenant', 'acme', '--cert', join(dir, 'laptop.pem'))).toBe(1);
    expect(err).toMatch(/ERR_CONFIG_INVALID: .*broken\.yaml:4:\d+: tenants\[0\]\.mtls\.mode/);
  });

  test('--help explains itself', async () => {
    expect(await run('cert', 'verify', '--help')).toBe(0);
    expect(out).toContain('--at <time>');
    expect(out).toContain('Exit status');
  });
});

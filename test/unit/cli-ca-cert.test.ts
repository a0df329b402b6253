import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { cli, err, out } from '../helpers/cli.js';
import { EKU_CLIENT_AUTH, parseCertificateBundle, type ParsedCert } from '../../src/core/cert-parse.js';

const DAY = 86_400_000;

let dir: string;

const p = (name: string): string => join(dir, name);
const mode = (path: string): number => statSync(path).mode & 0o777;
const cert = (path: string): ParsedCert => parseCertificateBundle(readFileSync(path, 'utf8'))[0]!;

function keyMatches(certPath: string, keyPath: string): boolean {
  const fromKey = createPublicKey(createPrivateKey(readFileSync(keyPath, 'utf8'))).export({ format: 'der', type: 'spki' });
  return fromKey.equals(new X509Certificate(readFileSync(certPath)).publicKey.export({ format: 'der', type: 'spki' }));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-cli-pki-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bouncer ca create', () => {
  test('writes the CA certificate (0644) and key (0600), and prints the fingerprint and config hint', async () => {
    expect(await cli('ca', 'create', '--name', 'acme', '--out-dir', p('pki'))).toBe(0);
    const certPath = p('pki/acme-ca.pem');
    const keyPath = p('pki/acme-ca.key');
    expect(mode(certPath)).toBe(0o644);
    expect(mode(keyPath)).toBe(0o600);
    const ca = cert(certPath);
    expect(ca.isCa).toBe(true);
    expect(ca.subject).toBe('O=acme, CN=acme device root CA');
    expect(ca.keyType).toBe('ec');
    expect(ca.notAfter - Date.now()).toBeGreaterThan(3649 * DAY);
    expect(keyMatches(certPath, keyPath)).toBe(true);
    expect(out).toContain(`wrote ${certPath}`);
    expect(out).toContain(`wrote ${keyPath}`);
    expect(out).toContain(`SHA-256 fingerprint: ${new X509Certificate(readFileSync(certPath)).fingerprint256}`);
    expect(out).toContain(`mtls: { mode: require, ca: ${certPath} }`);
    expect(err).toBe('');
  });

  test('refuses to overwrite without --force, naming the file, and leaves both files alone', async () => {
    const before = readFileSync(p('pki/acme-ca.key'), 'utf8');
    expect(await cli('ca', 'create', '--name', 'acme', '--out-dir', p('pki'))).toBe(2);
    expect(err).toBe(`error: ERR_CLI_USAGE: refusing to overwrite ${p('pki/acme-ca.pem')}; pass --force to replace it\n`);
    expect(readFileSync(p('pki/acme-ca.key'), 'utf8')).toBe(before);
  });

  test('--force replaces both, and a loosened key file comes back 0600', async () => {
    const before = readFileSync(p('pki/acme-ca.key'), 'utf8');
    chmodSync(p('pki/acme-ca.key'), 0o644);
    expect(await cli('ca', 'create', '--name', 'acme', '--out-dir', p('pki'), '--force')).toBe(0);
    expect(readFileSync(p('pki/acme-ca.key'), 'utf8')).not.toBe(before);
    expect(mode(p('pki/acme-ca.key'))).toBe(0o600);
    expect(keyMatches(p('pki/acme-ca.pem'), p('pki/acme-ca.key'))).toBe(true);
  });

  test('--key-type and --days are honoured', async () => {
    expect(await cli('ca', 'create', '--name', 'globex', '--out-dir', dir, '--key-type', 'rsa-3072', '--days', '30')).toBe(0);
    const ca = cert(p('globex-ca.pem'));
    expect(ca.keyType).toBe('rsa');
    expect(ca.keyBits).toBe(3072);
    expect(ca.notAfter - Date.now()).toBeGreaterThan(29 * DAY);
    expect(ca.notAfter - Date.now()).toBeLessThanOrEqual(30 * DAY);
  });

  test.each([
    [['--days', '0'], /--days must be a whole number of days greater than 0, got "0"/],
    [['--days', '1.5'], /--days must be a whole number/],
    [['--key-type', 'dsa'], /argument 'dsa' is invalid. Allowed choices are ec-p256, ec-p384/],
  ])('a bad flag %p is a usage error', async (flags, message) => {
    expect(await cli('ca', 'create', '--name', 'bad', '--out-dir', dir, ...flags)).toBe(2);
    expect(err).toMatch(message);
    expect(existsSync(p('bad-ca.pem'))).toBe(false);
  });

  test('a tenant name that is not a safe file name is a usage error', async () => {
    expect(await cli('ca', 'create', '--name', '../evil', '--out-dir', dir)).toBe(2);
    expect(err).toMatch(/ERR_CLI_USAGE: --name must be letters, digits/);
  });

  test('a missing --name exits 2', async () => {
    expect(await cli('ca', 'create', '--out-dir', dir)).toBe(2);
    expect(err).toMatch(/required option '--name <tenant>' not specified/);
  });

  test('--help describes the command with an example and exits 0', async () => {
    expect(await cli('ca', 'create', '--help')).toBe(0);
    expect(out).toMatch(/create a tenant's device root CA/);
    expect(out).toMatch(/Example:\n {2}\$ bouncer ca create --name acme/);
    expect(out).toMatch(/--key-type <type>/);
  });
});

describe('bouncer cert issue', () => {
  const ca = (): string[] => ['--ca-cert', p('pki/acme-ca.pem'), '--ca-key', p('pki/acme-ca.key')];

  test('writes a clientAuth device certificate (0644) and key (0600) with repeatable SANs', async () => {
    const code = await cli(
      'cert', 'issue', ...ca(), '--cn', 'acme-laptop-1',
      '--dns', 'laptop-1.acme.test', '--dns', 'laptop-1.corp.acme.test',
      '--uri', 'spiffe://acme.test/device/laptop-1', '--email', 'alice@acme.test',
      '--days', '90', '--out', p('devices/laptop-1'),
    );
    expect(err).toBe('');
    expect(code).toBe(0);
    const leafPath = p('devices/laptop-1.pem');
    const keyPath = p('devices/laptop-1.key');
    expect(mode(leafPath)).toBe(0o644);
    expect(mode(keyPath)).toBe(0o600);
    const leaf = cert(leafPath);
    expect(leaf.isCa).toBe(false);
    expect(leaf.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(leaf.subject).toBe('CN=acme-laptop-1');
    expect(leaf.sans).toEqual({ dns: ['laptop-1.acme.test', 'laptop-1.corp.acme.test'], uri: ['spiffe://acme.test/device/laptop-1'], email: ['alice@acme.test'], ip: [] });
    expect(leaf.notAfter - Date.now()).toBeGreaterThan(89 * DAY);
    expect(leaf.notAfter - Date.now()).toBeLessThanOrEqual(90 * DAY);
    expect(leaf.node.verify(cert(p('pki/acme-ca.pem')).publicKey)).toBe(true);
    expect(keyMatches(leafPath, keyPath)).toBe(true);
    expect(out).toContain(`serial: ${leaf.serial}`);
    expect(out).toContain(`SHA-256 fingerprint: ${leaf.node.fingerprint256}`);
  });

  test('--out-cert and --out-key name the files separately', async () => {
    expect(await cli('cert', 'issue', ...ca(), '--cn', 'acme-phone', '--out-cert', p('phone-cert.pem'), '--out-key', p('phone-key.pem'))).toBe(0);
    expect(keyMatches(p('phone-cert.pem'), p('phone-key.pem'))).toBe(true);
  });

  test('writes a PKCS#12 (0600) protected by a password from an environment variable', async () => {
    process.env.BOUNCER_TEST_P12_PW = 'env-secret';
    try {
      const code = await cli('cert', 'issue', ...ca(), '--cn', 'acme-tablet', '--out', p('tablet'), '--p12', p('tablet.p12'), '--p12-password-env', 'BOUNCER_TEST_P12_PW');
      expect(err).toBe('');
      expect(code).toBe(0);
    } finally {
      delete process.env.BOUNCER_TEST_P12_PW;
    }
    expect(mode(p('tablet.p12'))).toBe(0o600);
    const pfx = readFileSync(p('tablet.p12'));
    expect(() => createSecureContext({ pfx, passphrase: 'env-secret' })).not.toThrow();
    const r = spawnSync('/usr/bin/openssl', ['pkcs12', '-in', p('tablet.p12'), '-nodes', '-passin', 'env:PW'], { encoding: 'utf8', env: { ...process.env, PW: 'env-secret' } });
    expect(r.status).toBe(0);
    const certs = parseCertificateBundle(r.stdout);
    expect(certs.map((c) => c.fingerprint256)).toEqual([cert(p('tablet.pem')).fingerprint256, cert(p('pki/acme-ca.pem')).fingerprint256]);
    expect(r.stdout).toMatch(/friendlyName: acme-tablet/);
  });

  test('reads the PKCS#12 password from the first line of a file', async () => {
    writeFileSync(p('pw.txt'), 'file-secret\n', { mode: 0o600 });
    expect(await cli('cert', 'issue', ...ca(), '--cn', 'acme-watch', '--out', p('watch'), '--p12', p('watch.p12'), '--p12-password-file', p('pw.txt'))).toBe(0);
    expect(() => createSecureContext({ pfx: readFileSync(p('watch.p12')), passphrase: 'file-secret' })).not.toThrow();
  });

  test.each([
    [['--p12', 'x.p12'], /--p12 needs a password: --p12-password-file FILE or --p12-password-env VAR/],
    [['--p12', 'x.p12', '--p12-password-env', 'BOUNCER_TEST_UNSET_VAR'], /environment variable BOUNCER_TEST_UNSET_VAR is not set or empty/],
    [['--p12', 'x.p12', '--p12-password-env', 'A', '--p12-password-file', 'f'], /not both/],
    [['--p12-password-env', 'A'], /need --p12 FILE/],
    [['--out', 'a', '--out-cert', 'b.pem', '--out-key', 'b.key'], /either --out PREFIX or --out-cert/],
    [['--out-cert', 'b.pem'], /--out-cert and --out-key go together/],
    [['--out-cert', 'same', '--out-key', 'same'], /is named for two outputs/],
    [['--days', '-3'], /--days must be a whole number/],
  ])('flags %p are a usage error and write nothing', async (flags, message) => {
    const outDir = mkdtempSync(join(dir, 'usage-'));
    const abs = flags.map((f, i) => (['--p12', '--out', '--out-cert', '--out-key'].includes(flags[i - 1] ?? '') ? join(outDir, f) : f));
    expect(await cli('cert', 'issue', ...ca(), '--cn', 'x', ...abs)).toBe(2);
    expect(err).toMatch(/^error: ERR_CLI_USAGE: /);
    expect(err).toMatch(message);
    expect(existsSync(join(outDir, 'x.p12')) || existsSync(join(outDir, 'a.pem'))).toBe(false);
  });

  test('missing required flags exit 2', async () => {
    expect(await cli('cert', 'issue', ...ca())).toBe(2);
    expect(err).toMatch(/required option '--cn <name>' not specified/);
    expect(await cli('cert', 'issue', '--cn', 'x')).toBe(2);
    expect(err).toMatch(/required option '--ca-cert <file>' not specified/);
  });

  test('an unreadable CA file is a clear error', async () => {
    expect(await cli('cert', 'issue', '--ca-cert', p('nope.pem'), '--ca-key', p('pki/acme-ca.key'), '--cn', 'x', '--out', p('x'))).toBe(2);
    expect(err).toBe(`error: ERR_CLI_USAGE: cannot read --ca-cert ${p('nope.pem')}: ENOENT\n`);
  });

  test('a CA key that does not match the CA certificate is refused', async () => {
    expect(await cli('cert', 'issue', '--ca-cert', p('pki/acme-ca.pem'), '--ca-key', p('globex-ca.key'), '--cn', 'x', '--out', p('x'))).toBe(1);
    expect(err).toMatch(/^error: ERR_PKI_INPUT: issuer key does not match the issuer certificate/);
    expect(existsSync(p('x.pem'))).toBe(false);
  });

  test('a validity past the CA is refused with the most days allowed', async () => {
    // globex's CA was created above with --days 30; devices default to 365.
    expect(await cli('cert', 'issue', '--ca-cert', p('globex-ca.pem'), '--ca-key', p('globex-ca.key'), '--cn', 'g', '--out', p('g'))).toBe(1);
    expect(err).toMatch(/ERR_PKI_INPUT: requested validity ends .* after the issuer .* expires .*; ask for at most 30 days/);
  });

  test('a device certificate file cannot be used as the CA', async () => {
    expect(await cli('cert', 'issue', '--ca-cert', p('phone-cert.pem'), '--ca-key', p('phone-key.pem'), '--cn', 'x', '--out', p('x'))).toBe(1);
    expect(err).toMatch(/ERR_PKI_INPUT: issuer "CN=acme-phone" is not a CA/);
  });

  test('an invalid SAN is refused before anything is written', async () => {
    expect(await cli('cert', 'issue', ...ca(), '--cn', 'x', '--dns', 'not a name', '--out', p('x'))).toBe(1);
    expect(err).toMatch(/ERR_PKI_INPUT: invalid DNS name "not a name"/);
    expect(await cli('cert', 'issue', ...ca(), '--cn', 'x', '--uri', 'no-scheme', '--out', p('x'))).toBe(1);
    expect(err).toMatch(/ERR_PKI_INPUT: invalid URI "no-scheme"/);
  });

  test('refuses to overwrite any output, writing none of them', async () => {
    writeFileSync(p('taken.p12'), 'old');
    process.env.BOUNCER_TEST_P12_PW = 'pw';
    try {
      expect(await cli('cert', 'issue', ...ca(), '--cn', 'y', '--out', p('fresh'), '--p12', p('taken.p12'), '--p12-password-env', 'BOUNCER_TEST_P12_PW')).toBe(2);
    } finally {
      delete process.env.BOUNCER_TEST_P12_PW;
    }
    expect(err).toBe(`error: ERR_CLI_USAGE: refusing to overwrite ${p('taken.p12')}; pass --force to replace it\n`);
    expect(existsSync(p('fresh.pem'))).toBe(false);
    expect(existsSync(p('fresh.key'))).toBe(false);
    expect(readFileSync(p('taken.p12'), 'utf8')).toBe('old');
  });

  test('--help describes the command with an example and exits 0', async () => {
    expect(await cli('cert', 'issue', '--help')).toBe(0);
    expect(out).toMatch(/issue a device \(client\) certificate/);
    expect(out).toMatch(/Example:\n {2}\$ bouncer cert issue --ca-cert acme-ca.pem/);
    expect(out).toMatch(/--p12-password-env <var>/);
    expect(out).not.toMatch(/--p12-password </);
  });
});

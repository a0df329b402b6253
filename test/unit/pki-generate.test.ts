import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import 'reflect-metadata';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  KeyUsagesExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate as PeculiarX509,
  X509Crl,
} from '@peculiar/x509';
import { EKU_CLIENT_AUTH, KEY_USAGE, parseCertificateBundle, type ParsedCert } from '../../src/core/cert-parse.js';
import { BouncerError } from '../../src/core/errors.js';
import {
  createRootCa,
  issueClientCert,
  issueCrl,
  issueIntermediateCa,
  issueServerCert,
  type KeyAlgorithm,
  type KeyPairPem,
} from '../../src/pki/generate.js';
import { BACKDATE_MS } from '../../src/pki/inputs.js';

const DAY = 86_400_000;
/** The clock the lifetime tests give the generator: a whole second, as certificates keep time. */
const FIXED_NOW = Date.UTC(2030, 0, 15, 12, 0, 0);
const fixedRoot: Promise<KeyPairPem> = createRootCa({ commonName: 'Fixed Root', clock: () => FIXED_NOW });
const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const SIG = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha1: '1.2.840.10045.4.1',
  rsaSha256: '1.2.840.113549.1.1.11',
  rsaSha1: '1.2.840.113549.1.1.5',
  ed25519: '1.3.101.112',
} as const;

function one(pem: string): ParsedCert {
  const certs = parseCertificateBundle(pem);
  expect(certs).toHaveLength(1);
  return certs[0]!;
}

async function expectPkiError(p: Promise<unknown>, message: RegExp): Promise<void> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BouncerError);
  expect((err as BouncerError).code).toBe('ERR_PKI_INPUT');
  expect((err as BouncerError).message).toMatch(message);
}

let dir: string;
let root: KeyPairPem;
let intermediate: KeyPairPem;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-pki-'));
  root = await createRootCa({ commonName: 'acme root CA', organization: 'acme', pathLen: 1 });
  intermediate = await issueIntermediateCa({ issuer: root, commonName: 'acme devices CA', organization: 'acme', pathLen: 0 });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('createRootCa', () => {
  test('is a self-signed CA with critical CA flags, key usage and an SKI', () => {
    const ca = one(root.certPem);
    expect(ca.isCa).toBe(true);
    expect(ca.pathLen).toBe(1);
    expect(ca.keyUsage).toBe(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign);
    expect(ca.subject).toBe('O=acme, CN=acme root CA');
    expect(ca.selfIssued).toBe(true);
    expect(ca.node.verify(ca.publicKey)).toBe(true);
    expect(ca.node.checkIssued(ca.node)).toBe(true);
    expect(ca.signatureOid).toBe(SIG.ecdsaSha256);
    expect(ca.keyType).toBe('ec');
    expect(ca.keyBits).toBe(256);
    const p = new PeculiarX509(ca.der);
    expect(p.getExtension(BasicConstraintsExtension)?.critical).toBe(true);
    expect(p.getExtension(KeyUsagesExtension)?.critical).toBe(true);
    expect(ca.node.toLegacyObject().ext_key_usage).toBeUndefined();
    expect(p.getExtension(SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
  });

  test('defaults to ten years from now, starting a few minutes before it', async () => {
    const ca = one((await fixedRoot).certPem);
    expect(ca.notBefore).toBe(FIXED_NOW - BACKDATE_MS);
    expect(ca.notAfter).toBe(FIXED_NOW + 3650 * DAY);
  });

  test('returns an unencrypted PKCS#8 key that matches the certificate', () => {
    expect(root.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(root.certPem).toMatch(/-----END CERTIFICATE-----\n$/);
    const spki = createPublicKey(createPrivateKey(root.keyPem)).export({ format: 'der', type: 'spki' });
    expect(spki.equals(one(root.certPem).publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  });

  test('omits pathLen when not asked and uses random positive 16-byte serials', async () => {
    const a = one((await createRootCa({ commonName: 'a' })).certPem);
    const b = one((await createRootCa({ commonName: 'b' })).certPem);
    expect(a.pathLen).toBeUndefined();
    expect(a.serial).toMatch(/^[0-7][0-9a-f]{31}$/);
    expect(a.serial).not.toBe(b.serial);
  });
});

describe('key algorithms', () => {
  const table: Array<[KeyAlgorithm, string, string, number]> = [
    ['ec-p256', SIG.ecdsaSha256, 'ec', 256],
    ['ec-p384', SIG.ecdsaSha384, 'ec', 384],
    ['rsa-2048', SIG.rsaSha256, 'rsa', 2048],
    ['rsa-3072', SIG.rsaSha256, 'rsa', 3072],
    ['rsa-4096', SIG.rsaSha256, 'rsa', 4096],
    ['ed25519', SIG.ed25519, 'ed25519', 256],
  ];
  test.each(table)('%s: the key has that type and signatures follow the issuer key', async (alg, sigOid, keyType, bits) => {
    const ca = await createRootCa({ commonName: `${alg} CA`, keyAlgorithm: alg, validDays: 30 });
    const parsedCa = one(ca.certPem);
    expect(parsedCa.keyType).toBe(keyType);
    expect(parsedCa.keyBits).toBe(bits);
    expect(parsedCa.signatureOid).toBe(sigOid);
    // The leaf's own key type does not change the signature: the issuer's key decides.
    const leaf = one((await issueClientCert({ issuer: ca, commonName: 'd', keyAlgorithm: 'ec-p384', validDays: 1 })).certPem);
    expect(leaf.signatureOid).toBe(sigOid);
    expect(leaf.keyType).toBe('ec');
    expect(leaf.keyBits).toBe(384);
    expect(leaf.node.verify(parsedCa.publicKey)).toBe(true);
    expect(leaf.node.checkIssued(parsedCa.node)).toBe(true);
  });

  test('rsaBits makes a weak RSA key and implies RSA', async () => {
    const weak = one((await issueClientCert({ issuer: root, commonName: 'weak', rsaBits: 1024 })).certPem);
    expect(weak.keyType).toBe('rsa');
    expect(weak.keyBits).toBe(1024);
    await expectPkiError(issueClientCert({ issuer: root, commonName: 'x', keyAlgorithm: 'ec-p256', rsaBits: 1024 }), /rsaBits only applies to RSA/);
  });

  test('signatureHash SHA-1 produces a weak signature for ECDSA and RSA issuers', async () => {
    const ec = one((await issueClientCert({ issuer: root, commonName: 'sha1', signatureHash: 'SHA-1' })).certPem);
    expect(ec.signatureOid).toBe(SIG.ecdsaSha1);
    expect(ec.node.verify(one(root.certPem).publicKey)).toBe(true);
    const rsa = await createRootCa({ commonName: 'rsa sha1', keyAlgorithm: 'rsa-2048', signatureHash: 'SHA-1', validDays: 5 });
    expect(one(rsa.certPem).signatureOid).toBe(SIG.rsaSha1);
    // The knob only affects the certificate it is passed for.
    expect(one((await issueClientCert({ issuer: rsa, commonName: 'd', validDays: 1 })).certPem).signatureOid).toBe(SIG.rsaSha256);
  });

  test('an Ed25519 issuer refuses a signatureHash it cannot honour', async () => {
    const ed = await createRootCa({ commonName: 'ed', keyAlgorithm: 'ed25519', validDays: 5 });
    await expectPkiError(issueClientCert({ issuer: ed, commonName: 'd', signatureHash: 'SHA-256', validDays: 1 }), /Ed25519/);
  });
});

describe('issueIntermediateCa', () => {
  test('links to its issuer by AKI/SKI and name, with its own pathLen', async () => {
    const ca = one(root.certPem);
    const int = one(intermediate.certPem);
    expect(int.isCa).toBe(true);
    expect(int.pathLen).toBe(0);
    expect(int.keyUsage).toBe(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign);
    expect(int.issuer).toBe(ca.subject);
    expect(int.node.checkIssued(ca.node)).toBe(true);
    expect(int.node.verify(ca.publicKey)).toBe(true);
    const aki = new PeculiarX509(int.der).getExtension(AuthorityKeyIdentifierExtension)?.keyId;
    expect(aki).toBeDefined();
    expect(aki).toBe(new PeculiarX509(ca.der).getExtension(SubjectKeyIdentifierExtension)?.keyId);
    // Five years by default, clamped into the root's ten.
    const fixed = one((await issueIntermediateCa({ issuer: await fixedRoot, commonName: 'Fixed Intermediate', clock: () => FIXED_NOW })).certPem);
    expect(fixed.notBefore).toBe(FIXED_NOW - BACKDATE_MS);
    expect(fixed.notAfter).toBe(FIXED_NOW + 1825 * DAY);
  });

  test('openssl verifies root -> intermediate -> device for TLS client use', async () => {
    const device = await issueClientCert({ issuer: intermediate, commonName: 'phone', dns: ['phone.acme.test'] });
    const out = spawnSync(
      'openssl',
      ['verify', '-purpose', 'sslclient', '-CAfile', file('root.pem', root.certPem), '-untrusted', file('int.pem', intermediate.certPem), file('phone.pem', device.certPem)],
      { encoding: 'utf8' },
    );
    expect(out.stderr).toBe('');
    expect(out.stdout).toMatch(/: OK$/m);
  });
});

describe('issueClientCert', () => {
  test('is a CA:false device with clientAuth and the requested SANs', async () => {
    const kp = await issueClientCert({
      issuer: root,
      commonName: 'acme-laptop-1',
      organization: 'acme',
      dns: ['laptop-1.acme.test'],
      uris: ['spiffe://acme.test/device/laptop-1'],
      emails: ['alice@acme.test'],
    });
    const leaf = one(kp.certPem);
    expect(leaf.isCa).toBe(false);
    expect(leaf.keyUsage).toBe(KEY_USAGE.digitalSignature);
    expect(leaf.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(leaf.sans).toEqual({ dns: ['laptop-1.acme.test'], uri: ['spiffe://acme.test/device/laptop-1'], email: ['alice@acme.test'], ip: [] });
    expect(leaf.subject).toBe('O=acme, CN=acme-laptop-1');
    expect(leaf.node.verify(one(root.certPem).publicKey)).toBe(true);
    expect(new PeculiarX509(leaf.der).getExtension(BasicConstraintsExtension)?.ca).toBe(false);
    // One year by default.
    const fixed = one((await issueClientCert({ issuer: await fixedRoot, commonName: 'fixed', clock: () => FIXED_NOW })).certPem);
    expect(fixed.notBefore).toBe(FIXED_NOW - BACKDATE_MS);
    expect(fixed.notAfter).toBe(FIXED_NOW + 365 * DAY);
  });

  test('has no SAN extension when no names are given', async () => {
    const leaf = one((await issueClientCert({ issuer: root, commonName: 'bare' })).certPem);
    expect(leaf.sans).toEqual({ dns: [], uri: [], email: [], ip: [] });
    expect(new PeculiarX509(leaf.der).getExtension('2.5.29.17')).toBeNull();
  });

  test('extKeyUsage overrides the default, and [] omits the extension', async () => {
    const none = one((await issueClientCert({ issuer: root, commonName: 'no-eku', extKeyUsage: [] })).certPem);
    expect(none.extKeyUsage).toBeUndefined();
    const server = one((await issueClientCert({ issuer: root, commonName: 'server-eku', extKeyUsage: [EKU_SERVER_AUTH] })).certPem);
    expect(server.extKeyUsage).toEqual([EKU_SERVER_AUTH]);
  });

  test('isCa makes a device that claims to be a CA', async () => {
    const bad = one((await issueClientCert({ issuer: root, commonName: 'sneaky', isCa: true })).certPem);
    expect(bad.isCa).toBe(true);
    expect(bad.extKeyUsage).toEqual([EKU_CLIENT_AUTH]);
  });

  test('uses the given serial number', async () => {
    expect(one((await issueClientCert({ issuer: root, commonName: 's', serialNumber: '0A:BC:01' })).certPem).serial).toBe('0abc01');
    expect(one((await issueClientCert({ issuer: root, commonName: 's', serialNumber: 'ff01' })).certPem).serial).toBe('ff01');
  });
});

describe('validity', () => {
  test('validDays sets the lifetime', async () => {
    const leaf = one((await issueClientCert({ issuer: await fixedRoot, commonName: 'd', validDays: 2, clock: () => FIXED_NOW })).certPem);
    expect(leaf.notAfter).toBe(FIXED_NOW + 2 * DAY);
  });

  test('explicit dates win, for expired and not-yet-valid certificates', async () => {
    const notBefore = new Date(Date.now() - 10 * DAY);
    const notAfter = new Date(Date.now() - DAY);
    const expired = one((await issueClientCert({ issuer: root, commonName: 'old', notBefore, notAfter, validDays: 365 })).certPem);
    expect(expired.notBefore).toBe(Math.floor(notBefore.getTime() / 1000) * 1000);
    expect(expired.notAfter).toBe(Math.floor(notAfter.getTime() / 1000) * 1000);
    const future = new Date(Date.now() + 5 * DAY);
    const early = one((await issueClientCert({ issuer: root, commonName: 'early', notBefore: future, validDays: 1 })).certPem);
    expect(early.notBefore).toBe(Math.floor(future.getTime() / 1000) * 1000);
    expect(early.notAfter - early.notBefore).toBe(DAY);
  });

  test('a computed end past the issuer is refused; an explicit one is allowed', async () => {
    const shortCa = await createRootCa({ commonName: 'short', validDays: 30 });
    await expectPkiError(issueClientCert({ issuer: shortCa, commonName: 'd' }), /after the issuer "CN=short" expires.*at most 30 days/);
    await expectPkiError(issueIntermediateCa({ issuer: shortCa, commonName: 'i', validDays: 31 }), /after the issuer/);
    await expectPkiError(issueServerCert({ issuer: shortCa, commonName: 's', dns: ['a.test'], validDays: 400 }), /after the issuer/);
    const outlives = one((await issueClientCert({ issuer: shortCa, commonName: 'd', notAfter: new Date(Date.now() + 90 * DAY) })).certPem);
    expect(outlives.notAfter).toBeGreaterThan(one(shortCa.certPem).notAfter);
  });

  test('the same validDays as a CA issued a moment earlier ends with the CA', async () => {
    const ca = await createRootCa({ commonName: 'same', validDays: 1 });
    await new Promise((r) => setTimeout(r, 1100));
    const leaf = one((await issueServerCert({ issuer: ca, commonName: 'edge', dns: ['edge.test'], validDays: 1 })).certPem);
    expect(leaf.notAfter).toBe(one(ca.certPem).notAfter);
  });

  test.each([
    [{ validDays: 0 }, /validDays must be a positive number/],
    [{ validDays: -1 }, /validDays must be a positive number/],
    [{ validDays: Number.NaN }, /validDays must be a positive number/],
    [{ notBefore: new Date('2030-01-01'), notAfter: new Date('2030-01-01') }, /notAfter .* must be after notBefore/],
    [{ notBefore: new Date('2030-01-02'), notAfter: new Date('2030-01-01') }, /must be after notBefore/],
    [{ notAfter: new Date('nonsense') }, /notAfter is not a valid date/],
  ])('refuses bad validity %p', async (v, message) => {
    await expectPkiError(issueClientCert({ issuer: root, commonName: 'd', ...v }), message);
    await expectPkiError(createRootCa({ commonName: 'r', ...v }), message);
  });
});

describe('issueServerCert', () => {
  test('has serverAuth, wildcard DNS names and IPs, and works in a real TLS handshake with a device', async () => {
    const server = await issueServerCert({ issuer: root, commonName: 'edge', dns: ['*.tenants.test', 'edge.test'], ips: ['127.0.0.1', '::1'] });
    const parsed = one(server.certPem);
    expect(parsed.extKeyUsage).toEqual([EKU_SERVER_AUTH]);
    expect(parsed.isCa).toBe(false);
    expect(parsed.sans.dns).toEqual(['*.tenants.test', 'edge.test']);
    expect(parsed.sans.ip).toEqual(['127.0.0.1', '::1']);
    expect(parsed.keyUsage).toBe(KEY_USAGE.digitalSignature);

    const device = await issueClientCert({ issuer: intermediate, commonName: 'phone' });
    const tlsServer = createServer({ cert: server.certPem, key: server.keyPem, ca: root.certPem, requestCert: true, rejectUnauthorized: true }, (s) => {
      s.end(`hello ${(s.getPeerCertificate().subject as { CN?: string }).CN ?? '?'}`);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    try {
      const port = (tlsServer.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        const s: TLSSocket = connect({ port, host: '127.0.0.1', servername: 'a.tenants.test', ca: root.certPem, cert: device.certPem + intermediate.certPem, key: device.keyPem }, () => {
          expect(s.authorized).toBe(true);
        });
        let data = '';
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      expect(body).toBe('hello phone');
    } finally {
      await new Promise((r) => tlsServer.close(r));
    }
  });

  test('an RSA server key also gets keyEncipherment', async () => {
    const parsed = one((await issueServerCert({ issuer: root, commonName: 'rsa-edge', dns: ['rsa.test'], keyAlgorithm: 'rsa-2048' })).certPem);
    expect(parsed.keyUsage).toBe(KEY_USAGE.digitalSignature | KEY_USAGE.keyEncipherment);
  });
});

describe('issueCrl', () => {
  test('lists the revoked serials, verifies against the issuer, and makes openssl reject the revoked device', async () => {
    const revokedDevice = await issueClientCert({ issuer: root, commonName: 'stolen' });
    const goodDevice = await issueClientCert({ issuer: root, commonName: 'fine' });
    const stolen = one(revokedDevice.certPem).serial;
    const revokedAt = new Date(Date.now() - DAY);
    const pem = await issueCrl({ issuer: root, revoked: [{ serialNumber: stolen, revokedAt }, { serialNumber: '0102' }] });
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n[\s\S]+-----END X509 CRL-----\n$/);
    const crl = new X509Crl(pem);
    expect(crl.entries.map((e) => e.serialNumber.toLowerCase())).toEqual([stolen, '0102']);
    expect(crl.entries[0]!.revocationDate.getTime()).toBe(Math.floor(revokedAt.getTime() / 1000) * 1000);
    expect(crl.nextUpdate!.getTime() - crl.thisUpdate.getTime()).toBe(7 * DAY);
    // thisUpdate is the generator's clock unless given.
    const fixed = new X509Crl(await issueCrl({ issuer: await fixedRoot, revoked: [], clock: () => FIXED_NOW }));
    expect(fixed.thisUpdate.getTime()).toBe(FIXED_NOW);
    expect(crl.issuer).toBe(one(root.certPem).subject);
    expect(await crl.verify({ publicKey: new PeculiarX509(root.certPem) })).toBe(true);
    expect(crl.getExtension('2.5.29.35')).not.toBeNull();
    expect(crl.getExtension('2.5.29.20')).not.toBeNull();

    const text = execFileSync('openssl', ['crl', '-in', file('crl.pem', pem), '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/CRL Number/);
    const verify = (cert: string) =>
      spawnSync('openssl', ['verify', '-crl_check', '-CAfile', file('crl-root.pem', root.certPem), '-CRLfile', file('crl.pem', pem), file('leaf.pem', cert)], {
        encoding: 'utf8',
      });
    expect(verify(goodDevice.certPem).stdout).toMatch(/: OK$/m);
    const bad = verify(revokedDevice.certPem);
    expect(bad.status).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/certificate revoked/);
  });

  test('an empty CRL is valid and can be signed by an RSA or Ed25519 CA', async () => {
    for (const keyAlgorithm of ['rsa-2048', 'ed25519'] as const) {
      const ca = await createRootCa({ commonName: `${keyAlgorithm} crl CA`, keyAlgorithm, validDays: 5 });
      const crl = new X509Crl(await issueCrl({ issuer: ca, revoked: [] }));
      expect(crl.entries).toHaveLength(0);
      expect(await crl.verify({ publicKey: new PeculiarX509(ca.certPem) })).toBe(true);
    }
  });

  test('refuses bad input', async () => {
    const leaf = await issueClientCert({ issuer: root, commonName: 'leaf' });
    await expectPkiError(issueCrl({ issuer: root, revoked: [{ serialNumber: '01' }, { serialNumber: '0001' }] }), /listed twice/);
    await expectPkiError(issueCrl({ issuer: root, revoked: [{ serialNumber: 'xyz' }] }), /not hexadecimal/);
    await expectPkiError(issueCrl({ issuer: root, revoked: [], thisUpdate: new Date('2030-01-02'), nextUpdate: new Date('2030-01-01') }), /nextUpdate must be after/);
    await expectPkiError(issueCrl({ issuer: leaf, revoked: [] }), /is not a CA/);
  });
});

describe('input errors', () => {
  test.each([
    ['empty CN', { commonName: '' }, /commonName must not be empty/],
    ['blank CN', { commonName: '   ' }, /commonName must not be empty/],
    ['long CN', { commonName: 'x'.repeat(65) }, /longer than 64/],
    ['empty O', { commonName: 'd', organization: '' }, /organization must not be empty/],
    ['bad DNS', { commonName: 'd', dns: ['bad_name.test'] }, /invalid DNS name "bad_name.test"/],
    ['DNS label too long', { commonName: 'd', dns: [`${'a'.repeat(64)}.test`] }, /invalid DNS name/],
    ['trailing dot', { commonName: 'd', dns: ['a.test.'] }, /invalid DNS name/],
    ['wildcard device', { commonName: 'd', dns: ['*.acme.test'] }, /wildcards are only allowed in server certificates/],
    ['relative URI', { commonName: 'd', uris: ['/device/1'] }, /invalid URI "\/device\/1"/],
    ['URI with spaces', { commonName: 'd', uris: ['spiffe://acme.test/a b'] }, /invalid URI/],
    ['bad email', { commonName: 'd', emails: ['Alice <alice@acme.test>'] }, /invalid email address/],
    ['email without domain', { commonName: 'd', emails: ['alice@'] }, /DNS name must not be empty/],
    ['bad EKU OID', { commonName: 'd', extKeyUsage: ['clientAuth'] }, /invalid extended key usage OID/],
    ['zero serial', { commonName: 'd', serialNumber: '00' }, /must not be zero/],
    ['long serial', { commonName: 'd', serialNumber: 'ff'.repeat(20) }, /longer than 20 octets/],
    ['bad key algorithm', { commonName: 'd', keyAlgorithm: 'dsa' as KeyAlgorithm }, /unknown key algorithm "dsa"/],
  ])('device with %s', async (_name, o, message) => {
    await expectPkiError(issueClientCert({ issuer: root, ...o }), message);
  });

  test.each([
    ['no names', { dns: [] }, /at least one DNS name or IP/],
    ['bad IP', { dns: ['a.test'], ips: ['300.1.1.1'] }, /invalid IP address "300.1.1.1"/],
    ['bare wildcard', { dns: ['*.test'] }, /needs at least two labels/],
    ['inner wildcard', { dns: ['a.*.test'] }, /wildcard|invalid DNS name/],
  ])('server with %s', async (_name, o, message) => {
    await expectPkiError(issueServerCert({ issuer: root, commonName: 's', ...o }), message);
  });

  test('an issuer that is not a CA', async () => {
    const leaf = await issueClientCert({ issuer: root, commonName: 'leaf' });
    await expectPkiError(issueClientCert({ issuer: leaf, commonName: 'd' }), /issuer "CN=leaf" is not a CA/);
    await expectPkiError(issueIntermediateCa({ issuer: leaf, commonName: 'i' }), /is not a CA/);
  });

  test('an issuer key that does not match the issuer certificate', async () => {
    await expectPkiError(issueClientCert({ issuer: { certPem: root.certPem, keyPem: intermediate.keyPem }, commonName: 'd' }), /issuer key does not match/);
  });

  test('unreadable issuer material', async () => {
    await expectPkiError(issueClientCert({ issuer: { certPem: 'nope', keyPem: root.keyPem }, commonName: 'd' }), /issuer certificate: no PEM certificate found/);
    await expectPkiError(issueClientCert({ issuer: { certPem: root.certPem, keyPem: 'nope' }, commonName: 'd' }), /issuer key is not a readable PEM private key/);
    const encrypted = createPrivateKey(root.keyPem).export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'pw' }) as string;
    await expectPkiError(issueClientCert({ issuer: { certPem: root.certPem, keyPem: encrypted }, commonName: 'd' }), /issuer key is encrypted/);
  });

  test('issuer keys in legacy PEM forms are accepted', async () => {
    const sec1 = createPrivateKey(root.keyPem).export({ format: 'pem', type: 'sec1' }) as string;
    const leaf = one((await issueClientCert({ issuer: { certPem: root.certPem, keyPem: sec1 }, commonName: 'd' })).certPem);
    expect(leaf.node.verify(one(root.certPem).publicKey)).toBe(true);
  });

  test('a chain file as issuer certificate uses its first certificate', async () => {
    const leaf = one((await issueClientCert({ issuer: { certPem: intermediate.certPem + root.certPem, keyPem: intermediate.keyPem }, commonName: 'd' })).certPem);
    expect(leaf.issuer).toBe('O=acme, CN=acme devices CA');
    expect(new X509Certificate(leaf.der).verify(one(intermediate.certPem).publicKey)).toBe(true);
  });

  test('a bad pathLen', async () => {
    await expectPkiError(createRootCa({ commonName: 'r', pathLen: -1 }), /pathLen must be a non-negative integer/);
    await expectPkiError(issueIntermediateCa({ issuer: root, commonName: 'i', pathLen: 1.5 }), /pathLen/);
  });
});

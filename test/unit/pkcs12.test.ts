import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createSecureContext, createServer } from 'node:tls';
import { splitPemCertificates } from '../../src/core/cert-parse.js';
import { BouncerError } from '../../src/core/errors.js';
import { createRootCa, issueClientCert, issueIntermediateCa, issueServerCert, type KeyAlgorithm, type KeyPairPem } from '../../src/pki/generate.js';
import { PKCS12_DEFAULT_ITERATIONS, toPkcs12, type Pkcs12Options } from '../../src/pki/pkcs12.js';
import { PKCS12_KDF_ID, bmpPassword, pkcs12Kdf } from '../../src/pki/pkcs12-kdf.js';

// Fast iterations keep the many openssl round trips quick; the default is tested once.
const FAST = 2048;

let dir: string;
let root: KeyPairPem;
let intermediate: KeyPairPem;
let device: KeyPairPem;
let fileNo = 0;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-p12-'));
  root = await createRootCa({ commonName: 'acme root CA', organization: 'acme' });
  intermediate = await issueIntermediateCa({ issuer: root, commonName: 'acme devices CA', organization: 'acme' });
  device = await issueClientCert({ issuer: intermediate, commonName: 'acme-laptop-1', uris: ['spiffe://acme.test/device/laptop-1'] });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeP12(p12: Buffer): string {
  const path = join(dir, `bundle-${fileNo++}.p12`);
  writeFileSync(path, p12);
  return path;
}

/** Runs openssl with the password in the environment, never on argv. */
function openssl(args: string[], password: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('/usr/bin/openssl', [...args, '-passin', 'env:P12_PASSWORD'], { encoding: 'utf8', env: { ...process.env, P12_PASSWORD: password } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function pemBlocks(text: string, label: string): string[] {
  return [...text.matchAll(new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`, 'g'))].map((m) => `${m[0]}\n`);
}

function keyDer(pem: string): Buffer {
  return createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
}

function derList(pem: string): string[] {
  return splitPemCertificates(pem).map((b) => b.toString('hex'));
}

function pkiError(fn: () => unknown): BouncerError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(BouncerError);
    expect((err as BouncerError).code).toBe('ERR_PKI_INPUT');
    return err as BouncerError;
  }
  throw new Error('expected an ERR_PKI_INPUT error');
}

describe('openssl reads our PKCS#12', () => {
  test('openssl pkcs12 -nodes returns the same certificate, chain and key', () => {
    const password = 'correct horse battery staple';
    const path = writeP12(toPkcs12({ ...device, chainPem: intermediate.certPem + root.certPem, password, iterations: FAST }));
    const out = openssl(['pkcs12', '-in', path, '-nodes'], password);
    expect(out.stderr).toBe('');
    expect(out.status).toBe(0);
    expect(derList(pemBlocks(out.stdout, 'CERTIFICATE').join(''))).toEqual(derList(device.certPem + intermediate.certPem + root.certPem));
    const keys = pemBlocks(out.stdout, 'PRIVATE KEY');
    expect(keys).toHaveLength(1);
    expect(keyDer(keys[0]!).equals(keyDer(device.keyPem))).toBe(true);
    // -clcerts selects by localKeyId, so it proves the key and leaf are linked.
    const leafOnly = openssl(['pkcs12', '-in', path, '-nokeys', '-clcerts'], password);
    expect(derList(pemBlocks(leafOnly.stdout, 'CERTIFICATE').join(''))).toEqual(derList(device.certPem));
  });

  test('uses the OpenSSL 3 modern profile: PBES2/PBKDF2/AES-256-CBC, HMAC-SHA256 MAC, localKeyId and friendlyName', () => {
    const password = 'pw-profile';
    const path = writeP12(toPkcs12({ ...device, password, friendlyName: 'Laptop 1 (acme)' }));
    const info = openssl(['pkcs12', '-in', path, '-info', '-noout'], password);
    expect(info.status).toBe(0);
    expect(info.stderr).toMatch(`MAC: sha256, Iteration ${PKCS12_DEFAULT_ITERATIONS}`);
    expect(info.stderr).toMatch(`PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration ${PKCS12_DEFAULT_ITERATIONS}, PRF hmacWithSHA256`);
    expect(info.stderr).toMatch(`Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration ${PKCS12_DEFAULT_ITERATIONS}, PRF hmacWithSHA256`);
    const full = openssl(['pkcs12', '-in', path, '-nodes'], password);
    const ids = [...full.stdout.matchAll(/localKeyID: ([0-9A-F ]+)/g)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(full.stdout.match(/friendlyName: Laptop 1 \(acme\)/g)).toHaveLength(2);
  });

  test('without friendlyName or chain there is one certificate and no name', () => {
    const password = 'pw';
    const out = openssl(['pkcs12', '-in', writeP12(toPkcs12({ ...device, password, iterations: FAST })), '-nodes'], password);
    expect(out.status).toBe(0);
    expect(pemBlocks(out.stdout, 'CERTIFICATE')).toHaveLength(1);
    expect(out.stdout).not.toMatch(/friendlyName/);
  });

  test('a wrong password fails the MAC check', () => {
    const path = writeP12(toPkcs12({ ...device, password: 'right', iterations: FAST }));
    const out = openssl(['pkcs12', '-in', path, '-nodes'], 'wrong');
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/Mac verify error/i);
  });

  test('a non-ASCII password works for both the MAC (BMPString) and PBES2 (UTF-8)', () => {
    const password = 'pässwörd-ключ-🔑';
    const p12 = toPkcs12({ ...device, password, iterations: FAST });
    const out = openssl(['pkcs12', '-in', writeP12(p12), '-nodes'], password);
    expect(out.stderr).toBe('');
    expect(keyDer(pemBlocks(out.stdout, 'PRIVATE KEY')[0]!).equals(keyDer(device.keyPem))).toBe(true);
    expect(() => createSecureContext({ pfx: p12, passphrase: password })).not.toThrow();
  });

  test('each bundle uses fresh salts and IVs', () => {
    const a = toPkcs12({ ...device, password: 'pw', iterations: FAST });
    const b = toPkcs12({ ...device, password: 'pw', iterations: FAST });
    expect(a.equals(b)).toBe(false);
  });
});

describe('Node reads our PKCS#12', () => {
  test.each<KeyAlgorithm>(['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519'])('%s key: createSecureContext accepts the right passphrase only', async (keyAlgorithm) => {
    const leaf = await issueClientCert({ issuer: root, commonName: `${keyAlgorithm}-device`, keyAlgorithm });
    const p12 = toPkcs12({ ...leaf, password: 'secret', iterations: FAST });
    expect(() => createSecureContext({ pfx: p12, passphrase: 'secret' })).not.toThrow();
    expect(() => createSecureContext({ pfx: p12, passphrase: 'Secret' })).toThrow(/mac verify failure/i);
    const out = openssl(['pkcs12', '-in', writeP12(p12), '-nodes'], 'secret');
    expect(keyDer(pemBlocks(out.stdout, 'PRIVATE KEY')[0]!).equals(keyDer(leaf.keyPem))).toBe(true);
  });

  test('a device authenticates over TLS with only the PKCS#12 file', async () => {
    const server = await issueServerCert({ issuer: root, commonName: 'edge', dns: ['edge.test'] });
    const pfx = toPkcs12({ ...device, chainPem: intermediate.certPem, password: 'device-pw' });
    const tlsServer = createServer({ cert: server.certPem, key: server.keyPem, ca: root.certPem, requestCert: true, rejectUnauthorized: true }, (s) => {
      const peer = s.getPeerCertificate();
      s.end(`${s.authorized ? 'ok' : 'no'} ${(peer.subject as { CN?: string }).CN ?? '?'}`);
    });
    await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
    try {
      const port = (tlsServer.address() as AddressInfo).port;
      const body = await new Promise<string>((resolve, reject) => {
        const s = connect({ port, host: '127.0.0.1', servername: 'edge.test', ca: root.certPem, pfx, passphrase: 'device-pw' });
        let data = '';
        s.on('data', (d: Buffer) => (data += d.toString()));
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      expect(body).toBe('ok acme-laptop-1');
    } finally {
      await new Promise((r) => tlsServer.close(r));
    }
  });
});

describe('inputs', () => {
  const base = (): Pkcs12Options => ({ certPem: device.certPem, keyPem: device.keyPem, password: 'pw', iterations: FAST });

  test('an empty password is refused', () => {
    expect(pkiError(() => toPkcs12({ ...base(), password: '' })).message).toMatch(/password is required/);
  });

  test('a key that does not belong to the certificate is refused', () => {
    expect(pkiError(() => toPkcs12({ ...base(), keyPem: root.keyPem })).message).toMatch(/private key does not match the certificate/);
  });

  test('unreadable certificate and key are refused', () => {
    expect(pkiError(() => toPkcs12({ ...base(), certPem: 'not a cert' })).message).toMatch(/no PEM certificate/);
    expect(pkiError(() => toPkcs12({ ...base(), certPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })).message).toMatch(/certificate is not readable/);
    expect(pkiError(() => toPkcs12({ ...base(), keyPem: 'nope' })).message).toMatch(/private key is not a readable PEM/);
    expect(pkiError(() => toPkcs12({ ...base(), chainPem: '-----BEGIN CERTIFICATE-----\n%%%\n-----END CERTIFICATE-----' })).message).toMatch(/^chain:/);
  });

  test('too few iterations and an empty friendlyName are refused', () => {
    expect(pkiError(() => toPkcs12({ ...base(), iterations: 1000 })).message).toMatch(/at least 2048/);
    expect(pkiError(() => toPkcs12({ ...base(), friendlyName: ' ' })).message).toMatch(/friendlyName/);
  });

  test('a legacy SEC1 key is stored as the same PKCS#8 key', () => {
    const sec1 = createPrivateKey(device.keyPem).export({ format: 'pem', type: 'sec1' }) as string;
    const out = openssl(['pkcs12', '-in', writeP12(toPkcs12({ ...base(), keyPem: sec1 })), '-nodes'], 'pw');
    expect(keyDer(pemBlocks(out.stdout, 'PRIVATE KEY')[0]!).equals(keyDer(device.keyPem))).toBe(true);
  });
});

describe('pkcs12Kdf (RFC 7292 appendix B)', () => {
  // Vectors from the PKCS#12 SHA-1 test set that OpenSSL and Bouncy Castle both carry
  // (password "smeg", salt 0A58CF64530D823F, 1 iteration).
  const salt = Buffer.from('0a58cf64530d823f', 'hex');
  test('matches the published SHA-1 vectors for key and IV', () => {
    expect(pkcs12Kdf('sha1', bmpPassword('smeg'), salt, PKCS12_KDF_ID.encryptionKey, 1, 24).toString('hex')).toBe('8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3');
    expect(pkcs12Kdf('sha1', bmpPassword('smeg'), salt, PKCS12_KDF_ID.iv, 1, 8).toString('hex')).toBe('79993dfe048d3b76');
  });

  test('encodes the password as a terminated BMPString', () => {
    expect(bmpPassword('ab').toString('hex')).toBe('006100620000');
    expect(bmpPassword('🔑').toString('hex')).toBe('d83ddd110000');
  });
});

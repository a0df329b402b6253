/**
 * A small PKI made with the openssl CLI, and `openssl ocsp` run as a real
 * responder over an index file. openssl ocsp needs a fixed port: a free one is
 * picked and the start retried if another process took it meanwhile.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCertificateBundle, type ParsedCert } from '../../src/core/cert-parse.js';
import { freePort } from './ports.js';

export interface OpensslPki {
  readonly dir: string;
  readonly ca: ParsedCert;
  /** Leaves by name, with their serial (hex, as in index.txt). */
  readonly leaves: Readonly<Record<string, { readonly cert: ParsedCert; readonly serial: string }>>;
  path(name: string): string;
  remove(): void;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function newKey(dir: string, name: string): void {
  openssl(dir, ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${name}.key`]);
}

/** Issues `name`.pem signed by the CA with the given extension lines. */
function issue(dir: string, name: string, subject: string, serial: string, ext: string, signer = 'ca'): void {
  newKey(dir, name);
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
  writeFileSync(join(dir, `${name}.ext`), ext);
  openssl(dir, ['x509', '-req', '-in', `${name}.csr`, '-CA', `${signer}.pem`, '-CAkey', `${signer}.key`, '-set_serial', `0x${serial}`, '-days', '30', '-sha256', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
}

const LEAF_EXT = (aia: string, cdp: string | undefined): string =>
  `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n${aia ? `authorityInfoAccess=OCSP;URI:${aia}\n` : ''}${cdp ? `crlDistributionPoints=URI:${cdp}\n` : ''}`;

/**
 * CA, three leaves (good, revoked, unknown to the index), a delegated
 * responder with id-kp-OCSPSigning, one without it, and a stray key. `aia` is
 * written into the leaves' authorityInfoAccess, `cdp` (when given) into their
 * cRLDistributionPoints.
 */
export function createOpensslPki(aia: string, cdp?: string): OpensslPki {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-ocsp-'));
  newKey(dir, 'ca');
  openssl(dir, ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=OCSP Test CA', '-days', '60', '-sha256',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.pem']);
  issue(dir, 'good', '/CN=device-good', '1001', LEAF_EXT(aia, cdp));
  issue(dir, 'revoked', '/CN=device-revoked', '1002', LEAF_EXT(aia, cdp));
  issue(dir, 'unknown', '/CN=device-unknown', '1003', LEAF_EXT(aia, cdp));
  issue(dir, 'responder', '/CN=OCSP Responder', '2001', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\n');
  issue(dir, 'noeku', '/CN=Not A Responder', '2002', 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  // Same name as the CA, another key: a responder signing as "the CA" with the wrong key.
  newKey(dir, 'stray');
  openssl(dir, ['req', '-x509', '-new', '-key', 'stray.key', '-subj', '/CN=OCSP Test CA', '-days', '60', '-sha256', '-out', 'stray.pem']);
  const expiry = '301231235959Z';
  writeFileSync(
    join(dir, 'index.txt'),
    [`V\t${expiry}\t\t1001\tunknown\t/CN=device-good`, `R\t${expiry}\t250101000000Z,keyCompromise\t1002\tunknown\t/CN=device-revoked`, `V\t${expiry}\t\t2001\tunknown\t/CN=OCSP Responder`, ''].join('\n'),
  );
  writeFileSync(join(dir, 'index.txt.attr'), 'unique_subject = no\n');
  const load = (name: string): ParsedCert => parseCertificateBundle(readFileSync(join(dir, `${name}.pem`), 'utf8'))[0] as ParsedCert;
  return {
    dir,
    ca: load('ca'),
    leaves: { good: { cert: load('good'), serial: '1001' }, revoked: { cert: load('revoked'), serial: '1002' }, unknown: { cert: load('unknown'), serial: '1003' } },
    path: (name) => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Issues one more certificate in the PKI's directory, `name`.pem signed by
 * `signer` (the CA by default) with these extension lines, and returns it
 * parsed. The responder answers by serial: 1001 is good, 1002 revoked.
 */
export function issueInPki(pki: OpensslPki, name: string, subject: string, serial: string, ext: string, signer = 'ca'): ParsedCert {
  issue(pki.dir, name, subject, serial, ext, signer);
  return parseCertificateBundle(readFileSync(join(pki.dir, `${name}.pem`), 'utf8'))[0] as ParsedCert;
}

export interface OcspResponder {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Starts `openssl ocsp` over the PKI's index, signing with `signer` (a
 * certificate name in the PKI dir) and `key`. `extra` adds flags such as
 * `-nmin 1`. Fails (never skips) when openssl is absent.
 */
export async function startOcspResponder(pki: OpensslPki, signer: string, key: string, extra: readonly string[] = [], fixedPort?: number): Promise<OcspResponder> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = fixedPort ?? (await freePort());
    const child: ChildProcess = spawn(
      'openssl',
      ['ocsp', '-index', 'index.txt', '-port', String(port), '-CA', 'ca.pem', '-rsigner', `${signer}.pem`, '-rkey', `${key}.key`, '-ignore_err', ...extra],
      { cwd: pki.dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    // Ready once it says so: it prints this after binding. A probe connection
    // would not do: openssl ocsp serves one connection at a time and waits on it.
    const up = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stderr?.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/waiting for OCSP client connections/i.test(stderr)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    const exited = new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
    if (up && child.exitCode === null) {
      return {
        url: `http://127.0.0.1:${port}`,
        port,
        close: async () => {
          if (child.exitCode === null) {
            child.kill('SIGTERM');
            await exited;
          }
        },
      };
    }
    child.kill('SIGKILL');
    await exited;
    if (!/address already in use|bind/i.test(stderr) || fixedPort !== undefined) throw new Error(`openssl ocsp did not start: ${stderr}`);
  }
  throw new Error('openssl ocsp did not start after 5 attempts');
}

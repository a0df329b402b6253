// Pebble, Let's Encrypt's ACME test server (Debian package `pebble`), as the CA
// of the hostname tests. Its own HTTPS certificate is made here for 127.0.0.1
// (the package ships no test CA file), and the test trusts that root. Pebble
// validates HTTP-01 by fetching http://<hostname>:<httpPort>/.well-known/acme-challenge/<token>,
// resolving the hostname with the test's DNS responder (-dnsserver), and
// TLS-ALPN-01 by a TLS handshake with <hostname>:<tlsPort> offering ALPN acme-tls/1.
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, issueServerCert } from '../../src/pki/generate.js';
import { freePort, waitFor } from './ports.js';

export interface PebbleOptions {
  /** Where Pebble fetches HTTP-01 challenges (the port of bouncer's web service). */
  readonly httpPort: number;
  /** Where Pebble validates TLS-ALPN-01 challenges (a TLS port answering `acme-tls/1`); a free port nobody listens on by default. */
  readonly tlsPort?: number;
  /** `127.0.0.1:<port>` of the DNS responder. */
  readonly dnsServer: string;
  /** Lifetime of the certificates it issues, in seconds (short ones show renewal). */
  readonly certificateValidityPeriodSec?: number;
  /** Names Pebble refuses to issue for (rejectedIdentifier). */
  readonly domainBlocklist?: readonly string[];
}

export interface Pebble {
  readonly directoryUrl: string;
  /** The root of Pebble's HTTPS certificate, for the ACME client to trust. */
  readonly tlsCaPem: string;
  /** The root of the certificates Pebble issues (regenerated at each start). */
  issuingRoot(): Promise<string>;
  /** Everything Pebble printed so far. */
  output(): string;
  stop(): Promise<void>;
}

function get(url: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, timeout: 2_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export async function startPebble(o: PebbleOptions): Promise<Pebble> {
  const dir = mkdtempSync(join(tmpdir(), 'pebble-'));
  const root = await createRootCa({ commonName: 'Pebble TLS test root' });
  const tls = await issueServerCert({ commonName: '127.0.0.1', issuer: root, dns: ['localhost'], ips: ['127.0.0.1'] });
  writeFileSync(join(dir, 'cert.pem'), tls.certPem);
  writeFileSync(join(dir, 'key.pem'), tls.keyPem);
  const [acmePort, mgmtPort, tlsPort] = [await freePort(), await freePort(), o.tlsPort ?? (await freePort())];
  const config = {
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: join(dir, 'cert.pem'),
      privateKey: join(dir, 'key.pem'),
      httpPort: o.httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(o.certificateValidityPeriodSec !== undefined ? { certificateValidityPeriod: o.certificateValidityPeriodSec } : {}),
      ...(o.domainBlocklist !== undefined ? { domainBlocklist: o.domainBlocklist } : {}),
    },
  };
  writeFileSync(join(dir, 'pebble-config.json'), JSON.stringify(config));
  let out = '';
  const child: ChildProcess = spawn(process.env.PEBBLE_BIN ?? 'pebble', ['-config', join(dir, 'pebble-config.json'), '-dnsserver', o.dnsServer], {
    cwd: dir,
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  try {
    await waitFor('pebble to serve its directory', async () => (await get(directoryUrl, root.certPem).catch(() => ({ status: 0 }))).status === 200, 15_000, 50);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; pebble said:\n${out}`);
  }
  return {
    directoryUrl,
    tlsCaPem: root.certPem,
    async issuingRoot() {
      return (await get(`https://127.0.0.1:${mgmtPort}/roots/0`, root.certPem)).body;
    },
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

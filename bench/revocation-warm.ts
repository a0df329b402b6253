/**
 * What a warm request of a tenant with `mtls.revocation` pays for it: the
 * revocation view's check once the issuer's CRL has been fetched and the
 * leaf's OCSP answer is cached (both made by the openssl CLI, served by a
 * stand-in fetch so no network is involved). Tenants without
 * `mtls.revocation` never reach this code.
 *
 *   node dist/bench/revocation-warm.js
 *
 * Prints ns per check for a few rounds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { REVOCATION_DEFAULTS } from '../src/config/defaults.js';
import { parseCertificateBundle, type ParsedCert } from '../src/core/cert-parse.js';
import type { Tenant } from '../src/core/tenant.js';
import { issueCrl } from '../src/pki/generate.js';
import { createCrlFetcher } from '../src/revocation/crl-fetcher.js';
import type { fetchBounded } from '../src/revocation/http-fetch.js';
import { createRevocationMetrics } from '../src/revocation/metrics.js';
import { createOcspChecker } from '../src/revocation/ocsp-checker.js';
import { createRevocationView } from '../src/revocation/revocation-view.js';

const CHECKS = 2_000_000;
const dir = mkdtempSync(join(tmpdir(), 'bouncer-revocation-bench-'));
const openssl = (...args: string[]): Buffer => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
const load = (name: string): ParsedCert => parseCertificateBundle(readFileSync(join(dir, name), 'utf8'))[0] as ParsedCert;

try {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=Bench CA', '-days', '5',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf.key', '-subj', '/CN=device', '-out', 'leaf.csr');
  writeFileSync(join(dir, 'leaf.ext'), 'extendedKeyUsage=clientAuth\n');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', '0x1001', '-extfile', 'leaf.ext', '-out', 'leaf.pem');
  writeFileSync(join(dir, 'index.txt'), 'V\t301231235959Z\t\t1001\tunknown\t/CN=device\n');
  const ca = load('ca.pem');
  const leaf = load('leaf.pem');
  const crlPem = await issueCrl({ issuer: { certPem: ca.pem, keyPem: readFileSync(join(dir, 'ca.key'), 'utf8') }, revoked: [{ serialNumber: '2002' }], crlNumber: 1n });
  const fetch: typeof fetchBounded = async (_url, options) => {
    if (options.method === 'GET') return { status: 200, headers: {}, body: Buffer.from(crlPem) };
    writeFileSync(join(dir, 'req.der'), options.body ?? Buffer.alloc(0));
    openssl('ocsp', '-index', 'index.txt', '-CA', 'ca.pem', '-rsigner', 'ca.pem', '-rkey', 'ca.key', '-reqin', 'req.der', '-respout', 'resp.der', '-nmin', '60');
    return { status: 200, headers: {}, body: readFileSync(join(dir, 'resp.der')) };
  };
  const logger = pino({ level: 'silent' });
  const metrics = createRevocationMetrics(new Registry());
  const deps = { now: Date.now, logger, metrics, settings: { ...REVOCATION_DEFAULTS }, fetch };
  const crls = createCrlFetcher(deps);
  const view = createRevocationView({ ocsp: createOcspChecker(deps), crls, metrics, logger });
  const tenant: Tenant = {
    name: 'acme',
    hostnames: ['acme.test'],
    mtls: {
      mode: 'require',
      trust: { roots: [ca], crls: [], staleCrl: 'deny' },
      exemptPaths: [],
      revocation: { ocsp: 'require', ocspUrl: 'http://ocsp.bench.test', ocspNonce: true, crl: 'require', crlUrls: ['http://crl.bench.test/ca.crl'], crlDistributionPoints: false },
    },
  };
  crls.sync([tenant]);
  await crls.refreshNow('acme', 'http://crl.bench.test/ca.crl');
  const chain = [leaf, ca];
  const first = view.check(tenant, chain, Date.now());
  if (first.kind === 'deny' && first.settled) await first.settled;
  const ready = view.check(tenant, chain, Date.now());
  if (ready.kind !== 'pass') throw new Error(`revocation view not ready: ${JSON.stringify(ready)}`);
  for (let round = 1; round <= 3; round++) {
    const now = Date.now();
    const start = process.hrtime.bigint();
    for (let i = 0; i < CHECKS; i++) if (view.check(tenant, chain, now).kind !== 'pass') throw new Error('unexpected denial');
    console.log(`round ${round}: ${(Number(process.hrtime.bigint() - start) / CHECKS).toFixed(0)} ns per check (fetched CRL lookup + cached OCSP answer)`);
  }
  crls.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

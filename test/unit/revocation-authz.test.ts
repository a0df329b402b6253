/**
 * Network revocation through the ext_authz server and from the config file:
 * a revoked certificate is denied with `client_cert_revoked` by a real
 * `openssl ocsp` responder, a good one passes, and the first request of a
 * certificate under `require` waits for its answer while later requests are
 * answered from the cache (the responder, once stopped, is not needed).
 */
import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAuthzServer, type AuthzServer, type AuthzState } from '../../src/authz/server.js';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import type { Tenant } from '../../src/core/tenant.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { issueCrl } from '../../src/pki/generate.js';
import { createCrlFetcher } from '../../src/revocation/crl-fetcher.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOcspChecker } from '../../src/revocation/ocsp-checker.js';
import { createRevocationView } from '../../src/revocation/revocation-view.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { createOpensslPki, startOcspResponder, type OcspResponder, type OpensslPki } from '../helpers/openssl-ocsp.js';

jest.setTimeout(120_000);

let pki: OpensslPki;
let responder: OcspResponder | undefined;

beforeAll(async () => {
  pki = createOpensslPki('');
  responder = await startOcspResponder(pki, 'responder', 'responder', ['-nmin', '10']);
});

afterAll(async () => {
  await responder?.close();
  pki?.remove();
});

function peer(pem: string): ReturnType<typeof checkRequest> {
  const req = checkRequest('acme.test');
  return { ...req, attributes: { ...req.attributes, source: { ...req.attributes?.source, certificate: encodeURIComponent(pem) } } };
}

test('through the authz server: revoked denied with client_cert_revoked, good allowed, then answered from the cache', async () => {
  const acme: Tenant = {
    name: 'acme',
    hostnames: ['acme.test'],
    mtls: {
      mode: 'require',
      trust: { roots: [pki.ca], crls: [], staleCrl: 'deny' },
      exemptPaths: [],
      revocation: { ocsp: 'require', ocspUrl: (responder as OcspResponder).url, ocspNonce: true, crl: 'off', crlUrls: [], crlDistributionPoints: false },
    },
  };
  const metrics = createMetrics({ defaultMetrics: false });
  const ocsp = createOcspChecker({ now: Date.now, logger: pino({ level: 'silent' }), metrics: createRevocationMetrics(metrics.registry), settings: { ...REVOCATION_DEFAULTS } });
  const state: AuthzState = {
    tenants: buildTenantIndex([acme]),
    verifier: createCertVerifier({ maxEntries: 100, ttlMs: 60_000 }),
    revocation: createRevocationView({ ocsp }),
    xfcc: { trustedHop: false, maxElements: 1 },
  };
  const server: AuthzServer = createAuthzServer({ getState: () => state, logger: pino({ level: 'silent' }), metrics });
  const client = authzClient(await server.listen('127.0.0.1', 0));
  try {
    const revoked = await client.check(peer(pki.leaves.revoked!.cert.pem));
    expect(revoked.status.code).toBe(7);
    expect(JSON.stringify(revoked)).toContain('client_cert_revoked');

    const good = await client.check(peer(pki.leaves.good!.cert.pem));
    expect(good.status.code).toBe(0);

    // The responder goes away: cached answers still decide, no request waits.
    await responder?.close();
    responder = undefined;
    expect((await client.check(peer(pki.leaves.good!.cert.pem))).status.code).toBe(0);
    expect(JSON.stringify(await client.check(peer(pki.leaves.revoked!.cert.pem)))).toContain('client_cert_revoked');
    // A certificate never seen before now has no answer: denied, with the reason.
    const unseen = await client.check(peer(pki.leaves.unknown!.cert.pem));
    expect(JSON.stringify(unseen)).toContain('client_cert_ocsp_unavailable');
    const text = await metrics.registry.metrics();
    expect(text).toContain('bouncer_ocsp_responses_total{tenant="acme",result="good"} 1');
    expect(text).toContain('bouncer_ocsp_responses_total{tenant="acme",result="revoked"} 1');
  } finally {
    client.close();
    await server.close(0);
  }
});

test('through the authz server: the CRL a certificate names is fetched on its first request, which waits for it (crl: require)', async () => {
  // A CRL server first, so the leaves can name it in cRLDistributionPoints.
  let crlBody = '';
  let hits = 0;
  const crlServer: Server = createServer((_req, res) => {
    hits += 1;
    res.writeHead(200, { 'content-type': 'application/pkix-crl' });
    res.end(crlBody);
  });
  await new Promise<void>((r) => crlServer.listen(0, '127.0.0.1', r));
  const dpPki = createOpensslPki('', `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/ca.crl`);
  const metrics = createMetrics({ defaultMetrics: false });
  const revocationMetrics = createRevocationMetrics(metrics.registry);
  const deps = { now: Date.now, logger: pino({ level: 'silent' }), metrics: revocationMetrics, settings: { ...REVOCATION_DEFAULTS } };
  const crls = createCrlFetcher(deps);
  let server: AuthzServer | undefined;
  let client: ReturnType<typeof authzClient> | undefined;
  try {
    crlBody = await issueCrl({
      issuer: { certPem: readFileSync(dpPki.path('ca.pem'), 'utf8'), keyPem: readFileSync(dpPki.path('ca.key'), 'utf8') },
      revoked: [{ serialNumber: dpPki.leaves.revoked!.cert.serial }],
      crlNumber: 1n,
    });
    const acme: Tenant = {
      name: 'acme',
      hostnames: ['acme.test'],
      mtls: {
        mode: 'require',
        trust: { roots: [dpPki.ca], crls: [], staleCrl: 'deny' },
        exemptPaths: [],
        revocation: { ocsp: 'off', ocspUrl: undefined, ocspNonce: true, crl: 'require', crlUrls: [], crlDistributionPoints: true },
      },
    };
    crls.sync([acme]);
    const state: AuthzState = {
      tenants: buildTenantIndex([acme]),
      verifier: createCertVerifier({ maxEntries: 100, ttlMs: 60_000 }),
      revocation: createRevocationView({ ocsp: createOcspChecker(deps), crls, metrics: revocationMetrics }),
      xfcc: { trustedHop: false, maxElements: 1 },
    };
    server = createAuthzServer({ getState: () => state, logger: pino({ level: 'silent' }), metrics });
    client = authzClient(await server.listen('127.0.0.1', 0));
    const revoked = await client.check(peer(dpPki.leaves.revoked!.cert.pem));
    expect(revoked.status.code).toBe(7);
    expect(JSON.stringify(revoked)).toContain('client_cert_revoked');
    expect((await client.check(peer(dpPki.leaves.good!.cert.pem))).status.code).toBe(0);
    // One download served both certificates (same distribution point).
    expect(hits).toBe(1);
    expect(await metrics.registry.metrics()).toContain('bouncer_crl_fetches_total{tenant="acme",result="updated"} 1');
  } finally {
    client?.close();
    await server?.close(0);
    crls.close();
    crlServer.closeAllConnections();
    await new Promise<void>((r) => crlServer.close(() => r()));
    dpPki.remove();
  }
});

describe('mtls.revocation in the config file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-revocation-config-'));
    writeFileSync(join(dir, 'ca.pem'), pki.ca.pem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (lines: string[]): string => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `${['tenants:', '  - name: acme', '    hostnames: [acme.test]', '    mtls:', '      mode: require', '      ca: ca.pem', ...lines].join('\n')}\n`);
    return file;
  };

  test('read with defaults filled in; absent means no revocation checks', async () => {
    const config = await loadConfig(write(['      revocation: { ocsp: prefer, crl_urls: http://crl.acme.test/ca.crl, crl: require }']), {});
    expect(config.tenants[0]?.mtls.revocation).toEqual({ ocsp: 'prefer', ocspUrl: undefined, ocspNonce: true, crl: 'require', crlUrls: ['http://crl.acme.test/ca.crl'], crlDistributionPoints: true });
    const none = await loadConfig(write([]), {});
    expect(none.tenants[0]?.mtls.revocation).toBeUndefined();
    const chain = await loadConfig(write(['      revocation: { ocsp: require, intermediates: true }']), {});
    expect(chain.tenants[0]?.mtls.revocation).toMatchObject({ ocsp: 'require', intermediates: true });
  });

  test('ocsp_nonce can be turned off; a CRL mode without any source is an error', async () => {
    const config = await loadConfig(write(['      revocation: { ocsp: require, ocsp_nonce: false }']), {});
    expect(config.tenants[0]?.mtls.revocation).toMatchObject({ ocsp: 'require', ocspNonce: false, crl: 'off' });
    const err = (await loadConfig(write(['      revocation:', '        crl: require', '        crl_distribution_points: false']), {}).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/:8:\d+.*crl is require but no CRL source is set/);
  });

  test('more than 16 crl_urls are refused, with the rule the admin API applies too', async () => {
    const urls = Array.from({ length: 17 }, (_, i) => `http://crl${i}.acme.test/ca.crl`).join(', ');
    const err = (await loadConfig(write([`      revocation: { crl: require, crl_urls: [${urls}] }`]), {}).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/crl_urls.*at most 16 CRL URLs per tenant/);
  });

  test('bad values are reported at their line and column', async () => {
    const file = write(['      revocation:', '        ocsp: always', '        ocsp_url: ldap://dir.acme.test', '        crl_url: x']);
    const err = (await loadConfig(file, {}).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    const text = err.message;
    expect(text).toMatch(/:8:\d+.*ocsp/);
    expect(text).toMatch(/:9:\d+.*http:\/\/ or https:\/\/ URL/);
    expect(text).toMatch(/:10:\d+.*crl_url/);
  });
});

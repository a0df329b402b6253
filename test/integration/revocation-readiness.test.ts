// A stale revocation source of one tenant shows in /readyz and in the admin
// API's trust status, and readiness stays 200: one tenant's bad revocation data
// must not take a replica (let alone all of them) out of rotation. Real parts:
// bouncer in process, a local CRL server that goes down after serving a CRL whose
// nextUpdate then passes, and an OCSP responder address that refuses connections.
import { jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { createRootCa, issueClientCert, issueCrl, type KeyPairPem } from '../../src/pki/generate.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { freePort, waitFor } from '../helpers/ports.js';

jest.setTimeout(60_000);

const READER = 'revocation-reader-token-0123456789abcdef';

let dir: string;
let app: BouncerApp;
let crlServer: Server;
let crlUp = true;
let ca: KeyPairPem;
let device: KeyPairPem;
let client: ReturnType<typeof authzClient>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-revocation-ready-'));
  ca = await createRootCa({ commonName: 'readiness root CA', keyAlgorithm: 'ec-p256', validDays: 30 });
  device = await issueClientCert({ issuer: ca, commonName: 'device-1', keyAlgorithm: 'ec-p256', validDays: 2 });
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  // Valid for a few seconds only; once the server is down it cannot be replaced.
  const now = Date.now();
  const crl = await issueCrl({ issuer: ca, revoked: [], thisUpdate: new Date(now - 60_000), nextUpdate: new Date(now + 5_000), crlNumber: 1n });
  crlServer = createServer((_req, res) => {
    if (crlUp) res.writeHead(200, { 'content-type': 'application/pkix-crl' }).end(crl);
    else res.writeHead(503).end();
  });
  await new Promise<void>((r) => crlServer.listen(0, '127.0.0.1', r));
  const crlUrl = `http://127.0.0.1:${(crlServer.address() as AddressInfo).port}/ca.crl`;
  // A port nothing listens on: every exchange is refused.
  const deadResponder = `http://127.0.0.1:${await freePort()}/`;
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: reader, secret_sha256: ${hashAdminToken(READER)}, scopes: [tenants:read] }
tenants:
  - { name: calm, hostnames: [calm.test], mtls: { mode: require, ca: ./ca.pem } }
  - name: stale
    hostnames: [stale.test]
    mtls: { mode: require, ca: ./ca.pem, revocation: { crl: require, crl_urls: [${crlUrl}], crl_distribution_points: false } }
  - name: dark
    hostnames: [dark.test]
    mtls: { mode: require, ca: ./ca.pem, revocation: { ocsp: require, ocsp_url: "${deadResponder}" } }
`,
  );
  const config = await loadConfig(join(dir, 'bouncer.yaml'), {});
  app = await startBouncer({ config, logger: pino({ level: 'silent' }), env: {}, watch: false });
  client = authzClient(app.authzPort);
}, 30_000);

afterAll(async () => {
  client?.close();
  await app?.close(0);
  crlServer?.closeAllConnections();
  await new Promise<void>((r) => crlServer?.close(() => r()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const readyz = async (): Promise<{ status: number; body: Record<string, unknown> }> => {
  const res = await fetch(`http://127.0.0.1:${app.httpPort}/readyz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const tenant = async (name: string): Promise<Record<string, unknown>> => {
  const res = await fetch(`http://127.0.0.1:${app.adminPort}/v1/tenants/${name}`, { headers: { authorization: `Bearer ${READER}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};

const peer = (host: string): ReturnType<typeof checkRequest> => {
  const req = checkRequest(host);
  return { ...req, attributes: { ...req.attributes, source: { ...req.attributes?.source, certificate: encodeURIComponent(device.certPem) } } };
};

test('a fresh CRL is no problem: ready, nothing listed', async () => {
  await waitFor('the CRL to be fetched', async () => ((await tenant('stale')).trust as { revocation?: { crl: { sources: number; unavailable: string[] } } }).revocation?.crl.sources === 1 || undefined);
  const r = await readyz();
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({ status: 'ready', revocation: { tenants_crl_stale: 0, tenants_crl_unavailable: 0, tenants_ocsp_failing: 0, tenants: {} } });
});

test('a CRL past its nextUpdate that cannot be refreshed, and a failing OCSP responder of a require tenant: listed per tenant, still ready', async () => {
  crlUp = false;
  // The require tenant's device: its first request starts the exchange, which fails.
  const denied = await client.check(peer('dark.test'));
  expect(JSON.stringify(denied)).toContain('client_cert_ocsp_unavailable');
  const r = await waitFor('both problems to show in /readyz', async () => {
    const got = await readyz();
    const rev = got.body.revocation as { tenants_crl_stale: number; tenants_ocsp_failing: number };
    return rev.tenants_crl_stale === 1 && rev.tenants_ocsp_failing === 1 ? got : undefined;
  });
  expect(r.status).toBe(200);
  expect(r.body).toMatchObject({
    status: 'ready',
    revocation: {
      tenants_crl_stale: 1,
      tenants_ocsp_failing: 1,
      tenants: { stale: { crl_stale: 1, crl_unavailable: 0, ocsp_failing: 0 }, dark: { crl_stale: 0, crl_unavailable: 0, ocsp_failing: 1 } },
    },
  });
  expect(Object.keys(r.body.revocation as { tenants: object }).includes('tenants_truncated')).toBe(false);
  expect(Object.keys((r.body.revocation as { tenants: object }).tenants)).not.toContain('calm');

  const stale = await tenant('stale');
  expect(stale.trust).toMatchObject({ status: 'ok', revocation: { crl: { sources: 1, stale: [expect.stringContaining('/ca.crl')], unavailable: [] }, ocsp: { failing: [] } } });
  const dark = await tenant('dark');
  expect(dark.trust).toMatchObject({ status: 'ok', revocation: { crl: { sources: 0 }, ocsp: { failing: [{ mode: 'require', failure: expect.any(String) as unknown, url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:/) as unknown }] } } });
  // A tenant with no revocation sources has no revocation status at all.
  expect((await tenant('calm')).trust).not.toHaveProperty('revocation');
  // The other tenant keeps working.
  expect((await client.check(peer('calm.test'))).status.code).toBe(0);
});

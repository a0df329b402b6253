/**
 * The login service through an Envoy configured only over xDS: `bouncer serve`
 * with `auth.domain` and `xds.auth_certificate` gives Envoy a chain for the auth
 * domain (its certificate from Envoy's disk, the login paths to bouncer's web
 * service, 404 for the rest), in both listener modes, and keeps a customer
 * hostname of the same name out of the listener.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { sniProbe, startXdsEnvoy, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { tlsRequest } from '../helpers/tls-client.js';

const AUTH = 'auth.saas.test';

describe.each(['chains', 'internal'] as const)('the login service over xDS, listener_mode %s', (mode) => {
  let dir: string;
  let edgeCa: KeyPairPem;
  let bouncer: BouncerProcess;
  let envoy: XdsEnvoy;
  let envoyPort: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-auth-'));
    edgeCa = await createRootCa({ commonName: 'Edge CA' });
    const authCert = await issueServerCert({ issuer: edgeCa, commonName: AUTH, dns: [AUTH] });
    writeFileSync(join(dir, 'auth.pem'), authCert.certPem);
    writeFileSync(join(dir, 'auth.key'), authCert.keyPem);
    const [authzPort, httpPort, xdsPort] = [await freePort(), await freePort(), await freePort()];
    envoyPort = await freePort();
    writeFileSync(
      join(dir, 'bouncer.yaml'),
      `listen:
  authz: 127.0.0.1:${authzPort}
  http: 127.0.0.1:${httpPort}
auth:
  domain: ${AUTH}
  session: { duration: 1h, keys_dir: ./keys }
idps:
  - { id: gh, type: github, client_id: saas, client_secret_env: GH_SECRET }
apps:
  - name: wiki
    hostnames: [wiki.saas.test]
    idps: [gh]
    policies:
      - { name: everyone, action: allow, include: [ { everyone: true } ] }
xds:
  listen: 127.0.0.1:${xdsPort}
  envoy_listen: 127.0.0.1:${envoyPort}
  envoy_http_listen: "off"
  listener_mode: ${mode}
  auth_certificate: { cert_file: ${join(dir, 'auth.pem')}, key_file: ${join(dir, 'auth.key')} }
`,
    );
    bouncer = await startBouncerProcess({ configPath: join(dir, 'bouncer.yaml'), env: { GH_SECRET: 'unused', BOUNCER_LOG_LEVEL: 'warn' }, readyUrl: `http://127.0.0.1:${httpPort}/readyz` });
    envoy = await startXdsEnvoy(dir, { nodeId: `auth-${mode}`, xdsPort, authzPort, upstreamPort: await freePort(), acmePort: httpPort });
    await waitFor(`${AUTH} to be served`, async () => (await sniProbe(envoyPort, AUTH)).subject?.includes(`CN = ${AUTH}`) === true, 30_000, 200);
  }, 90_000);

  afterAll(async () => {
    await envoy?.stop();
    await bouncer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('presents the auth certificate and sends the login paths to bouncer, through its ext_authz check', async () => {
    const jwks = await tlsRequest({ port: envoyPort, servername: AUTH, path: '/.well-known/jwks.json', ca: edgeCa.certPem });
    expect(jwks.status).toBe(200);
    expect((JSON.parse(jwks.body) as { keys: unknown[] }).keys.length).toBeGreaterThan(0);
    // bouncer's login service answered (an app open to everyone sends the browser straight back), not Envoy.
    const login = await tlsRequest({ port: envoyPort, servername: AUTH, path: '/login?app=wiki&rd=https%3A%2F%2Fwiki.saas.test%2F', ca: edgeCa.certPem });
    expect(login.status).toBe(302);
    expect(login.headers.location).toBe('https://wiki.saas.test/');
    expect(login.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(login.headers['x-envoy-upstream-service-time']).toBeDefined();
  });

  test('anything off the login paths is 404 from Envoy, and another Host on the auth SNI is not routed', async () => {
    const other = await tlsRequest({ port: envoyPort, servername: AUTH, path: '/admin', ca: edgeCa.certPem });
    expect(other.status).toBe(404);
    expect(other.body).toBe('not found\n');
    const wrongHost = await tlsRequest({ port: envoyPort, servername: AUTH, host: 'wiki.saas.test', path: '/.well-known/jwks.json', ca: edgeCa.certPem });
    expect(wrongHost.status).toBe(404);
  });
});

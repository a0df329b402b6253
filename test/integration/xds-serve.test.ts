import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { startXdsEnvoy, sniProbe, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { tlsRequest } from '../helpers/tls-client.js';
import { issueClientCert } from '../../src/pki/generate.js';
import { createServer, type Server } from 'node:http';

/** `bouncer serve` with an `xds` section: Envoy gets its listener from bouncer, and bouncer's ext_authz decides on it. */
describe('bouncer serve with xds', () => {
  let dir: string;
  let app: BouncerApp;
  let envoy: XdsEnvoy;
  let fx: HostnameFixtures;
  let catalog: MemoryCatalog;
  let publicPort: number;
  let upstream: Server;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-serve-'));
    fx = await hostnameFixtures();
    catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('pay.acme.test', 'acme')]);
    publicPort = await freePort();
    writeFileSync(join(dir, 'acme-ca.pem'), fx.clientCa.certPem);
    writeFileSync(
      join(dir, 'bouncer.yaml'),
      `listen: { authz: 127.0.0.1:${await freePort()}, http: 127.0.0.1:${await freePort()} }
tenants:
  - { name: acme, hostnames: [pay.acme.test], mtls: { mode: require, ca: ./acme-ca.pem } }
xds:
  listen: 127.0.0.1:${await freePort()}
  envoy_listen: 127.0.0.1:${publicPort}
  envoy_http_listen: "off"
`,
    );
    app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), {}), logger: pino({ level: 'silent' }), env: {}, watch: false, hostnames: catalog });
    const config = app.config();
    upstream = createServer((_req, res) => res.end('upstream'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    envoy = await startXdsEnvoy(dir, { nodeId: 'serve-edge', xdsPort: app.xdsPort, authzPort: app.authzPort, upstreamPort: (upstream.address() as { port: number }).port, acmePort: config.listen.http.port });
  }, 60_000);

  afterAll(async () => {
    await envoy?.stop();
    await app?.close(0);
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the hostname with the tenant CA names, bouncer denies a request without a client certificate and admits the tenant device', async () => {
    await waitFor('pay.acme.test to be served', async () => (await sniProbe(publicPort, 'pay.acme.test')).subject?.includes('CN = pay.acme.test') === true, 20_000, 200);
    expect((await sniProbe(publicPort, 'pay.acme.test')).acceptableCas).toEqual(['O = Tenant, CN = Tenant Client CA']);
    await waitFor('bouncer_authz healthy', async () => ((await envoy.stat('cluster.bouncer_authz.membership_healthy')) ?? 0) >= 1, 20_000, 200);
    const res = await tlsRequest({ port: publicPort, servername: 'pay.acme.test', ca: fx.serverCa.certPem });
    expect(res.status).toBe(401);
    expect(res.headers['x-bouncer-reason']).toBe('client_cert_missing');
    // A device certificate from the tenant's CA: bouncer verifies it and lets the request through.
    const device = await issueClientCert({ commonName: 'acme-device-1', issuer: fx.clientCa });
    const ok = await tlsRequest({ port: publicPort, servername: 'pay.acme.test', ca: fx.serverCa.certPem, cert: device.certPem, key: device.keyPem });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('upstream');
    expect(await app.metrics.registry.getSingleMetricAsString('bouncer_xds_hostnames_served')).toMatch(/bouncer_xds_hostnames_served 1/);
  }, 60_000);
});

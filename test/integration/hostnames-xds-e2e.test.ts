// Customer hostnames end to end: one `bouncer serve` (in process) with a
// `hostnames` section (ACME against Pebble, the keyring from the environment)
// and an `xds` section; a real Envoy started only from the bootstrap that
// `bouncer envoy render --xds` writes, so its listeners and certificates come
// from bouncer alone. Pebble validates HTTP-01 through Envoy's plain HTTP
// listener (its httpPort is xds.envoy_http_listen), which routes
// /.well-known/acme-challenge/ to bouncer's web service; a tiny DNS responder
// points the hostnames at 127.0.0.1. Pebble issues 20-second certificates, so
// renewal happens during the test.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { loadConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRootCa, issueClientCert, type KeyPairPem } from '../../src/pki/generate.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { runCaptured } from '../helpers/cli.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { sniProbe, startEnvoyFromBootstrap, type SniProbe, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { tlsRequest } from '../helpers/tls-client.js';
import { hostnamesApi, untilServedCertificate } from '../helpers/hostnames-api.js';

const VALIDITY_SEC = 20;
const TOKEN = 'hostnames-xds-e2e-admin-token-0123456789';
/** `xds.listener_mode` under test: hostnames-xds-e2e-internal.test.ts runs this file with `internal`. */
const LISTENER_MODE = process.env.BOUNCER_E2E_XDS_LISTENER_MODE === 'internal' ? 'internal' : 'chains';
const ONE = 'pay.one.test';
const TWO = 'pay.two.test';
/** A hostname of tenant one whose DNS points elsewhere. */
const AWAY = 'away.one.test';

let dir: string;
let dns: DnsResponder;
let pebble: Pebble;
let app: BouncerApp;
let envoy: XdsEnvoy;
let upstream: Server;
let tlsPort: number;
let oneCa: KeyPairPem;
let twoCa: KeyPairPem;
let pebbleRoot: string;
let logs = '';
/** Milliseconds observed, reported at the end (never asserted). */
const timings: Record<string, number> = {};

const api = hostnamesApi(() => app.adminPort as number, TOKEN);
const admin = api.call;
const untilState = api.untilState;
const untilServed = (hostname: string, notSerial?: string, timeoutMs?: number): Promise<{ probe: SniProbe; leaf: X509Certificate }> => untilServedCertificate(tlsPort, hostname, { notSerial, timeoutMs });

/** The certificate bouncer's catalog serves for a hostname: leaf and intermediate. */
function catalogChain(hostname: string): X509Certificate[] {
  const entry = app.hostnameCatalog?.get(hostname);
  const blocks = entry?.certificateChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Issued by Pebble: the catalog's intermediate signed the leaf Envoy showed, and Pebble's issuing root signed the intermediate. */
function expectIssuedByPebble(hostname: string, leaf: X509Certificate): void {
  const [, intermediate] = catalogChain(hostname);
  expect(intermediate).toBeDefined();
  expect(leaf.verify((intermediate as X509Certificate).publicKey)).toBe(true);
  expect((intermediate as X509Certificate).verify(new X509Certificate(pebbleRoot).publicKey)).toBe(true);
}

function expectCaNames(probe: SniProbe, commonName: string): void {
  expect(probe.acceptableCas).toHaveLength(1);
  expect(probe.acceptableCas[0]).toContain(`CN = ${commonName}`);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-hostnames-xds-e2e-'));
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString()));
  dns = await startDnsResponder({ [ONE]: ['127.0.0.1'], [TWO]: ['127.0.0.1'], [AWAY]: ['127.0.0.2'] });
  const [authzPort, httpPort, xdsPort, envoyHttpPort, envoyAdminPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  tlsPort = await freePort();
  // Pebble fetches every HTTP-01 challenge from Envoy's plain HTTP listener, never from bouncer directly.
  pebble = await startPebble({ httpPort: envoyHttpPort, dnsServer: dns.address, certificateValidityPeriodSec: VALIDITY_SEC });
  pebbleRoot = await pebble.issuingRoot();
  oneCa = await createRootCa({ commonName: 'One Devices CA' });
  twoCa = await createRootCa({ commonName: 'Two Devices CA' });
  writeFileSync(join(dir, 'one-ca.pem'), oneCa.certPem);
  writeFileSync(join(dir, 'two-ca.pem'), twoCa.certPem);
  writeFileSync(join(dir, 'pebble-tls.pem'), pebble.tlsCaPem);
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:${authzPort}, http: 127.0.0.1:${httpPort} }
tenants:
  - { name: one, hostnames: [${ONE}, ${AWAY}], mtls: { mode: require, ca: ./one-ca.pem } }
  - { name: two, hostnames: [${TWO}], mtls: { mode: require, ca: ./two-ca.pem } }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${hashAdminToken(TOKEN)}, scopes: [hostnames:write, hostnames:read] }
hostnames:
  kek_env: E2E_KEK
  acme:
    directory_url: ${pebble.directoryUrl}
    ca_file: pebble-tls.pem
    expected_addresses: [127.0.0.1]
    dns_servers: ["${dns.address}"]
xds:
  listen: 127.0.0.1:${xdsPort}
  envoy_listen: 127.0.0.1:${tlsPort}
  envoy_http_listen: 127.0.0.1:${envoyHttpPort}
  listener_mode: ${LISTENER_MODE}
`,
  );
  const env = { E2E_KEK: `e2e1:${randomBytes(32).toString('base64')}` };
  app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), env), logger: createLogger('info', sink), env, watch: false });

  upstream = createServer((_req, res) => res.end('upstream'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const upstreamPort = (upstream.address() as { port: number }).port;
  // The bootstrap exactly as an operator renders it: bouncer_acme is bouncer's web service.
  const bootstrap = join(dir, 'envoy-xds.yaml');
  const rendered = await runCaptured([
    'envoy', 'render', '--xds',
    '--xds-server', `127.0.0.1:${app.xdsPort}`,
    '--admin', `127.0.0.1:${envoyAdminPort}`,
    '--authz', `127.0.0.1:${app.authzPort}`,
    '--upstream', `127.0.0.1:${upstreamPort}`,
    '--acme', `127.0.0.1:${app.httpPort}`,
    '--node-id', 'e2e-edge',
    '-o', bootstrap,
  ]);
  expect(rendered).toMatchObject({ code: 0, err: '' });
  // Nothing of the public listener is in it: no listener, no certificate.
  expect(readFileSync(bootstrap, 'utf8')).not.toMatch(/listeners:|BEGIN CERTIFICATE|tls_certificate/);
  envoy = await startEnvoyFromBootstrap(bootstrap, envoyAdminPort);
  // Both listeners come from bouncer over xDS before any hostname exists.
  await waitFor('Envoy to take both listeners from bouncer', async () => ((await envoy.stat('listener_manager.total_listeners_active')) ?? 0) >= 2, 20_000, 100);
}, 60_000);

afterAll(async () => {
  await envoy?.stop();
  await app?.close(0);
  await pebble?.stop();
  await dns?.close();
  if (upstream) await new Promise((r) => upstream.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
  if (Object.keys(timings).length > 0) process.stdout.write(`hostnames-xds-e2e timings (ms): ${JSON.stringify(timings)}\n`);
});

describe(`customer hostnames end to end: bouncer (hostnames + xds, listener_mode ${LISTENER_MODE}), Pebble, a real Envoy`, () => {
  let firstSerial: string;
  const envoyAcmeRequests = (): Promise<number> => envoy.stat('cluster.bouncer_acme.upstream_rq_completed').then((n) => n ?? 0);

  it('adds a hostname through the admin API: pending, issued by Pebble through Envoy\'s HTTP-01 route, active, then served by Envoy with the tenant\'s CA names', async () => {
    const acmeBefore = await envoyAcmeRequests();
    const t0 = Date.now();
    const added = await admin('POST', '', { tenant: 'one', hostname: ONE });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ state: 'pending_validation', reason: null, certificate: null });
    const active = await untilState(ONE, 'active');
    timings.addToActive = Date.now() - t0;
    expect(active.reason).toBeNull();
    expect(active.certificate?.dns_names).toEqual([ONE]);
    expect(active.certificate?.issuer).toMatch(/Pebble/);
    expect(logs).toMatch(new RegExp(`"hostname":"${ONE}"[^\\n]*"from":"pending_validation","state":"issuing"`));
    expect(logs).toMatch(new RegExp(`"hostname":"${ONE}"[^\\n]*"from":"issuing","state":"active"`));
    // Pebble's validation request went through Envoy's plain HTTP listener to bouncer's web service.
    expect(await envoyAcmeRequests()).toBeGreaterThan(acmeBefore);

    const { probe, leaf } = await untilServed(ONE);
    timings.addToServedByEnvoy = Date.now() - t0;
    timings.activeToServedByEnvoy = timings.addToServedByEnvoy - timings.addToActive;
    expectIssuedByPebble(ONE, leaf);
    expectCaNames(probe, 'One Devices CA');
    firstSerial = leaf.serialNumber;
    // The admin API shows what the xDS server serves, and to which Envoy.
    const status = await fetch(`http://127.0.0.1:${app.adminPort}/v1/xds/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ hostnames_served: 1, streams: [{ node: 'e2e-edge' }], rejected: [], held_back: [] });
  }, 60_000);

  it('ext_authz stays the authority on the xDS chain: the tenant\'s device reaches the upstream, no certificate is refused by bouncer', async () => {
    await waitFor('bouncer_authz healthy in Envoy', async () => ((await envoy.stat('cluster.bouncer_authz.membership_healthy')) ?? 0) >= 1, 20_000, 100);
    const device = await issueClientCert({ commonName: 'one-device-1', issuer: oneCa });
    const ok = await tlsRequest({ port: tlsPort, servername: ONE, ca: pebbleRoot, cert: device.certPem, key: device.keyPem });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('upstream');
    const bare = await tlsRequest({ port: tlsPort, servername: ONE, ca: pebbleRoot });
    expect(bare.status).toBe(401);
    expect(bare.headers['x-bouncer-reason']).toBe('client_cert_missing');
    // The layout under test: the two public listeners, plus in the internal mode the active hostname's own.
    expect(await envoy.stat('listener_manager.total_listeners_active')).toBe(LISTENER_MODE === 'internal' ? 3 : 2);
  }, 30_000);

  it('two hostnames of two tenants: each with its own certificate and its own tenant\'s CA names', async () => {
    const t0 = Date.now();
    expect((await admin('POST', '', { tenant: 'two', hostname: TWO })).status).toBe(201);
    await untilState(TWO, 'active');
    const two = await untilServed(TWO);
    timings.secondAddToServedByEnvoy = Date.now() - t0;
    expectIssuedByPebble(TWO, two.leaf);
    expectCaNames(two.probe, 'Two Devices CA');
    const one = await untilServed(ONE);
    expectCaNames(one.probe, 'One Devices CA');
    expect(one.leaf.checkHost(TWO)).toBeUndefined();
    expect(two.leaf.checkHost(ONE)).toBeUndefined();
    // Tenant two's device passes on its own hostname; on tenant one's, Envoy lets the handshake
    // through (ACCEPT_UNTRUSTED) and bouncer refuses it.
    const twoDevice = await issueClientCert({ commonName: 'two-device-1', issuer: twoCa });
    expect((await tlsRequest({ port: tlsPort, servername: TWO, ca: pebbleRoot, cert: twoDevice.certPem, key: twoDevice.keyPem })).status).toBe(200);
    const crossed = await tlsRequest({ port: tlsPort, servername: ONE, ca: pebbleRoot, cert: twoDevice.certPem, key: twoDevice.keyPem });
    expect(crossed.status).toBe(403);
    expect(crossed.headers['x-bouncer-reason']).toBe('client_cert_untrusted');
  }, 45_000);

  it('renews the 20-second certificate by itself, and Envoy serves the new one without a restart', async () => {
    const uptimeBefore = (await envoy.stat('server.uptime')) ?? 0;
    const t0 = Date.now();
    const renewed = await untilServed(ONE, firstSerial, 40_000);
    timings.waitForRenewedServed = Date.now() - t0;
    expect(renewed.leaf.serialNumber).not.toBe(firstSerial);
    expectIssuedByPebble(ONE, renewed.leaf);
    expectCaNames(renewed.probe, 'One Devices CA');
    expect(logs).toMatch(new RegExp(`"hostname":"${ONE}"[^\\n]*"from":"active","state":"renewing"`));
    // The same Envoy process, never restarted: its uptime only grew.
    expect(envoy.exited()).toBe(false);
    expect((await envoy.stat('server.uptime')) ?? 0).toBeGreaterThanOrEqual(uptimeBefore);
    expect((await envoy.stat('server.hot_restart_epoch')) ?? 0).toBe(0);
  }, 60_000);

  it('a hostname whose DNS points elsewhere fails with dns_not_pointing_here, and Envoy keeps serving the others', async () => {
    expect((await admin('POST', '', { tenant: 'one', hostname: AWAY })).status).toBe(201);
    const failed = await untilState(AWAY, 'failed');
    expect(failed.reason).toBe('dns_not_pointing_here');
    expect(failed.reason_detail).toContain('127.0.0.2');
    // No chain for it: with no default certificate Envoy closes the handshake.
    expect((await sniProbe(tlsPort, AWAY)).certificatePem).toBeUndefined();
    const one = await untilServed(ONE);
    expectCaNames(one.probe, 'One Devices CA');
    const two = await untilServed(TWO);
    expectCaNames(two.probe, 'Two Devices CA');
    const device = await issueClientCert({ commonName: 'one-device-2', issuer: oneCa });
    expect((await tlsRequest({ port: tlsPort, servername: ONE, ca: pebbleRoot, cert: device.certPem, key: device.keyPem })).status).toBe(200);
  }, 45_000);

  it('with bouncer stopped, Envoy keeps serving the certificates and CA names it was given, and fails closed', async () => {
    await app.close(0);
    await waitFor('Envoy to notice bouncer is gone', async () => ((await envoy.stat('control_plane.connected_state')) ?? 1) === 0, 20_000, 100);
    const one = await untilServed(ONE);
    expect(one.leaf.issuer).toMatch(/Pebble/);
    expectCaNames(one.probe, 'One Devices CA');
    const two = await untilServed(TWO);
    expectCaNames(two.probe, 'Two Devices CA');
    // No ext_authz to ask: the tenant's own device is refused, never let through.
    const device = await issueClientCert({ commonName: 'one-device-3', issuer: oneCa });
    const refused = await tlsRequest({ port: tlsPort, servername: ONE, ca: pebbleRoot, cert: device.certPem, key: device.keyPem });
    expect(refused.status).toBe(503);
    expect(envoy.exited()).toBe(false);
  }, 30_000);

  it('never logged key material', () => {
    expect(logs).not.toMatch(/PRIVATE KEY/);
    expect(envoy.exited()).toBe(false);
  });
});

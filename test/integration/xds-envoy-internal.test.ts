import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { toCheckInput, type CheckRequestMessage } from '../../src/authz/check-request.js';
import { loadAuthzPackageDefinition } from '../../src/authz/proto.js';
import type { CheckInput } from '../../src/core/decision.js';
import { createRootCa, issueClientCert } from '../../src/pki/generate.js';
import { createXdsServer, type XdsServer } from '../../src/xds/server.js';
import type { PublicListenerSettings } from '../../src/xds/resources.js';
import { startXdsEnvoy, sniProbe, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { tlsRequest } from '../helpers/tls-client.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';

/**
 * `xds.listener_mode: internal` with a real Envoy: the front listener routes by SNI to
 * one cluster and internal listener per hostname. What ext_authz is given there must be
 * what the chains mode gives: the client's own address, the SNI and the client
 * certificate of the client's handshake. The ext_authz server here reads each request
 * with bouncer's own decoder and toCheckInput, and allows only a request with a client
 * certificate whose SNI names the Host.
 */
describe('Envoy configured by bouncer over delta xDS, internal listener mode', () => {
  let dir: string;
  let fx: HostnameFixtures;
  let catalog: MemoryCatalog;
  let xds: XdsServer;
  let envoy: XdsEnvoy;
  let settings: PublicListenerSettings;
  let authz: grpc.Server;
  let upstream: Server;
  let device: Awaited<ReturnType<typeof issueClientCert>>;
  const checks: CheckInput[] = [];
  const logger = pino({ level: 'warn' });

  const served = async (host: string, cn: string): Promise<void> => {
    await waitFor(`${host} to be served with CN ${cn}`, async () => (await sniProbe(settings.listen.port, host)).subject?.includes(`CN = ${cn}`) === true, 20_000, 200);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-internal-'));
    fx = await hostnameFixtures();
    device = await issueClientCert({ issuer: fx.clientCa, commonName: 'acme-laptop-1' });
    catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('pay.acme.test', 'acme'), await fx.entry('*.api.acme.test', 'acme'), await fx.entry('x.api.acme.test', 'acme')]);

    const definition = loadAuthzPackageDefinition();
    authz = new grpc.Server();
    new HealthImplementation({ '': 'SERVING', [AUTHZ]: 'SERVING' }).addToServer(authz);
    authz.addService(definition[AUTHZ] as grpc.ServiceDefinition, {
      Check: (call: grpc.ServerUnaryCall<CheckRequestMessage, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const { input } = toCheckInput(call.request);
        checks.push(input);
        const allow = input.peerCertificateEncoded !== undefined && input.sni === input.authority.replace(/:\d+$/, '');
        callback(null, { status: { code: allow ? 0 : 7 } });
      },
    });
    const authzPort = await new Promise<number>((resolve, reject) =>
      authz.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    upstream = createServer((_req, res) => res.end('upstream answered'));
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));

    settings = {
      listen: { host: '127.0.0.1', port: await freePort() },
      acmeHttpListen: undefined,
      authzTimeoutMs: 2000,
      statusOnError: 'ServiceUnavailable',
      listenerMode: 'internal',
    };
    xds = createXdsServer({ catalog, settings, logger, registry: new Registry() });
    const xdsPort = await xds.listen('127.0.0.1', 0);
    envoy = await startXdsEnvoy(dir, { nodeId: 'edge-internal', xdsPort, authzPort, upstreamPort: (upstream.address() as { port: number }).port, acmePort: await freePort() });
  }, 60_000);

  afterAll(async () => {
    await envoy?.stop();
    await xds?.close();
    authz?.forceShutdown();
    await new Promise((r) => upstream?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves each hostname its own certificate and CA names through its internal listener; unknown SNI is closed', async () => {
    await served('pay.acme.test', 'pay.acme.test');
    expect((await sniProbe(settings.listen.port, 'pay.acme.test')).acceptableCas).toEqual(['O = Tenant, CN = Tenant Client CA']);
    // Wildcards stay as chains of the front listener; an exact name under one is still its own.
    await served('eu.api.acme.test', 'wildcard.api.acme.test');
    await served('x.api.acme.test', 'x.api.acme.test');
    expect((await sniProbe(settings.listen.port, 'unknown.example.com')).subject).toBeUndefined();
    expect(xds.status().streams.map((s) => s.node)).toEqual(['edge-internal']);
  }, 60_000);

  it('gives ext_authz the client’s address, SNI and certificate, and applies its decision', async () => {
    await served('pay.acme.test', 'pay.acme.test');
    checks.length = 0;
    // Every request here is on a fresh connection with `Connection: close`: the response must
    // reach the client before the internal listener's close does (the bootstrap's runtime flag).
    const allowed = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', ca: fx.serverCa.certPem, path: '/', cert: device.certPem, key: device.keyPem });
    expect(allowed.status).toBe(200);
    expect(allowed.body).toBe('upstream answered');
    expect(checks[0]).toMatchObject({ sni: 'pay.acme.test', authority: 'pay.acme.test', sourceAddress: '127.0.0.1' });
    expect(checks[0]?.peerCertificateEncoded).toContain('BEGIN%20CERTIFICATE');
    const noDevice = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', ca: fx.serverCa.certPem, path: '/' });
    expect(noDevice.status).toBe(403);
    expect(checks[1]?.peerCertificateEncoded).toBeUndefined();
    // The SNI of the client's handshake reaches ext_authz, so a Host of another hostname is seen as such.
    const mismatch = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', host: 'other.acme.test', ca: fx.serverCa.certPem, path: '/', cert: device.certPem, key: device.keyPem });
    expect(mismatch.status).toBe(403);
    expect(checks[2]).toMatchObject({ sni: 'pay.acme.test', authority: 'other.acme.test', sourceAddress: '127.0.0.1' });
  }, 60_000);

  it('keeps no per-hostname stats (the bootstrap’s stats matcher) and keeps the shared ones operators read', async () => {
    await served('pay.acme.test', 'pay.acme.test');
    const denied = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', ca: fx.serverCa.certPem, path: '/' });
    expect(denied.status).toBe(403);
    const names = (await envoy.admin('/stats')).split('\n').map((l) => l.split(':')[0] ?? '');
    // Each hostname would otherwise bring about 170: its cluster, internal listener and two SDS secrets.
    expect(names.filter((n) => /^(cluster\.host\/|listener\.envoy_internal_host\/|sds\.(cert|client-ca)\/)/.test(n))).toEqual([]);
    for (const kept of ['listener_manager.total_listeners_active', 'cluster_manager.active_clusters', 'control_plane.connected_state', 'http.tenants.downstream_rq_completed', 'http.tenants.ext_authz.denied', 'tcp.front.downstream_cx_total', 'cluster.bouncer_authz.upstream_rq_completed']) {
      expect(names).toContain(kept);
    }
    expect(await envoy.stat('http.tenants.ext_authz.denied')).toBeGreaterThan(0);
  }, 60_000);

  it('adds a hostname as one cluster, one listener and two secrets, without resending the front listener', async () => {
    const frontBefore = await envoy.stat('listener_manager.lds.update_success');
    catalog.upsert(await fx.entry('new.acme.test', 'acme'));
    await served('new.acme.test', 'new.acme.test');
    const changed = await fx.entry('new.acme.test', 'acme', [await createRootCa({ commonName: 'Globex Devices CA', organization: 'Globex' })]);
    catalog.upsert(changed);
    await waitFor('the new CA list', async () => (await sniProbe(settings.listen.port, 'new.acme.test')).acceptableCas[0] === 'O = Globex, CN = Globex Devices CA', 20_000, 200);
    catalog.remove('new.acme.test');
    await waitFor('new.acme.test to go', async () => (await sniProbe(settings.listen.port, 'new.acme.test')).subject === undefined, 20_000, 200);
    await served('pay.acme.test', 'pay.acme.test');
    // Two LDS updates (the internal listener added, then removed); the front listener is not among them.
    expect(((await envoy.stat('listener_manager.lds.update_success')) ?? 0) - (frontBefore ?? 0)).toBe(2);
    expect(await envoy.stat('listener_manager.listener_in_place_updated')).toBe(0);
    expect(envoy.exited()).toBe(false);
  }, 60_000);

  it('isolates a certificate Envoy refuses: the other hostnames keep serving', async () => {
    const good = await fx.entry('ok.acme.test', 'acme');
    const broken = await fx.entry('broken.acme.test', 'acme');
    catalog.upsert({ ...broken, certificateChainPem: `${broken.certificateChainPem}-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n` }, good);
    await waitFor('the refusal to be reported', () => xds.status().rejected.find((r) => r.name.endsWith('/broken.acme.test')), 20_000, 100);
    await served('ok.acme.test', 'ok.acme.test');
    await served('pay.acme.test', 'pay.acme.test');
    expect((await sniProbe(settings.listen.port, 'broken.acme.test')).subject).toBeUndefined();
    catalog.upsert(await fx.entry('broken.acme.test', 'acme'));
    await served('broken.acme.test', 'broken.acme.test');
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { createXdsServer, type XdsServer } from '../../src/xds/server.js';
import type { PublicListenerSettings } from '../../src/xds/resources.js';
import { startXdsEnvoy, sniProbe, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { createRootCa } from '../../src/pki/generate.js';
import { tlsRequest } from '../helpers/tls-client.js';

/**
 * A real Envoy whose listeners and certificates come only from bouncer's xDS
 * server: per-hostname certificates and client-CA names, runtime changes without
 * a restart, a refused certificate isolated, and bouncer away and back.
 */
describe('Envoy configured by bouncer over delta xDS', () => {
  let dir: string;
  let fx: HostnameFixtures;
  let catalog: MemoryCatalog;
  let xds: XdsServer;
  let xdsPort: number;
  let envoy: XdsEnvoy;
  let settings: PublicListenerSettings;
  let acme: Server;
  // Debug level: every response is logged, and the restart test reads what was sent.
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  let otherTenantCa: Awaited<ReturnType<typeof createRootCa>>;

  const newServer = (): XdsServer => createXdsServer({ catalog, settings, logger, registry: new Registry() });
  const served = async (host: string, cn: string): Promise<void> => {
    await waitFor(`${host} to be served with CN ${cn}`, async () => (await sniProbe(settings.listen.port, host)).subject?.includes(`CN = ${cn}`) === true, 20_000, 200);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-'));
    fx = await hostnameFixtures();
    otherTenantCa = await createRootCa({ commonName: 'Globex Devices CA', organization: 'Globex' });
    catalog = new MemoryCatalog();
    catalog.seed([
      await fx.entry('pay.acme.test', 'acme'),
      await fx.entry('*.api.acme.test', 'acme'),
      await fx.entry('pay.globex.test', 'globex', [otherTenantCa, fx.clientCa]),
    ]);
    acme = createServer((req, res) => res.end(`acme answer for ${req.url ?? ''}`));
    await new Promise<void>((r) => acme.listen(0, '127.0.0.1', r));
    const acmePort = (acme.address() as { port: number }).port;
    settings = {
      listen: { host: '127.0.0.1', port: await freePort() },
      acmeHttpListen: { host: '127.0.0.1', port: await freePort() },
      authzTimeoutMs: 2000,
      statusOnError: 'ServiceUnavailable',
    };
    xds = newServer();
    xdsPort = await xds.listen('127.0.0.1', 0);
    // ext_authz points at a closed port: every protected request must fail closed.
    envoy = await startXdsEnvoy(dir, { nodeId: 'edge-1', xdsPort, authzPort: await freePort(), upstreamPort: await freePort(), acmePort });
  }, 60_000);

  afterAll(async () => {
    await envoy?.stop();
    await xds?.close();
    await new Promise((r) => acme?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves each hostname its own certificate and names its tenant’s CAs in the CertificateRequest', async () => {
    await served('pay.acme.test', 'pay.acme.test');
    const acmeProbe = await sniProbe(settings.listen.port, 'pay.acme.test');
    expect(acmeProbe.acceptableCas).toEqual(['O = Tenant, CN = Tenant Client CA']);
    const wildcard = await sniProbe(settings.listen.port, 'eu.api.acme.test');
    expect(wildcard.subject).toContain('CN = wildcard.api.acme.test');
    // Envoy's wildcard also takes deeper names; bouncer's one-label rule then refuses them (docs/xds.md).
    expect((await sniProbe(settings.listen.port, 'a.eu.api.acme.test')).subject).toContain('CN = wildcard.api.acme.test');
    const globex = await sniProbe(settings.listen.port, 'pay.globex.test');
    expect(globex.subject).toContain('CN = pay.globex.test');
    expect(globex.acceptableCas).toEqual(['O = Globex, CN = Globex Devices CA', 'O = Tenant, CN = Tenant Client CA']);
    // Unknown SNI: no default certificate configured, so no handshake.
    expect((await sniProbe(settings.listen.port, 'unknown.example.com')).subject).toBeUndefined();
    expect(xds.status().streams.map((s) => s.node)).toEqual(['edge-1']);
  }, 60_000);

  it('keeps ext_authz on every chain (failing closed) and lets ACME challenges through to bouncer without it', async () => {
    const protectedRes = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', ca: fx.serverCa.certPem, path: '/' });
    expect(protectedRes.status).toBe(503);
    const challenge = await tlsRequest({ port: settings.listen.port, servername: 'pay.acme.test', ca: fx.serverCa.certPem, path: '/.well-known/acme-challenge/tok1' });
    expect(challenge.status).toBe(200);
    expect(challenge.body).toBe('acme answer for /.well-known/acme-challenge/tok1');
    const plain = await new Promise<{ status: number; location: string | undefined; body: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: settings.acmeHttpListen?.port, path: '/.well-known/acme-challenge/tok2', headers: { host: 'pay.acme.test' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(plain).toMatchObject({ status: 200, body: 'acme answer for /.well-known/acme-challenge/tok2' });
  }, 60_000);

  it('serves a hostname added, changed and removed at runtime, with no Envoy restart', async () => {
    catalog.upsert(await fx.entry('new.acme.test', 'acme'));
    await served('new.acme.test', 'new.acme.test');
    const before = await sniProbe(settings.listen.port, 'new.acme.test');
    // The same hostname with another certificate and the other tenant's CA list.
    const changed = await fx.entry('new.acme.test', 'globex', [otherTenantCa]);
    catalog.upsert(changed);
    await waitFor('the new CA list', async () => (await sniProbe(settings.listen.port, 'new.acme.test')).acceptableCas[0] === 'O = Globex, CN = Globex Devices CA', 20_000, 200);
    const after = await sniProbe(settings.listen.port, 'new.acme.test');
    expect(after.output).not.toEqual(before.output);
    catalog.remove('new.acme.test');
    await waitFor('new.acme.test to go', async () => (await sniProbe(settings.listen.port, 'new.acme.test')).subject === undefined, 20_000, 200);
    await served('pay.acme.test', 'pay.acme.test');
    expect(envoy.exited()).toBe(false);
  }, 60_000);

  it('reports a certificate Envoy refuses (NACK) and keeps serving every other hostname', async () => {
    const good = await fx.entry('ok.acme.test', 'acme');
    const broken = await fx.entry('broken.acme.test', 'acme');
    // A chain whose second certificate is not DER: bouncer cannot tell, Envoy refuses to load it.
    catalog.upsert({ ...broken, certificateChainPem: `${broken.certificateChainPem}-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n` }, good);
    await waitFor('the refusal to be reported', () => xds.status().rejected.find((r) => r.name.endsWith('/broken.acme.test')), 20_000, 100);
    const rejection = xds.status().rejected.find((r) => r.name.endsWith('/broken.acme.test'));
    expect(rejection).toMatchObject({ node: 'edge-1', message: expect.stringContaining('certificate chain') });
    expect(logs.some((l) => l.includes('Envoy refused a resource') && l.includes('broken.acme.test'))).toBe(true);
    expect((await xds.metrics.rejected.get()).values.reduce((n, v) => n + v.value, 0)).toBeGreaterThanOrEqual(1);
    await served('ok.acme.test', 'ok.acme.test');
    await served('pay.acme.test', 'pay.acme.test');
    // A key that does not match is caught by bouncer before Envoy, with the reason.
    const other = await fx.entry('other.acme.test', 'acme');
    catalog.upsert({ ...(await fx.entry('mismatch.acme.test', 'acme')), privateKeyPem: other.privateKeyPem });
    expect(xds.status().heldBack).toContainEqual({ hostname: 'mismatch.acme.test', reason: 'the private key does not match the certificate' });
    // Fixed: served again.
    catalog.upsert(await fx.entry('broken.acme.test', 'acme'));
    await served('broken.acme.test', 'broken.acme.test');
    expect(xds.status().rejected.find((r) => r.name.endsWith('/broken.acme.test'))).toBeUndefined();
  }, 60_000);

  it('keeps serving while bouncer is away, then reconnects and resumes', async () => {
    await xds.close();
    await waitFor('Envoy to notice', async () => ((await envoy.stat('control_plane.connected_state')) ?? 1) === 0, 20_000, 200);
    await served('pay.acme.test', 'pay.acme.test');
    await served('eu.api.acme.test', 'wildcard.api.acme.test');
    // Changes made while away are picked up by the next bouncer (another replica reading the same data).
    catalog.upsert(await fx.entry('later.acme.test', 'acme'));
    const restartAt = logs.length;
    xds = newServer();
    await xds.listen('127.0.0.1', xdsPort);
    await waitFor('Envoy to reconnect', () => xds.status().streams.some((s) => s.node === 'edge-1'), 30_000, 200);
    await served('later.acme.test', 'later.acme.test');
    await served('pay.globex.test', 'pay.globex.test');
    // Versions come from content: Envoy named the versions it had, and the new server sent the new
    // hostname's secrets, and one Envoy had refused (a NACKed response leaves Envoy's record unchanged),
    // never those of the hostnames served all along.
    const resent = logs
      .slice(restartAt)
      .map((l) => JSON.parse(l) as { msg: string; type?: string; resources?: string[] })
      .filter((l) => l.msg === 'xds: response' && l.type === 'secret')
      .flatMap((l) => l.resources ?? []);
    expect(resent).toEqual(expect.arrayContaining(['cert/later.acme.test', 'client-ca/later.acme.test']));
    for (const name of resent) expect(name).toMatch(/\/(later|broken)\.acme\.test$/);
    expect(envoy.exited()).toBe(false);
  }, 90_000);
});

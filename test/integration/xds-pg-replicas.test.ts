// Two bouncer replicas on one PostgreSQL, each with the parts `bouncer serve`
// starts for its `hostnames` and `xds` sections (its own tenant store, hostname
// store, manager and catalog, and its own xDS server): hostnames uploaded
// through one replica are served by both at identical versions, and an Envoy
// that moves from one replica to the other is sent only what changed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { XdsConfig } from '../../src/config/types.js';
import { openHostnames, type OpenHostnames } from '../../src/hostnames/open.js';
import { createRootCa, issueIntermediateCa, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { TYPE_URLS } from '../../src/xds/protos.js';
import { startXds, type RunningXds } from '../../src/xds/start.js';
import { startXdsEnvoy, sniProbe, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { DeltaXdsClient, type DeltaResponseMessage } from '../helpers/xds-client.js';

interface Replica {
  readonly tenants: PgTenantStore;
  readonly hostnames: OpenHostnames;
}

const HOSTS = ['a.fleet.test', 'b.fleet.test', 'c.fleet.test'];
const SECRETS = HOSTS.flatMap((h) => [`cert/${h}`, `client-ca/${h}`]);
const logger = pino({ level: 'silent' });
const KEK_ENV = { BOUNCER_TEST_KEK: `fleet1:${randomBytes(32).toString('base64')}` };

let dir: string;
let db: TestDatabase;
let root: KeyPairPem;
let inter: KeyPairPem;
let replicaA: Replica;
let replicaB: Replica;
let xdsConfig: XdsConfig;
const running: RunningXds[] = [];
const clients: DeltaXdsClient[] = [];
let envoy: XdsEnvoy | undefined;

function postgresUrl(d: TestDatabase): string {
  const u = new URL(process.env.BOUNCER_TEST_PG_URL as string);
  u.pathname = `/${String(d.connection.database)}`;
  return u.toString();
}

async function openReplica(): Promise<Replica> {
  const tenants = await createPgTenantStore({ connection: db.connection });
  const hostnames = await openHostnames({
    config: { kekFile: undefined, kekEnv: 'BOUNCER_TEST_KEK', acme: undefined },
    postgresUrl: postgresUrl(db),
    tenants,
    logger,
    registry: new Registry(),
    clock: Date.now,
    env: KEK_ENV,
  });
  await hostnames.manager.start();
  return { tenants, hostnames };
}

async function upload(r: Replica, hostname: string, commonName = hostname): Promise<void> {
  const leaf = await issueServerCert({ commonName, issuer: inter, dns: [hostname] });
  await r.hostnames.manager.upload('fleet', hostname, { certificateChainPem: leaf.certPem + inter.certPem + root.certPem, privateKeyPem: leaf.keyPem });
}

async function xdsOn(r: Replica, port = 0): Promise<{ xds: RunningXds; registry: Registry }> {
  const registry = new Registry();
  const xds = await startXds(r.hostnames.manager.catalog, { ...xdsConfig, listen: { host: '127.0.0.1', port } }, { logger, registry });
  running.push(xds);
  return { xds, registry };
}

/** Every resource a fresh delta client is sent, name → version, each response ACKed. */
async function everything(port: number, node: string): Promise<Map<string, string>> {
  const c = new DeltaXdsClient(port, node);
  clients.push(c);
  const versions = new Map<string, string>();
  const take = (r: DeltaResponseMessage): void => {
    for (const x of r.resources ?? []) versions.set(x.name, x.version);
    c.ack(r);
  };
  c.send({ type_url: TYPE_URLS.listener });
  take(await c.next());
  c.send({ type_url: TYPE_URLS.secret, resource_names_subscribe: SECRETS });
  for (const _ of SECRETS) take(await c.next());
  c.close();
  return versions;
}

async function sent(registry: Registry, type: string): Promise<number> {
  const values = (await registry.getSingleMetric('bouncer_xds_resources_sent_total')?.get())?.values ?? [];
  return values.filter((v) => v.labels.type === type).reduce((n, v) => n + v.value, 0);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-replicas-'));
  db = await createTestDatabase();
  root = await createRootCa({ commonName: 'Fleet Server Root' });
  inter = await issueIntermediateCa({ commonName: 'Fleet Server Intermediate', issuer: root });
  const clientCa = await createRootCa({ commonName: 'Fleet Devices CA', organization: 'Fleet' });
  [replicaA, replicaB] = [await openReplica(), await openReplica()];
  await replicaA.tenants.putTenant({ name: 'fleet', hostnames: ['www.fleet.test'], mtls: { caPem: clientCa.certPem } });
  for (const h of HOSTS) await upload(replicaA, h);
  // Uploaded through A; B learns of them from PostgreSQL's notifications.
  await waitFor('both catalogs to hold every hostname', () => [replicaA, replicaB].every((r) => HOSTS.every((h) => r.hostnames.manager.catalog.get(h) !== undefined)), 20_000, 50);
  xdsConfig = {
    listen: { host: '127.0.0.1', port: 0 },
    envoyListen: { host: '127.0.0.1', port: await freePort() },
    envoyHttpListen: undefined,
    defaultCertificate: undefined, authCertificate: undefined,
    authzTimeoutMs: 2000,
    listenerMode: 'chains',
  };
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await envoy?.stop();
  for (const x of running) await x.server.close();
  for (const r of [replicaB, replicaA]) {
    await r?.hostnames.close();
    await r?.tenants.close();
  }
  await db?.drop();
  rmSync(dir, { recursive: true, force: true });
});

describe('xDS from two replicas on one PostgreSQL', () => {
  it('serve identical resource and system versions for the same catalog', async () => {
    const [onA, onB] = [await xdsOn(replicaA), await xdsOn(replicaB)];
    const [a, b] = [await everything(onA.xds.port, 'edge-a'), await everything(onB.xds.port, 'edge-b')];
    expect([...a.keys()].sort()).toEqual(['bouncer_https', ...SECRETS].sort());
    expect(b).toEqual(a);
    expect(onB.xds.server.status().systemVersions).toEqual(onA.xds.server.status().systemVersions);
    expect(onA.xds.server.status().hostnamesServed).toBe(HOSTS.length);

    // A client moving from A to B names what it has: B sends only the certificate that changed since.
    const moved = new DeltaXdsClient(onB.xds.port, 'edge-a');
    clients.push(moved);
    const initial = Object.fromEntries(a);
    moved.send({ type_url: TYPE_URLS.listener, initial_resource_versions: { bouncer_https: initial.bouncer_https as string } });
    moved.send({ type_url: TYPE_URLS.secret, resource_names_subscribe: SECRETS, initial_resource_versions: Object.fromEntries(SECRETS.map((s) => [s, initial[s] as string])) });
    await upload(replicaA, 'b.fleet.test', 'b.fleet.test renewed');
    let first = await moved.next();
    if (first.type_url === TYPE_URLS.listener) {
      // A first wildcard listener request is always answered; with nothing to resend, empty.
      expect(first.resources ?? []).toEqual([]);
      moved.ack(first);
      first = await moved.next();
    }
    expect(first.type_url).toBe(TYPE_URLS.secret);
    expect((first.resources ?? []).map((r) => r.name)).toEqual(['cert/b.fleet.test']);
    expect(first.resources?.[0]?.version).not.toBe(initial['cert/b.fleet.test']);
    moved.ack(first);
    // A name that does not exist is answered next: had anything else been resent, it would have come first.
    moved.send({ type_url: TYPE_URLS.secret, resource_names_subscribe: ['cert/none.fleet.test'] });
    const probe = await moved.next();
    expect(probe).toMatchObject({ type_url: TYPE_URLS.secret, removed_resources: ['cert/none.fleet.test'] });
    expect(probe.resources ?? []).toEqual([]);
    // Both replicas agree again on the new version.
    await waitFor('A to serve the renewed certificate', () => onA.xds.server.status().systemVersions.secret === onB.xds.server.status().systemVersions.secret, 10_000, 20);
  }, 60_000);

  it('an Envoy connected to replica A that reconnects to replica B is resent nothing it has, only what changed', async () => {
    const port = await freePort();
    const onA = await xdsOn(replicaA, port);
    envoy = await startXdsEnvoy(dir, { nodeId: 'edge-1', xdsPort: port, authzPort: await freePort(), upstreamPort: await freePort(), acmePort: await freePort() });
    for (const h of HOSTS) await waitFor(`${h} to be served`, async () => (await sniProbe(xdsConfig.envoyListen.port, h)).subject?.includes('CN = ') === true, 30_000, 200);
    await waitFor('Envoy to ACK everything', () => onA.xds.server.status().streams.some((s) => s.node === 'edge-1' && s.pendingResponses === 0), 20_000, 50);
    expect(await sent(onA.registry, 'listener')).toBeGreaterThan(0);

    // Replica A goes away; replica B takes over its address (a load balancer's view of it).
    await onA.xds.server.close();
    await waitFor('Envoy to notice', async () => ((await envoy?.stat('control_plane.connected_state')) ?? 1) === 0, 20_000, 100);
    const onB = await xdsOn(replicaB, port);
    await waitFor('Envoy to reconnect to B', () => onB.xds.server.status().streams.some((s) => s.node === 'edge-1'), 30_000, 100);
    await upload(replicaA, 'c.fleet.test', 'c.fleet.test renewed');
    await waitFor('the renewed certificate through B', async () => (await sniProbe(xdsConfig.envoyListen.port, 'c.fleet.test')).subject?.includes('CN = c.fleet.test renewed') === true, 30_000, 200);
    await waitFor('Envoy to ACK it', () => onB.xds.server.status().streams.some((s) => s.node === 'edge-1' && s.pendingResponses === 0), 20_000, 50);
    expect(await sent(onB.registry, 'listener')).toBe(0);
    expect(await sent(onB.registry, 'secret')).toBe(1);
    for (const h of ['a.fleet.test', 'b.fleet.test']) expect((await sniProbe(xdsConfig.envoyListen.port, h)).subject).toContain(`CN = ${h}`);
    expect(onB.xds.server.status().rejected).toEqual([]);
    expect(envoy.exited()).toBe(false);
  }, 120_000);
});

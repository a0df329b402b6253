// The xDS server's status through the admin API (GET /v1/xds/status) and its
// counts in the metrics: a delta ADS client stands in for Envoy, ACKs what it
// is sent and refuses one hostname's certificate, as Envoy would.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { TYPE_URLS } from '../../src/xds/protos.js';
import { createXdsServer, type XdsServer } from '../../src/xds/server.js';
import { startTestAdmin, type TestAdmin } from '../helpers/admin-server.js';
import { MemoryCatalog, hostnameFixtures } from '../helpers/memory-catalog.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { DeltaXdsClient, type DeltaResponseMessage } from '../helpers/xds-client.js';

let admin: TestAdmin;
let xds: XdsServer;
let client: DeltaXdsClient;
let serving = true;
const registry = new Registry();
const ENVOY_ERROR = 'Failed to load certificate chain from <inline>';

beforeAll(async () => {
  const fx = await hostnameFixtures();
  const catalog = new MemoryCatalog();
  const other = await fx.entry('other.acme.test', 'acme');
  catalog.seed([
    await fx.entry('pay.acme.test', 'acme'),
    await fx.entry('broken.acme.test', 'acme'),
    { ...(await fx.entry('mismatch.acme.test', 'acme')), privateKeyPem: other.privateKeyPem },
  ]);
  xds = createXdsServer({
    catalog,
    settings: { listen: { host: '127.0.0.1', port: await freePort() }, authzTimeoutMs: 2000, statusOnError: 'ServiceUnavailable' },
    logger: pino({ level: 'silent' }),
    registry,
  });
  const port = await xds.listen('127.0.0.1', 0);
  admin = await startTestAdmin({ xdsStatus: () => (serving ? xds.status() : undefined) });
  client = new DeltaXdsClient(port, 'edge-7');
  // Listeners by wildcard, then the two hostnames' secrets; every answer ACKed but broken's certificate.
  client.send({ type_url: TYPE_URLS.listener });
  client.ack(await client.next());
  const secrets = ['cert/pay.acme.test', 'client-ca/pay.acme.test', 'cert/broken.acme.test', 'client-ca/broken.acme.test'];
  client.send({ type_url: TYPE_URLS.secret, resource_names_subscribe: secrets });
  const got: DeltaResponseMessage[] = [];
  for (const _ of secrets) got.push(await client.next());
  for (const r of got) {
    if (r.resources?.[0]?.name === 'cert/broken.acme.test') client.nack(r, ENVOY_ERROR);
    else client.ack(r);
  }
  // The refusal takes broken's chain out of the listener: a new listener follows, and is ACKed.
  const listener = await client.next();
  expect(listener.type_url).toBe(TYPE_URLS.listener);
  client.ack(listener);
  await waitFor('the answers to be taken in', () => xds.status().streams[0]?.pendingResponses === 0, 10_000, 20);
}, 60_000);

afterAll(async () => {
  client?.close();
  await xds?.close();
  await admin?.close();
});

describe('GET /v1/xds/status', () => {
  it('needs hostnames:read', async () => {
    expect((await admin.call('GET', '/v1/xds/status', { token: null })).status).toBe(401);
    const denied = await admin.call('GET', '/v1/xds/status', { token: 'reader' });
    expect(denied.status).toBe(403);
    expect(denied.body.message).toContain('hostnames:read');
  });

  it('shows the connected Envoy, the versions, the refused certificate with its error, and the held-back hostname', async () => {
    const r = await admin.call('GET', '/v1/xds/status', { token: 'hostreader' });
    expect(r.status).toBe(200);
    const status = xds.status();
    expect(r.body).toEqual({
      // broken's chain left the listener when Envoy refused its certificate; mismatch never entered.
      hostnames_served: 1,
      public_listener_bytes: status.publicListenerBytes,
      system_versions: { listener: status.systemVersions.listener, secret: status.systemVersions.secret },
      streams: [{ node: 'edge-7', cluster: 'edge', connected_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), pending_responses: 0 }],
      rejected: [
        {
          type_url: TYPE_URLS.secret,
          name: 'cert/broken.acme.test',
          version: expect.any(String),
          error: ENVOY_ERROR,
          node: 'edge-7',
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      ],
      held_back: [{ hostname: 'mismatch.acme.test', reason: 'the private key does not match the certificate' }],
    });
    expect(status.systemVersions.listener).not.toBe('');
    expect(status.publicListenerBytes).toBeGreaterThan(0);
  });

  it('is described in the OpenAPI document with its scope', async () => {
    const doc = (await admin.call('GET', '/openapi.json', { token: null })).body as { paths: Record<string, Record<string, Record<string, unknown>>> };
    expect(doc.paths['/v1/xds/status']?.get?.['x-required-scope']).toBe('hostnames:read');
  });

  it('answers 409 ERR_XDS_NOT_CONFIGURED where no xDS server runs', async () => {
    serving = false;
    try {
      const r = await admin.call('GET', '/v1/xds/status', { token: 'hostreader' });
      expect(r.status).toBe(409);
      expect(r.body.error).toBe('ERR_XDS_NOT_CONFIGURED');
    } finally {
      serving = true;
    }
  });
});

describe('xDS metrics', () => {
  it('count the NACK, the refused resource and the held-back hostnames', async () => {
    const text = await registry.metrics();
    expect(text).toMatch(/^bouncer_xds_answers_total\{type="secret",result="nack"\} 1$/m);
    expect(text).toMatch(/^bouncer_xds_answers_total\{type="secret",result="ack"\} 3$/m);
    expect(text).toMatch(/^bouncer_xds_rejected_resources_total\{type="secret"\} 1$/m);
    // mismatch (bouncer's check) and broken (refused by Envoy).
    expect(text).toMatch(/^bouncer_xds_hostnames_held_back 2$/m);
    expect(text).toMatch(/^bouncer_xds_hostnames_served 1$/m);
    expect(text).toMatch(/^bouncer_xds_streams 1$/m);
  });
});

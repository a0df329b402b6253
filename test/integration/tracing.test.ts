/**
 * OpenTelemetry traces, as an operator turns them on: `bouncer serve` with
 * OTEL_EXPORTER_OTLP_ENDPOINT pointing at a real OTLP/HTTP receiver in the
 * test, which decodes the protobuf exports with the OTLP schema. Tenants in
 * PostgreSQL, state in Redis, an OIDC IdP of its own: a Check continues the
 * checked request's traceparent and carries the request id, tenant, decision
 * and reason, with the PostgreSQL lookup as its child; a login continues its
 * traceparent too, with the IdP and Redis calls as children.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { hashLoginBinding } from '../../src/core/login-binding.js';
import { buildEnvoyConfig } from '../../src/envoy/render.js';
import { createRootCa, issueClientCert, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { createPgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { envoyBinary } from '../helpers/envoy.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { CookieJar, startOidcIdp, type OidcIdp } from '../helpers/oidc-idp.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { startSamlIdp, type SamlIdp } from '../helpers/saml-idp.js';
import { tlsRequest } from '../helpers/tls-client.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'pay.acme.trace.test';
const AUTH_ORIGIN = 'https://auth.trace.test';

let dir: string;
let db: TestDatabase;
let redis: PrivateRedis;
let idp: OidcIdp;
let samlIdp: SamlIdp;
let receiver: OtlpReceiver;
let bouncer: BouncerProcess;
let client: ReturnType<typeof authzClient>;
let httpPort: number;
let authzPort: number;
let device: KeyPairPem;
let upstream: Upstream | undefined;
let envoy: ChildProcess | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-tracing-'));
  const clientSecret = randomBytes(16).toString('hex');
  [db, redis, receiver, idp, samlIdp] = await Promise.all([
    createTestDatabase(),
    startPrivateRedis(),
    startOtlpReceiver(),
    startOidcIdp({
      clients: [{ client_id: 'bouncer', client_secret: clientSecret, redirect_uris: [`${AUTH_ORIGIN}/callback/corp`] }],
      users: [{ username: 'alice', email: 'alice@trace.test', groups: ['staff'] }],
    }),
    startSamlIdp(),
  ]);
  writeFileSync(join(dir, 'saml-idp.xml'), samlIdp.metadataXml);
  const ca = await createRootCa({ commonName: 'acme trace root', keyAlgorithm: 'ec-p256', validDays: 30 });
  device = await issueClientCert({ issuer: ca, commonName: 'acme-device', keyAlgorithm: 'ec-p256', validDays: 2 });
  const writer = await createPgTenantStore({ connection: db.connection });
  await writer.putTenant({ name: 'acme', hostnames: [HOST], mtls: { mode: 'require', caPem: ca.certPem } });
  await writer.close();

  const c = db.connection;
  writeFileSync(join(dir, 'secret'), clientSecret);
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:1, http: 127.0.0.1:2 }
store:
  postgres: { url: "postgres://${c.user ?? 'postgres'}@${String(c.host)}:${String(c.port)}/${db.name}" }
  redis: { url: "${redis.url}", key_prefix: "trace:" }
auth:
  domain: auth.trace.test
  public_url: ${AUTH_ORIGIN}
  session: { duration: 1h, keys_dir: ./keys }
idps:
  - { id: corp, type: oidc, issuer: "${idp.issuer}", client_id: bouncer, client_secret_file: ./secret, scopes: [openid, email, profile, groups] }
  - { id: saml, type: saml, metadata_file: ./saml-idp.xml }
apps:
  - name: wiki
    hostnames: [wiki.trace.test]
    idps: [corp, saml]
    policies:
      - { name: staff, action: allow, include: [ { group: [staff] } ] }
`,
  );
  authzPort = await freePort();
  httpPort = await freePort();
  bouncer = await startBouncerProcess({
    configPath: join(dir, 'bouncer.yaml'),
    env: {
      BOUNCER_LISTEN_AUTHZ: `127.0.0.1:${authzPort}`,
      BOUNCER_LISTEN_HTTP: `127.0.0.1:${httpPort}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_SERVICE_NAME: 'bouncer-trace-test',
    },
    readyUrl: `http://127.0.0.1:${httpPort}/readyz`,
  });
  client = authzClient(authzPort);
}, 120_000);

afterAll(async () => {
  envoy?.kill('SIGTERM');
  await upstream?.close();
  client?.close();
  await bouncer?.stop();
  await Promise.all([receiver?.close(), idp?.close(), samlIdp?.close(), redis?.close(), db?.drop()]);
  rmSync(dir, { recursive: true, force: true });
});

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** The spans of one trace, once the one named `root` has arrived (children end, and are exported, before it). */
async function traceOf(traceId: string, root: (s: ReceivedSpan) => boolean): Promise<{ root: ReceivedSpan; spans: ReceivedSpan[] }> {
  const found = await waitFor(`the span of trace ${traceId}`, () => receiver.spans.find((s) => s.traceId === traceId && root(s)), 15_000);
  return { root: found, spans: receiver.spans.filter((s) => s.traceId === traceId) };
}

const CHECK = 'envoy.service.auth.v3.Authorization/Check';

test('a Check continues the checked request\'s traceparent; its PostgreSQL lookup is a child span; a cached lookup makes none', async () => {
  const traceId = hex(16);
  const parentId = hex(8);
  const denied = await client.check(checkRequest(HOST, '/pay', { traceparent: `00-${traceId}-${parentId}-01`, 'x-request-id': 'trace-check-1' }));
  expect(denied.status.code).not.toBe(0);

  const { root, spans } = await traceOf(traceId, (s) => s.name === CHECK);
  expect(root).toMatchObject({ parentSpanId: parentId, kind: 'SPAN_KIND_SERVER', status: 'STATUS_CODE_UNSET' });
  expect(root.attributes).toMatchObject({
    'rpc.system': 'grpc',
    'rpc.method': 'Check',
    'bouncer.request_id': 'trace-check-1',
    'http.request.header.x-request-id': ['trace-check-1'],
    'server.address': HOST,
    'bouncer.tenant': 'acme',
    'bouncer.decision': 'deny',
    'bouncer.reason': 'client_cert_missing',
    'http.response.status_code': 401,
  });
  expect(root.resource['service.name']).toBe('bouncer-trace-test');
  const lookup = spans.find((s) => s.name === 'postgresql resolveHost');
  expect(lookup).toMatchObject({ parentSpanId: root.spanId, kind: 'SPAN_KIND_CLIENT' });
  expect(lookup?.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.operation.name': 'resolveHost' });
  expect(lookup!.startNs).toBeGreaterThanOrEqual(root.startNs);
  expect(lookup!.endNs).toBeLessThanOrEqual(root.endNs);

  // The same host again, now with the device's certificate: allowed, answered from the store's cache.
  const again = hex(16);
  const base = checkRequest(HOST, '/pay', { traceparent: `00-${again}-${hex(8)}-01`, 'x-request-id': 'trace-check-2' });
  const withCert = { attributes: { ...base.attributes, source: { ...base.attributes?.source, certificate: encodeURIComponent(device.certPem) } } };
  expect((await client.check(withCert)).status.code).toBe(0);
  const second = await traceOf(again, (s) => s.name === CHECK);
  expect(second.root.attributes).toMatchObject({ 'bouncer.decision': 'allow', 'bouncer.reason': 'mtls_verified', 'bouncer.tenant': 'acme', 'http.response.status_code': 200 });
  expect(second.spans.map((s) => s.name)).toEqual([CHECK]);
});

test('a Check without a traceparent starts a trace of its own', async () => {
  const before = new Set(receiver.spans.map((s) => s.spanId));
  await client.check(checkRequest('unknown.trace.test', '/', { 'x-request-id': 'trace-check-root' }));
  const span = await waitFor('the root Check span', () => receiver.spans.find((s) => !before.has(s.spanId) && s.attributes['bouncer.request_id'] === 'trace-check-root'), 15_000);
  expect(span).toMatchObject({ name: CHECK, parentSpanId: '' });
  expect(span.attributes).toMatchObject({ 'bouncer.decision': 'deny', 'bouncer.reason': 'tenant_unknown' });
  expect(span.attributes['bouncer.tenant']).toBeUndefined();
});

test('a login continues its traceparent; the IdP calls and the Redis calls are its children', async () => {
  const jar = new CookieJar();
  const get = async (url: URL, traceparent: string): Promise<Response> => {
    const res = await fetch(new URL(url.pathname + url.search, `http://127.0.0.1:${httpPort}`), {
      headers: { traceparent, 'x-request-id': 'trace-login', ...(jar.header() ? { cookie: jar.header() } : {}) },
      redirect: 'manual',
    });
    jar.take(res);
    return res;
  };
  const startTrace = hex(16);
  const startParent = hex(8);
  const login = new URL(`${AUTH_ORIGIN}/login/corp`);
  login.search = new URLSearchParams({ app: 'wiki', rd: 'https://wiki.trace.test/', bind: hashLoginBinding('t'.repeat(43)) }).toString();
  const started = await get(login, `00-${startTrace}-${startParent}-01`);
  expect(started.status).toBe(302);
  const start = await traceOf(startTrace, (s) => s.kind === 'SPAN_KIND_SERVER');
  expect(start.root).toMatchObject({ name: 'GET /login/corp', parentSpanId: startParent });
  expect(start.root.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/login/corp', 'http.response.status_code': 302, 'http.request.header.x-request-id': ['trace-login'] });
  const children = start.spans.filter((s) => s.parentSpanId === start.root.spanId);
  expect(children.find((s) => s.name === 'idp start')?.attributes).toMatchObject({ 'bouncer.idp.operation': 'start' });
  // The login transaction (state, nonce, PKCE verifier) goes to Redis.
  expect(children.some((s) => s.attributes['db.system.name'] === 'redis')).toBe(true);

  const callback = await idp.signIn(started.headers.get('location')!, 'alice');
  const finishTrace = hex(16);
  const finished = await get(callback, `00-${finishTrace}-${hex(8)}-01`);
  expect({ status: finished.status, body: finished.status === 302 ? "" : await finished.text() }).toEqual({ status: 302, body: "" });
  const finish = await traceOf(finishTrace, (s) => s.kind === 'SPAN_KIND_SERVER');
  expect(finish.root).toMatchObject({ name: 'GET /callback/corp' });
  const idpFinish = finish.spans.find((s) => s.name === 'idp finish');
  expect(idpFinish).toMatchObject({ parentSpanId: finish.root.spanId, kind: 'SPAN_KIND_INTERNAL' });
  // The token request to the IdP, seen on fetch's diagnostics channel, made inside the login step.
  const token = finish.spans.find((s) => s.kind === 'SPAN_KIND_CLIENT' && s.attributes['url.full'] === `${idp.issuer}/token`);
  expect(token).toMatchObject({ name: `POST 127.0.0.1:${idp.port}`, parentSpanId: idpFinish?.spanId });
  expect(token?.attributes['http.response.status_code']).toBe(200);
  // No query strings (codes, states) leave in span attributes.
  for (const s of finish.spans) expect(JSON.stringify(s.attributes)).not.toContain('code=');
});

test('a SAML login: verifying the response is a child span of the callback, and so is the assertion replay check in Redis', async () => {
  const jar = new CookieJar();
  const send = async (path: string, traceparent: string, body?: URLSearchParams): Promise<Response> => {
    const res = await fetch(`http://127.0.0.1:${httpPort}${path}`, {
      method: body ? 'POST' : 'GET',
      headers: { traceparent, ...(jar.header() ? { cookie: jar.header() } : {}), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      ...(body ? { body: body.toString() } : {}),
      redirect: 'manual',
    });
    jar.take(res);
    return res;
  };
  const started = await send(`/login/saml?${new URLSearchParams({ app: 'wiki', rd: 'https://wiki.trace.test/', bind: hashLoginBinding('t'.repeat(43)) })}`, `00-${hex(16)}-${hex(8)}-01`);
  expect(started.status).toBe(302);
  const answer = await samlIdp.loginResponse({ redirectUrl: started.headers.get('location')!, user: { email: 'carol@trace.test', groups: ['staff'] } });
  const traceId = hex(16);
  const parentId = hex(8);
  const callback = await send('/callback/saml', `00-${traceId}-${parentId}-01`, new URLSearchParams({ SAMLResponse: answer.samlResponse, RelayState: answer.relayState }));
  expect({ status: callback.status, body: callback.status === 302 ? '' : await callback.text() }).toEqual({ status: 302, body: '' });
  const { root, spans } = await traceOf(traceId, (s) => s.kind === 'SPAN_KIND_SERVER');
  expect(root).toMatchObject({ name: 'POST /callback/saml', parentSpanId: parentId });
  const finish = spans.find((s) => s.name === 'idp finish');
  expect(finish).toMatchObject({ parentSpanId: root.spanId, status: 'STATUS_CODE_UNSET' });
  // The assertion ID is remembered in the shared store (every replica refuses a replay), not in this process.
  expect(spans.find((s) => s.name === 'redis samlAssertions.consume')).toMatchObject({ parentSpanId: finish?.spanId, kind: 'SPAN_KIND_CLIENT' });
});

test('through a real Envoy that traces: the Check span is the child of Envoy\'s ext_authz span, in the trace Envoy continues or starts', async () => {
  upstream = await startUpstream();
  const edge = await createRootCa({ commonName: 'trace edge CA', keyAlgorithm: 'ec-p256', validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'edge', dns: [HOST], keyAlgorithm: 'ec-p256', validDays: 2 });
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
  const [port, adminPort] = [await freePort(), await freePort()];
  const receiverPort = Number(new URL(receiver.endpoint).port);
  const config = buildEnvoyConfig({
    listenHost: '127.0.0.1',
    listenPort: port,
    adminHost: '127.0.0.1',
    adminPort,
    authzHost: '127.0.0.1',
    authzPort,
    upstreamHost: '127.0.0.1',
    upstreamPort: upstream.port,
    serverCertPath: join(dir, 'server.pem'),
    serverKeyPath: join(dir, 'server.key'),
    authzTimeoutMs: 5_000,
  }) as {
    static_resources: { listeners: Array<{ filter_chains: Array<{ filters: Array<{ name: string; typed_config: Record<string, unknown> }> }> }>; clusters: unknown[] };
    layered_runtime?: unknown;
  };
  // Envoy's own OpenTelemetry tracer, exporting to the same receiver.
  for (const chain of config.static_resources.listeners[0]?.filter_chains ?? []) {
    for (const f of chain.filters) {
      if (f.name !== 'envoy.filters.network.http_connection_manager') continue;
      f.typed_config.tracing = {
        provider: {
          name: 'envoy.tracers.opentelemetry',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
            http_service: { http_uri: { uri: `${receiver.endpoint}/v1/traces`, cluster: 'otlp_receiver', timeout: '2s' } },
            service_name: 'envoy-edge',
          },
        },
      };
    }
  }
  config.static_resources.clusters.push({
    name: 'otlp_receiver',
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: 'otlp_receiver', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: receiverPort } } } }] }] },
  });
  // Export each span at once rather than in batches of five every five seconds.
  config.layered_runtime = { layers: [{ name: 'static', static_layer: { 'tracing.opentelemetry.min_flush_spans': 1, 'tracing.opentelemetry.flush_interval_ms': 200 } }] };
  const configPath = join(dir, 'envoy-traced.yaml');
  writeFileSync(configPath, stringify(config));
  let output = '';
  envoy = spawn(await envoyBinary(), ['-c', configPath, '--base-id', String(port), '--log-level', 'warn', '--concurrency', '1', '--disable-hot-restart'], { stdio: ['ignore', 'pipe', 'pipe'] });
  envoy.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  envoy.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor('the traced Envoy', async () => {
    if (envoy?.exitCode !== null) throw new Error(`envoy exited:\n${output}`);
    return (await (await fetch(`http://127.0.0.1:${adminPort}/ready`)).text()).trim() === 'LIVE';
  }, 20_000);

  const through = (headers: Record<string, string>) =>
    tlsRequest({ port, ca: edge.certPem, servername: HOST, path: '/traced', headers, cert: device.certPem, key: device.keyPem });

  // The client names a trace: Envoy continues it, and bouncer's Check span sits under Envoy's ext_authz span.
  const traceId = hex(16);
  const clientSpan = hex(8);
  expect((await through({ traceparent: `00-${traceId}-${clientSpan}-01`, 'x-request-id': 'trace-envoy-1' })).status).toBe(200);
  const continued = await traceOf(traceId, (s) => s.name === CHECK);
  await waitFor('Envoy\'s spans of the trace', () => receiver.spans.filter((s) => s.traceId === traceId && s.resource['service.name'] === 'envoy-edge').length >= 2, 15_000);
  const envoyAll = receiver.spans.filter((s) => s.traceId === traceId && s.resource['service.name'] === 'envoy-edge');
  const parentOfCheck = envoyAll.find((s) => s.spanId === continued.root.parentSpanId);
  expect(parentOfCheck).toBeDefined();
  expect(parentOfCheck?.kind).toBe('SPAN_KIND_CLIENT');
  // Envoy's ext_authz span is itself inside Envoy's span for the request, which continues the client's.
  const ingress = envoyAll.find((s) => s.spanId === parentOfCheck?.parentSpanId);
  expect(ingress?.parentSpanId).toBe(clientSpan);
  expect(continued.root.attributes).toMatchObject({ 'bouncer.decision': 'allow', 'bouncer.reason': 'mtls_verified', 'bouncer.tenant': 'acme' });
  // The edge Envoy replaces a client's x-request-id with its own; the span carries the one bouncer decided under.
  const requestId = continued.root.attributes['bouncer.request_id'];
  expect(typeof requestId).toBe('string');
  expect(continued.root.attributes['http.request.header.x-request-id']).toEqual([requestId]);

  // No traceparent from the client: Envoy starts the trace, and bouncer joins it.
  const before = new Set(receiver.spans.map((s) => s.spanId));
  expect((await through({})).status).toBe(200);
  const check = await waitFor('the Check span of the second request', () => receiver.spans.find((s) => !before.has(s.spanId) && s.name === CHECK), 15_000);
  expect(check.traceId).not.toBe(traceId);
  await waitFor('Envoy\'s span that parents it', () => receiver.spans.find((s) => s.spanId === check.parentSpanId && s.traceId === check.traceId && s.resource['service.name'] === 'envoy-edge'), 15_000);
});

test('every export was a protobuf OTLP request to /v1/traces', () => {
  expect(receiver.rejected).toEqual([]);
});

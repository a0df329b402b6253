/**
 * Captures the CheckRequests a real Envoy sends, as the bytes of the gRPC
 * message, for the codec tests (test/fixtures/check-requests/README.md).
 *
 *   npm run build && node dist/scripts/capture-check-requests.js [out-dir]
 *
 * Envoy runs with bouncer's own rendered bootstrap (`bouncer envoy render`),
 * its ext_authz cluster pointed at a raw HTTP/2 server here that records each
 * Check message, answers it OK (an empty CheckResponse) and answers Envoy's
 * gRPC health checks SERVING. A few requests of different shapes go through
 * Envoy; each lands in `<name>.bin` beside a `manifest.json` that says what was
 * sent. Envoy comes from ENVOY_BIN, or the pinned one the project installs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ensureEnvoy, ENVOY_VERSION } from '../src/envoy/locate.js';
import { buildEnvoyConfig } from '../src/envoy/render.js';
import { createRootCa, issueClientCert, issueServerCert, type KeyPairPem } from '../src/pki/generate.js';
import { freePort } from '../test/helpers/ports.js';

/** One Envoy configuration: what the ext_authz filter is told beyond bouncer's rendered defaults. */
interface Variant {
  readonly name: string;
  readonly extAuthz: Readonly<Record<string, unknown>>;
}

/** One request through Envoy, and the fixture it produces. */
interface Shape {
  readonly fixture: string;
  readonly variant: Variant['name'];
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  readonly clientCert: boolean;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  /** Sent as-is; a repeated name is sent once per value. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
}

const VARIANTS: readonly Variant[] = [
  { name: 'rendered', extAuthz: {} },
  { name: 'with-body', extAuthz: { with_request_body: { max_request_bytes: 4096, allow_partial_message: true } } },
  { name: 'raw-headers', extAuthz: { encode_raw_headers: true } },
];

const HOST = 'pay.acme.test';
const COMMON: ReadonlyArray<readonly [string, string]> = [
  ['accept', 'application/json'],
  ['cookie', 'a=1'],
  ['cookie', 'b=2'],
  ['x-dup', 'one'],
  ['x-dup', 'two'],
  ['x-request-id', 'capture-0001'],
];

const SHAPES: readonly Shape[] = [
  { fixture: 'mtls-h2', variant: 'rendered', protocol: 'HTTP/2', clientCert: true, method: 'GET', path: '/orders?id=1', headers: COMMON },
  { fixture: 'mtls-http1', variant: 'rendered', protocol: 'HTTP/1.1', clientCert: true, method: 'GET', path: '/orders?id=1', headers: COMMON },
  { fixture: 'no-cert-h2', variant: 'rendered', protocol: 'HTTP/2', clientCert: false, method: 'GET', path: '/public/page', headers: COMMON },
  { fixture: 'no-cert-http1', variant: 'rendered', protocol: 'HTTP/1.1', clientCert: false, method: 'GET', path: '/public/page', headers: COMMON },
  {
    fixture: 'with-body-http1',
    variant: 'with-body',
    protocol: 'HTTP/1.1',
    clientCert: true,
    method: 'POST',
    path: '/forms/submit',
    headers: [...COMMON, ['content-type', 'application/x-www-form-urlencoded']],
    body: 'name=capture&value=1',
  },
  { fixture: 'raw-headers-h2', variant: 'raw-headers', protocol: 'HTTP/2', clientCert: true, method: 'GET', path: '/orders?id=1', headers: COMMON },
  { fixture: 'raw-headers-http1', variant: 'raw-headers', protocol: 'HTTP/1.1', clientCert: true, method: 'GET', path: '/orders?id=1', headers: COMMON },
];

/** Answers one unary gRPC call with `message` and status OK. */
function answer(stream: ServerHttp2Stream, message: Buffer): void {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.concat([prefix, message]));
}

/** The ext_authz server Envoy talks to: records every Check message, in order. */
function startRecorder(port: number): Promise<{ next(): Promise<Buffer>; close(): Promise<void> }> {
  const arrived: Buffer[] = [];
  const waiting: Array<(b: Buffer) => void> = [];
  const server = http2.createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      const message = body.length >= 5 ? body.subarray(5, 5 + body.readUInt32BE(1)) : Buffer.alloc(0);
      if (headers[':path'] === '/grpc.health.v1.Health/Check') return answer(stream, Buffer.from([0x08, 0x01]));
      if (headers[':path'] !== '/envoy.service.auth.v3.Authorization/Check') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      const copy = Buffer.from(message);
      const waiter = waiting.shift();
      if (waiter) waiter(copy);
      else arrived.push(copy);
      answer(stream, Buffer.alloc(0));
    });
  });
  return new Promise((done) => {
    server.listen(port, '127.0.0.1', () =>
      done({
        next: () => {
          const first = arrived.shift();
          return first ? Promise.resolve(first) : new Promise((r) => waiting.push(r));
        },
        close: () => new Promise((r) => server.close(() => r())),
      }),
    );
  });
}

function startUpstream(port: number): Promise<Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok\n'));
  });
  return new Promise((done) => server.listen(port, '127.0.0.1', () => done(server)));
}

/** Starts Envoy and resolves once its admin says LIVE (polled: Envoy has no readiness event to wait on). */
async function startEnvoy(bin: string, configPath: string, adminPort: number, basePort: number): Promise<ChildProcess> {
  let output = '';
  const child = spawn(bin, ['-c', configPath, '--base-id', String(basePort), '--log-level', 'warn', '--concurrency', '1', '--disable-hot-restart'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`envoy exited:\n${output}`);
    const live = await fetch(`http://127.0.0.1:${adminPort}/ready`).then(
      (r) => r.text(),
      () => '',
    );
    if (live.trim() === 'LIVE') return child;
    if (Date.now() > deadline) throw new Error(`envoy did not become ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function stopEnvoy(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null) return done();
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

/** Sends one request of `shape` to Envoy on `port`; resolves to the status Envoy answered. */
function send(shape: Shape, port: number, ca: string, device: KeyPairPem): Promise<number> {
  const tls = { ca, servername: HOST, ...(shape.clientCert ? { key: device.keyPem, cert: device.certPem } : {}) };
  if (shape.protocol === 'HTTP/2') {
    return new Promise((done, fail) => {
      const session = http2.connect(`https://127.0.0.1:${port}`, tls);
      session.on('error', fail);
      // node:http2 sends a repeated header as one field per value when given an array.
      const headers: Record<string, string | string[]> = { ':method': shape.method, ':path': shape.path, ':authority': HOST };
      for (const [k, v] of shape.headers) {
        const had = headers[k];
        headers[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
      }
      const req = session.request(headers, { endStream: shape.body === undefined });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.resume();
      req.on('end', () => session.close(() => done(status)));
      req.on('error', fail);
      if (shape.body !== undefined) req.end(shape.body);
    });
  }
  return new Promise((done, fail) => {
    const rawHeaders: string[] = ['host', HOST];
    for (const [k, v] of shape.headers) rawHeaders.push(k, v);
    if (shape.body !== undefined) rawHeaders.push('content-length', String(Buffer.byteLength(shape.body)));
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const k = rawHeaders[i] as string;
      const v = rawHeaders[i + 1] as string;
      const had = headers[k];
      headers[k] = had === undefined ? v : [...(Array.isArray(had) ? had : [had]), v];
    }
    const req = https.request({ host: '127.0.0.1', port, method: shape.method, path: shape.path, headers, agent: false, ...tls }, (res) => {
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
    });
    req.on('error', fail);
    req.end(shape.body);
  });
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? join('test', 'fixtures', 'check-requests'));
  const bin = await ensureEnvoy();
  const work = mkdtempSync(join(tmpdir(), 'bouncer-capture-'));
  try {
    const root = await createRootCa({ commonName: 'Capture Root CA' });
    const server = await issueServerCert({ issuer: root, commonName: HOST, dns: [HOST] });
    const device = await issueClientCert({ issuer: root, commonName: 'capture-device', dns: ['device.acme.test'] });
    writeFileSync(join(work, 'server.pem'), server.certPem);
    writeFileSync(join(work, 'server-key.pem'), server.keyPem);
    const [authzPort, upstreamPort] = [await freePort(), await freePort()];
    const recorder = await startRecorder(authzPort);
    const upstream = await startUpstream(upstreamPort);
    mkdirSync(out, { recursive: true });
    const manifest: Array<Record<string, unknown>> = [];
    for (const variant of VARIANTS) {
      const [listenPort, adminPort] = [await freePort(), await freePort()];
      const config = buildEnvoyConfig({
        listenHost: '127.0.0.1',
        listenPort,
        adminHost: '127.0.0.1',
        adminPort,
        authzHost: '127.0.0.1',
        authzPort,
        upstreamHost: '127.0.0.1',
        upstreamPort,
        serverCertPath: join(work, 'server.pem'),
        serverKeyPath: join(work, 'server-key.pem'),
        authzTimeoutMs: 5_000,
      });
      const filter = findExtAuthz(config);
      Object.assign(filter, variant.extAuthz);
      const configPath = join(work, `envoy-${variant.name}.yaml`);
      writeFileSync(configPath, stringify(config, { lineWidth: 0 }));
      const envoy = await startEnvoy(bin, configPath, adminPort, listenPort);
      try {
        for (const shape of SHAPES.filter((s) => s.variant === variant.name)) {
          const captured = recorder.next();
          const status = await send(shape, listenPort, root.certPem, device);
          if (status !== 200) throw new Error(`${shape.fixture}: Envoy answered ${status}`);
          const message = await captured;
          writeFileSync(join(out, `${shape.fixture}.bin`), message);
          manifest.push({ ...shape, envoy: variant.extAuthz, bytes: message.length });
          console.log(`${shape.fixture}.bin: ${message.length} bytes`);
        }
      } finally {
        await stopEnvoy(envoy);
      }
    }
    writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ envoyVersion: ENVOY_VERSION, host: HOST, deviceCommonName: 'capture-device', fixtures: manifest }, null, 2)}\n`);
    await recorder.close();
    await new Promise((r) => upstream.close(r));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The ext_authz filter's typed_config in a rendered bootstrap. */
function findExtAuthz(config: Record<string, unknown>): Record<string, unknown> {
  const walk = (node: unknown): Record<string, unknown> | undefined => {
    if (Array.isArray(node)) {
      for (const n of node) {
        const hit = walk(n);
        if (hit) return hit;
      }
      return undefined;
    }
    if (node === null || typeof node !== 'object') return undefined;
    const obj = node as Record<string, unknown>;
    if (obj['name'] === 'envoy.filters.http.ext_authz') return obj['typed_config'] as Record<string, unknown>;
    for (const v of Object.values(obj)) {
      const hit = walk(v);
      if (hit) return hit;
    }
    return undefined;
  };
  const filter = walk(config);
  if (!filter) throw new Error('the rendered bootstrap has no ext_authz filter');
  return filter;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

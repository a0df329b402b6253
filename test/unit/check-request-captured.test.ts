/**
 * The Check decoder on CheckRequests a real Envoy sent, captured by
 * scripts/capture-check-requests.ts (test/fixtures/check-requests/README.md):
 * mTLS with and without a client certificate, HTTP/1.1 and HTTP/2 downstream,
 * a request body, and Envoy's `encode_raw_headers: true`, which moves the
 * headers into `header_map`. Each is decoded into the CheckInput the decision
 * takes, and cross-checked field by field against protobufjs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import * as grpc from '@grpc/grpc-js';
import { decodeCheckRequest, toCheckInput, type CheckRequestMessage } from '../../src/authz/check-request.js';
import { createAuthzServer } from '../../src/authz/server.js';
import { AUTHZ_TRANSPORTS } from '../../src/config/defaults.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import type { CheckInput } from '../../src/core/decision.js';
import { parseCertificateBundle } from '../../src/core/cert-parse.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { readFields, referenceCheck } from '../helpers/check-codec.js';

const dir = fileURLToPath(new URL('../fixtures/check-requests/', import.meta.url));

interface CapturedShape {
  readonly fixture: string;
  readonly variant: string;
  readonly protocol: 'HTTP/1.1' | 'HTTP/2';
  readonly clientCert: boolean;
  readonly method: string;
  readonly path: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: string;
  readonly bytes: number;
}
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { host: string; deviceCommonName: string; fixtures: CapturedShape[] };
const bytesOf = (fixture: string): Buffer => readFileSync(join(dir, `${fixture}.bin`));

/** protobufjs's reading of the same bytes, with the full message (fields bouncer skips included). */
type FullHttp = { protocol?: string; body?: string; headers?: Record<string, string>; header_map?: { headers: Array<{ key: string; raw_value?: Buffer }> } };
const reference = (bytes: Buffer): { attributes: { request: { http: FullHttp } } } & CheckRequestMessage =>
  referenceCheck.requestDeserialize(bytes) as { attributes: { request: { http: FullHttp } } } & CheckRequestMessage;

test('the manifest names every captured shape, and each file is what it says', () => {
  expect(manifest.fixtures.map((f) => f.fixture).sort()).toEqual(['mtls-h2', 'mtls-http1', 'no-cert-h2', 'no-cert-http1', 'raw-headers-h2', 'raw-headers-http1', 'with-body-http1']);
  for (const f of manifest.fixtures) expect(bytesOf(f.fixture).length).toBe(f.bytes);
});

describe.each(manifest.fixtures.map((f) => [f.fixture, f] as const))('%s', (_name, shape) => {
  const bytes = bytesOf(shape.fixture);
  const decoded = decodeCheckRequest(bytes);
  const { input, headers, cookie } = toCheckInput(decoded);

  test('decodes into the request that was sent', () => {
    expect(input.authority).toBe(manifest.host);
    expect(input.sni).toBe(manifest.host);
    expect(input.method).toBe(shape.method);
    expect(input.path).toBe(shape.path);
    expect(input.sourceAddress).toBe('127.0.0.1');
    expect(input.accept).toBe('application/json');
    // Envoy replaces an outside request id with its own UUID, which is safe to pass on.
    expect(input.requestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(input.requestId).toBe(headers['x-request-id']);
    // Two cookie fields become one, as a browser sends them; another repeated name is joined by a comma.
    expect(cookie).toBe('a=1; b=2');
    expect(headers['x-dup']).toBe('one,two');
    expect(headers[':scheme']).toBe('https');
    if (shape.body !== undefined) {
      expect(headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(headers['content-length']).toBe(String(shape.body.length));
    }
  });

  test(shape.clientCert ? 'carries the device certificate, in the TLS peer and in the XFCC Envoy set' : 'carries no certificate and no XFCC', () => {
    if (!shape.clientCert) {
      expect(input.peerCertificateEncoded).toBeUndefined();
      expect(input.xfcc).toBeUndefined();
      return;
    }
    const pem = decodeURIComponent(input.peerCertificateEncoded ?? '');
    const [device] = parseCertificateBundle(pem);
    expect(device?.subject).toBe(`CN=${manifest.deviceCommonName}`);
    expect(input.xfcc).toContain(`Subject="CN=${manifest.deviceCommonName}"`);
    expect(input.xfcc).toContain(`Cert="${input.peerCertificateEncoded}"`);
  });

  test('agrees with protobufjs on every field bouncer reads', () => {
    const ref = reference(bytes);
    const http = ref.attributes.request.http;
    expect(http.protocol).toBe(shape.protocol);
    if (shape.variant === 'raw-headers') {
      // protobufjs leaves header_map as it is; bouncer folds it into headers.
      expect(http.headers).toBeUndefined();
      const entries = http.header_map?.headers ?? [];
      expect(entries.filter((e) => e.key === 'x-dup').map((e) => Buffer.from(e.raw_value ?? []).toString())).toEqual(['one', 'two']);
      const { headers: _ignored, ...rest } = readFields(ref) as { headers: unknown };
      const { headers: ours, ...oursRest } = readFields(decoded) as { headers: Array<[string, string]> };
      expect(oursRest).toEqual(rest);
      expect(ours.length).toBe(new Set(entries.map((e) => e.key)).size);
    } else {
      expect(readFields(decoded)).toEqual(readFields(ref));
    }
    if (shape.body !== undefined) expect(http.body).toBe(shape.body);
  });
});

test('header_map decodes into the same headers as the map Envoy sends without encode_raw_headers', () => {
  for (const [raw, mapped] of [
    ['raw-headers-h2', 'mtls-h2'],
    ['raw-headers-http1', 'mtls-http1'],
  ] as const) {
    const a = toCheckInput(decodeCheckRequest(bytesOf(raw)));
    const b = toCheckInput(decodeCheckRequest(bytesOf(mapped)));
    // Request ids are Envoy's own per request; everything else was sent alike.
    const { 'x-request-id': _a, ...ra } = a.headers;
    const { 'x-request-id': _b, ...rb } = b.headers;
    expect(ra).toEqual(rb);
    expect({ ...a.input, requestId: '' }).toEqual({ ...b.input, requestId: '' });
  }
});

/** `http` with a `headers` map entry added to a request that carries `header_map`: a oneof Envoy never sends twice. */
function withBothHeaderKinds(): Buffer {
  const ref = reference(bytesOf('raw-headers-h2'));
  ref.attributes.request.http.headers = { ':authority': 'other.test' };
  return referenceCheck.requestSerialize(ref);
}

test('a request with both headers and header_map is refused, never half-read', () => {
  expect(() => decodeCheckRequest(withBothHeaderKinds())).toThrow('the request carries both headers and header_map; Envoy sends one or the other');
});

describe.each(AUTHZ_TRANSPORTS)('on the %s transport', (transport) => {
  test('a captured header_map request is decided on its headers, and both kinds at once are refused INTERNAL', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const seen: CheckInput[] = [];
    const server = createAuthzServer({
      onDecision: (input) => seen.push(input),
      getState: () => ({
        tenants: buildTenantIndex([{ name: 'acme', hostnames: [manifest.host], mtls: { mode: 'off', trust: null, exemptPaths: [] } }]),
        verifier: createCertVerifier({ maxEntries: 10, ttlMs: 60_000 }),
        xfcc: { trustedHop: false, maxElements: 1 },
      }),
      logger: pino({ level: 'silent' }),
      metrics,
      transport,
    });
    const port = await server.listen('127.0.0.1', 0);
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = (body: Buffer): Promise<{ err: grpc.ServiceError | null; res: Buffer | undefined }> =>
      new Promise((resolve) => {
        client.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (b: Buffer) => b, (b: Buffer) => b, body, (err, res) => resolve({ err, res }));
      });
    try {
      const ok = await call(bytesOf('raw-headers-h2'));
      expect(ok.err).toBeNull();
      expect((referenceCheck.responseDeserialize(ok.res as Buffer) as { status?: { code?: number } }).status?.code ?? 0).toBe(0);
      expect(await metrics.registry.metrics()).toContain('bouncer_checks_total{outcome="allow",reason="mtls_off"} 1');
      // The decision saw the headers header_map carried, not an empty set.
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ accept: 'application/json', xfcc: expect.stringContaining(`Subject="CN=${manifest.deviceCommonName}"`) });
      const both = await call(withBothHeaderKinds());
      expect(both.err).toMatchObject({ code: grpc.status.INTERNAL, details: 'the CheckRequest could not be decoded: the request carries both headers and header_map; Envoy sends one or the other' });
    } finally {
      client.close();
      await server.close(0);
    }
  });
});

/**
 * The Check handler's control flow: answered at once when nothing needs
 * waiting for, after a store lookup when one does, and failing closed (gRPC
 * INTERNAL, counted as an error) when deciding throws or a lookup rejects.
 * Every test runs on both transports (`authz.transport`), which serve the
 * same handler.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { createAuthzServer, type AuthzServer, type AuthzState } from '../../src/authz/server.js';
import type { StoreTenants } from '../../src/authz/tenant-lookup.js';
import { AUTHZ_TRANSPORTS } from '../../src/config/defaults.js';
import type { AuthzTransport } from '../../src/config/types.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import type { Tenant } from '../../src/core/tenant.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { TenantLookup } from '../../src/stores/tenant-store.js';
import { loadAuthzPackageDefinition } from '../../src/authz/proto.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';

const open: Tenant = { name: 'open', hostnames: ['open.test'], mtls: { mode: 'off', trust: null, exemptPaths: [] } };
const base: AuthzState = {
  tenants: buildTenantIndex([open]),
  verifier: createCertVerifier({ maxEntries: 10, ttlMs: 60_000 }),
  xfcc: { trustedHop: false, maxElements: 1 },
};

async function serveOn(transport: AuthzTransport, getState: () => AuthzState): Promise<{ server: AuthzServer; client: ReturnType<typeof authzClient>; port: number; metrics: ReturnType<typeof createMetrics> }> {
  const metrics = createMetrics({ defaultMetrics: false });
  const server = createAuthzServer({ getState, logger: pino({ level: 'silent' }), metrics, transport });
  const port = await server.listen('127.0.0.1', 0);
  return { server, client: authzClient(port), port, metrics };
}

const stores: Array<{ server: AuthzServer; client: ReturnType<typeof authzClient> }> = [];
afterEach(async () => {
  for (const s of stores.splice(0)) {
    s.client.close();
    await s.server.close(0);
  }
});

function storeOf(answer: (host: string) => Promise<TenantLookup>, peek: (host: string) => TenantLookup | undefined = () => undefined): StoreTenants {
  return { store: { peekHost: peek, resolveHost: answer }, timeoutMs: 1000 };
}

describe.each(AUTHZ_TRANSPORTS)('on the %s transport', (transport) => {
  const serve = (getState: () => AuthzState): ReturnType<typeof serveOn> => serveOn(transport, getState);

  test('a request needing no lookup is decided and answered', async () => {
    const s = await serve(() => base);
    stores.push(s);
    const res = await s.client.check(checkRequest('open.test'));
    expect(res.status.code).toBe(0);
    expect(await s.metrics.registry.metrics()).toContain('bouncer_checks_total{outcome="allow",reason="mtls_off"} 1');
  });

  test('tenants from a store: a cached host and a queried one are both decided', async () => {
    const s = await serve(() => ({
      ...base,
      tenantStore: storeOf(
        async (h) => (h === 'open.test' ? { kind: 'tenant', tenant: open } : { kind: 'unknown' }),
        (h) => (h === 'warm.test' ? { kind: 'tenant', tenant: { ...open, hostnames: ['warm.test'] } } : undefined),
      ),
    }));
    stores.push(s);
    expect((await s.client.check(checkRequest('open.test'))).status.code).toBe(0);
    expect((await s.client.check(checkRequest('warm.test'))).status.code).toBe(0);
    expect((await s.client.check(checkRequest('other.test'))).status.code).toBe(7);
  });

  test('deciding throws: the call fails closed with INTERNAL and is counted as an error', async () => {
    const s = await serve(() => {
      throw new Error('state is broken');
    });
    stores.push(s);
    await expect(s.client.check(checkRequest('open.test'))).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'internal_error' });
    expect(await s.metrics.registry.metrics()).toContain('bouncer_checks_total{outcome="error",reason="internal_error"} 1');
  });

  test('a store lookup that rejects fails closed with INTERNAL, and the server goes on', async () => {
    const s = await serve(() => ({ ...base, tenantStore: storeOf(() => Promise.reject(new Error('socket closed'))) }));
    stores.push(s);
    await expect(s.client.check(checkRequest('open.test'))).rejects.toMatchObject({ code: grpc.status.INTERNAL, details: 'internal_error' });
    await expect(s.client.check(checkRequest('open.test'))).rejects.toMatchObject({ code: grpc.status.INTERNAL });
    expect(await s.metrics.registry.metrics()).toContain('bouncer_checks_total{outcome="error",reason="internal_error"} 2');
  });

  test('health Check answers SERVING, then NOT_SERVING once told to stop serving', async () => {
    const s = await serve(() => base);
    stores.push(s);
    const health = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const ask = (): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        health.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (err, res) => (err ? reject(err) : resolve(res as Buffer)));
      });
    // HealthCheckResponse{status: SERVING (1)}
    expect(await ask()).toEqual(Buffer.from([0x08, 0x01]));
    s.server.setServing(false);
    expect(await ask()).toEqual(Buffer.from([0x08, 0x02]));
    health.close();
  });

  test('a bad CheckRequest is refused with INTERNAL and says why', async () => {
    const s = await serve(() => base);
    stores.push(s);
    const raw = new grpc.Client(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => {
      // Field 1 (attributes), length 5, but one byte follows.
      raw.makeUnaryRequest('/envoy.service.auth.v3.Authorization/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x05, 0x00]), (e) => resolve(e));
    });
    raw.close();
    expect(err).toMatchObject({ code: grpc.status.INTERNAL, details: 'the CheckRequest could not be decoded: length-delimited field runs past its message' });
  });

  test('a lookup still waiting when the deadline passes is answered DEADLINE_EXCEEDED', async () => {
    const s = await serve(() => ({ ...base, tenantStore: { ...storeOf(() => new Promise<TenantLookup>(() => undefined)), timeoutMs: 60_000 } }));
    stores.push(s);
    const raw = grpc.loadPackageDefinition(loadAuthzPackageDefinition()) as unknown as { envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => grpc.Client & { Check: (req: unknown, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void } } } } } };
    const client = new raw.envoy.service.auth.v3.Authorization(`127.0.0.1:${s.port}`, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) => client.Check(checkRequest('open.test'), { deadline: Date.now() + 200 }, resolve));
    client.close();
    expect(err?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });
});

/**
 * The Check handler's control flow: answered at once when nothing needs
 * waiting for, after a store lookup when one does, and failing closed (gRPC
 * INTERNAL, counted as an error) when deciding throws or a lookup rejects.
 */
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { createAuthzServer, type AuthzServer, type AuthzState } from '../../src/authz/server.js';
import type { StoreTenants } from '../../src/authz/tenant-lookup.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import type { Tenant } from '../../src/core/tenant.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import type { TenantLookup } from '../../src/stores/tenant-store.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';

const open: Tenant = { name: 'open', hostnames: ['open.test'], mtls: { mode: 'off', trust: null, exemptPaths: [] } };
const base: AuthzState = {
  tenants: buildTenantIndex([open]),
  verifier: createCertVerifier({ maxEntries: 10, ttlMs: 60_000 }),
  xfcc: { trustedHop: false, maxElements: 1 },
};

async function serve(getState: () => AuthzState): Promise<{ server: AuthzServer; client: ReturnType<typeof authzClient>; metrics: ReturnType<typeof createMetrics> }> {
  const metrics = createMetrics({ defaultMetrics: false });
  const server = createAuthzServer({ getState, logger: pino({ level: 'silent' }), metrics });
  const port = await server.listen('127.0.0.1', 0);
  return { server, client: authzClient(port), metrics };
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

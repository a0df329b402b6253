import { lookupTenants } from '../../src/authz/tenant-lookup.js';
import type { CheckInput } from '../../src/core/decision.js';
import type { Tenant } from '../../src/core/tenant.js';
import type { TenantLookup } from '../../src/stores/tenant-store.js';

const tenant = (name: string): Tenant => ({ name, hostnames: [`${name}.test`], mtls: { mode: 'off', trust: null, exemptPaths: [] } });
const input = (authority: string, sni?: string): CheckInput => ({
  requestId: 'r',
  authority,
  sni,
  method: 'GET',
  path: '/',
  peerCertificate: undefined,
  xfcc: undefined,
  sourceAddress: undefined,
});

function fakeStore(cached: Record<string, TenantLookup>, slow: Record<string, Promise<TenantLookup>> = {}) {
  const asked: string[] = [];
  return {
    asked,
    store: {
      peekHost: (h: string) => cached[h],
      resolveHost: (h: string) => {
        asked.push(h);
        return slow[h] ?? Promise.resolve<TenantLookup>({ kind: 'unknown' });
      },
    },
  };
}

test('warm hosts answer from memory: no query, both Host and SNI in the index', async () => {
  const f = fakeStore({ 'a.test': { kind: 'tenant', tenant: tenant('a') }, 'b.test': { kind: 'tenant', tenant: tenant('b') } });
  const out = await lookupTenants(input('a.test:443', 'b.test'), { store: f.store, timeoutMs: 50 });
  expect(f.asked).toEqual([]);
  expect(out.kind).toBe('index');
  if (out.kind === 'index') expect([...out.tenants.exact.keys()].sort()).toEqual(['a.test', 'b.test']);
});

test('a cold host is queried; an unknown one is simply absent from the index', async () => {
  const f = fakeStore({ 'a.test': { kind: 'tenant', tenant: tenant('a') } });
  const out = await lookupTenants(input('a.test', 'new.test'), { store: f.store, timeoutMs: 50 });
  expect(f.asked).toEqual(['new.test']);
  expect(out.kind === 'index' && [...out.tenants.exact.keys()]).toEqual(['a.test']);
});

test('a store that cannot answer, or answers too late, denies with 503 tenant_store_unavailable', async () => {
  const down = fakeStore({}, { 'x.test': Promise.resolve({ kind: 'store_unavailable', detail: 'database down' }) });
  const out = await lookupTenants(input('x.test'), { store: down.store, timeoutMs: 50 });
  expect(out.kind === 'deny' && out.decision).toMatchObject({ allow: false, reason: 'tenant_store_unavailable', status: 503 });
  const hung = fakeStore({}, { 'y.test': new Promise<TenantLookup>(() => undefined) });
  const late = await lookupTenants(input('y.test'), { store: hung.store, timeoutMs: 20 });
  expect(late.kind === 'deny' && !late.decision.allow && late.decision.detail).toMatch(/did not answer within 20 ms/);
});

test('when every host is cached the answer is not a promise (the warm check waits for nothing)', () => {
  const f = fakeStore({ 'a.test': { kind: 'tenant', tenant: tenant('a') } });
  const out = lookupTenants(input('a.test', 'a.test'), { store: f.store, timeoutMs: 50 });
  expect(out).not.toBeInstanceOf(Promise);
  expect(!(out instanceof Promise) && out.kind === 'index' && [...out.tenants.exact.keys()]).toEqual(['a.test']);
});

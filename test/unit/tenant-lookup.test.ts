import { FileHostAnswers, lookupTenants, warmFileHosts } from '../../src/authz/tenant-lookup.js';
import { buildHostIndex } from '../../src/core/tenant-index.js';
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

describe('hosts the config file serves, when the store cannot answer', () => {
  const view = { apps: buildHostIndex([{ hostnames: ['wiki.test', '*.team.test'] }]), auth: { domain: 'auth.test' } };
  const down = (): ReturnType<typeof fakeStore> & { up: boolean } => {
    const f = { ...fakeStore({}), up: true };
    f.store.resolveHost = (h: string) => {
      f.asked.push(h);
      return Promise.resolve<TenantLookup>(f.up ? (h === 'wiki.test' ? { kind: 'tenant', tenant: tenant('wiki-mtls') } : { kind: 'unknown' }) : { kind: 'store_unavailable', detail: 'database down' });
    };
    return f;
  };
  const names = (out: Awaited<ReturnType<typeof lookupTenants>>): string[] | string =>
    out.kind === 'deny' ? out.decision.reason : [...out.tenants.exact.values()].map((t) => t.name);

  test("keep the store's last answer for them, without expiry; other hosts get 503", async () => {
    const f = down();
    const source = { store: f.store, timeoutMs: 50, fileHosts: new FileHostAnswers() };
    expect(names(await lookupTenants(input('wiki.test'), source, view))).toEqual(['wiki-mtls']);
    expect(names(await lookupTenants(input('x.team.test'), source, view))).toEqual([]);
    expect(names(await lookupTenants(input('auth.test'), source, view))).toEqual([]);
    expect(names(await lookupTenants(input('other.test'), source, view))).toEqual([]);
    f.up = false;
    expect(names(await lookupTenants(input('wiki.test'), source, view))).toEqual(['wiki-mtls']);
    expect(names(await lookupTenants(input('x.team.test'), source, view))).toEqual([]);
    expect(names(await lookupTenants(input('auth.test'), source, view))).toEqual([]);
    expect(names(await lookupTenants(input('other.test'), source, view))).toBe('tenant_store_unavailable');
    // Never answered before: not guessed.
    expect(names(await lookupTenants(input('y.team.test'), source, view))).toBe('tenant_store_unavailable');
    // Without a memory, or without the file's view, nothing is special.
    expect(names(await lookupTenants(input('wiki.test'), { store: f.store, timeoutMs: 50 }, view))).toBe('tenant_store_unavailable');
    expect(names(await lookupTenants(input('wiki.test'), source))).toBe('tenant_store_unavailable');
  });

  test('warmFileHosts asks once per host and remembers the answers', async () => {
    const f = down();
    const source = { store: f.store, timeoutMs: 50, fileHosts: new FileHostAnswers() };
    await warmFileHosts(source, ['wiki.test', 'auth.test', 'not a host']);
    expect(f.asked.sort()).toEqual(['auth.test', 'wiki.test']);
    expect(source.fileHosts.recall('wiki.test')).toMatchObject({ kind: 'tenant' });
    expect(source.fileHosts.recall('auth.test')).toEqual({ kind: 'unknown' });
  });
});

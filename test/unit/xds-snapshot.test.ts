import { beforeAll, describe, expect, it } from '@jest/globals';
import { TYPE_URLS, decodeResource } from '../../src/xds/protos.js';
import { PUBLIC_LISTENER, type PublicListenerSettings } from '../../src/xds/resources.js';
import { XdsSnapshot, type ResourceChange } from '../../src/xds/snapshot.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';

const SETTINGS: PublicListenerSettings = { listen: { host: '127.0.0.1', port: 8443 }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable' };

type Json = Record<string, unknown>;

function listenerOf(s: XdsSnapshot): Json {
  const r = s.get(TYPE_URLS.listener, PUBLIC_LISTENER);
  if (!r) throw new Error('no listener');
  return decodeResource(TYPE_URLS.listener, r.bytes);
}

function chainNames(s: XdsSnapshot): string[] {
  return ((listenerOf(s).filter_chains as Json[] | undefined) ?? []).map((c) => (c.filter_chain_match as { server_names: string[] }).server_names[0] as string);
}

describe('xDS snapshot of the hostname catalog', () => {
  let fx: HostnameFixtures;
  beforeAll(async () => {
    fx = await hostnameFixtures();
  });

  it('builds one SNI chain per hostname and two secrets each, with content-derived versions equal across replicas', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1'), await fx.entry('*.a.example.com', 't2')]);
    const one = new XdsSnapshot(SETTINGS, catalog);
    const two = new XdsSnapshot(SETTINGS, catalog);
    expect(chainNames(one)).toEqual(['*.a.example.com', 'b.example.com']);
    expect([...one.names(TYPE_URLS.secret)].sort()).toEqual(['cert/*.a.example.com', 'cert/b.example.com', 'client-ca/*.a.example.com', 'client-ca/b.example.com']);
    expect(one.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version).toBe(two.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version);
    expect(one.systemVersion(TYPE_URLS.secret)).toBe(two.systemVersion(TYPE_URLS.secret));
    expect(one.get(TYPE_URLS.secret, 'cert/b.example.com')?.version).toBe(two.get(TYPE_URLS.secret, 'cert/b.example.com')?.version);
  });

  it('puts the tenant CAs in a validation context that accepts untrusted chains, and ext_authz on the chain, off for ACME', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    const ca = decodeResource(TYPE_URLS.secret, s.get(TYPE_URLS.secret, 'client-ca/b.example.com')?.bytes ?? new Uint8Array());
    const vc = ca.validation_context as Json;
    expect(vc.trust_chain_verification).toBe('ACCEPT_UNTRUSTED');
    expect(String((vc.trusted_ca as Json).inline_string)).toContain(fx.clientCa.certPem.trim());
    const chain = (listenerOf(s).filter_chains as Json[])[0] as Json;
    const hcm = ((chain.filters as Json[])[0] as Json).typed_config as Json;
    expect(String(hcm.type_url)).toContain('HttpConnectionManager');
  });

  it('a certificate change rebuilds that hostname’s secrets only; an added hostname changes the listener', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1'), await fx.entry('c.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    const changes: ResourceChange[] = [];
    s.onChange((c) => changes.push(c));
    const listenerVersion = s.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version;
    const systemBefore = s.systemVersion(TYPE_URLS.secret);
    catalog.upsert(await fx.entry('b.example.com', 't1'));
    s.apply(['b.example.com'], []);
    expect(changes).toEqual([new Map([[TYPE_URLS.secret, ['cert/b.example.com']]])]);
    expect(s.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version).toBe(listenerVersion);
    expect(s.systemVersion(TYPE_URLS.secret)).not.toBe(systemBefore);
    changes.length = 0;
    catalog.upsert(await fx.entry('d.example.com', 't1'));
    s.apply(['d.example.com'], []);
    expect(changes[0]?.get(TYPE_URLS.listener)).toEqual([PUBLIC_LISTENER]);
    expect([...(changes[0]?.get(TYPE_URLS.secret) ?? [])].sort()).toEqual(['cert/d.example.com', 'client-ca/d.example.com']);
    changes.length = 0;
    catalog.remove('c.example.com');
    s.apply([], ['c.example.com']);
    expect(chainNames(s)).toEqual(['b.example.com', 'd.example.com']);
    expect(s.get(TYPE_URLS.secret, 'cert/c.example.com')).toBeUndefined();
    expect([...(changes[0]?.get(TYPE_URLS.secret) ?? [])].sort()).toEqual(['cert/c.example.com', 'client-ca/c.example.com']);
  });

  it('holds back a hostname whose key does not match, or whose name is not a DNS name, with the reason', async () => {
    const catalog = new MemoryCatalog();
    const good = await fx.entry('good.example.com', 't1');
    const other = await fx.entry('other.example.com', 't1');
    catalog.seed([good, { ...(await fx.entry('bad.example.com', 't1')), privateKeyPem: other.privateKeyPem }, { ...good, hostname: 'Bad Name' }, { ...good, hostname: 'ca.example.com', clientCaPems: ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'] }]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    expect(chainNames(s)).toEqual(['good.example.com']);
    const problems = Object.fromEntries(s.hostnameProblems().map((p) => [p.hostname, p.reason]));
    expect(problems['bad.example.com']).toMatch(/private key does not match/);
    expect(problems['Bad Name']).toMatch(/not a lower-case DNS name/);
    expect(problems['ca.example.com']).toMatch(/client CA/);
    expect(s.get(TYPE_URLS.secret, 'cert/bad.example.com')).toBeUndefined();
  });

  it('serves the auth domain on its own chain and holds back a customer hostname of the same name', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('auth.example.com', 't1'), await fx.entry('b.example.com', 't1')]);
    const s = new XdsSnapshot({ ...SETTINGS, authDomain: { hostname: 'auth.example.com', certFile: '/etc/envoy/auth.pem', keyFile: '/etc/envoy/auth.key' } }, catalog);
    expect(chainNames(s)).toEqual(['auth.example.com', 'b.example.com']);
    const auth = (listenerOf(s).filter_chains as Json[])[0] as Json;
    expect(auth.name).toBe('auth');
    // The TLS context is an Any: its bytes carry the file paths Envoy reads.
    const tls = (auth.transport_socket as { typed_config: { value: Uint8Array } }).typed_config.value;
    expect(Buffer.from(tls).toString('latin1')).toContain('/etc/envoy/auth.pem');
    expect(s.hostnameProblems()).toEqual([{ hostname: 'auth.example.com', reason: "is the login service's auth domain (auth.domain), which bouncer serves itself" }]);
    expect(s.get(TYPE_URLS.secret, 'cert/auth.example.com')).toBeUndefined();
  });

  it("gives ext_authz on every chain the static config's retry on another replica", async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1')]);
    const bytes = Buffer.from(new XdsSnapshot(SETTINGS, catalog).get(TYPE_URLS.listener, PUBLIC_LISTENER)?.bytes ?? new Uint8Array()).toString('latin1');
    expect(bytes).toContain('connect-failure,refused-stream,reset,unavailable');
    expect(bytes).toContain('envoy.retry_host_predicates.previous_hosts');
  });

  it('has the public listener, with its default chain, even with no hostname', () => {
    const s = new XdsSnapshot(SETTINGS, new MemoryCatalog());
    expect(chainNames(s)).toEqual([]);
    expect((listenerOf(s).default_filter_chain as Json).name).toBe('default');
  });

  it('takes a hostname Envoy refused out of the listener until its certificate changes', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1'), await fx.entry('c.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    const refused = s.get(TYPE_URLS.secret, 'client-ca/b.example.com');
    s.rejectSecret('client-ca/b.example.com', refused?.version ?? '');
    expect(chainNames(s)).toEqual(['c.example.com']);
    // The same entry notified again stays out; a new certificate comes back.
    s.apply(['b.example.com'], []);
    expect(chainNames(s)).toEqual(['c.example.com']);
    catalog.upsert(await fx.entry('b.example.com', 't1'));
    s.apply(['b.example.com'], []);
    expect(chainNames(s)).toEqual(['b.example.com', 'c.example.com']);
  });
});

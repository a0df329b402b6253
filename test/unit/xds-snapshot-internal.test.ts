import { beforeAll, describe, expect, it } from '@jest/globals';
import { TYPE_URLS, decodeResource } from '../../src/xds/protos.js';
import { PUBLIC_LISTENER, type PublicListenerSettings } from '../../src/xds/resources.js';
import { XdsSnapshot, type ResourceChange } from '../../src/xds/snapshot.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';

const SETTINGS: PublicListenerSettings = { listen: { host: '127.0.0.1', port: 8443 }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable', listenerMode: 'internal' };

type Json = Record<string, unknown>;

function front(s: XdsSnapshot): Json {
  const r = s.get(TYPE_URLS.listener, PUBLIC_LISTENER);
  if (!r) throw new Error('no front listener');
  return decodeResource(TYPE_URLS.listener, r.bytes);
}

function frontChains(s: XdsSnapshot): string[] {
  return ((front(s).filter_chains as Json[] | undefined) ?? []).map((c) => (c.filter_chain_match as { server_names: string[] }).server_names[0] as string);
}

describe('xDS snapshot, internal listener mode', () => {
  let fx: HostnameFixtures;
  beforeAll(async () => {
    fx = await hostnameFixtures();
  });

  it('gives each hostname a cluster and an internal listener, and routes every other name by SNI', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    expect([...s.names(TYPE_URLS.cluster)]).toEqual(['host/b.example.com']);
    expect([...s.names(TYPE_URLS.listener)].sort()).toEqual([PUBLIC_LISTENER, 'host/b.example.com']);
    expect(frontChains(s)).toEqual([]);
    const byName = front(s).default_filter_chain as Json;
    expect((byName.filters as Json[]).map((f) => f.name)).toEqual(['envoy.filters.network.set_filter_state', 'envoy.filters.network.tcp_proxy']);
    const cluster = decodeResource(TYPE_URLS.cluster, s.get(TYPE_URLS.cluster, 'host/b.example.com')?.bytes ?? new Uint8Array());
    expect(JSON.stringify(cluster.load_assignment)).toContain('"server_listener_name":"host/b.example.com"');
    // Not Envoy's default 1,024 connections per cluster: a busy hostname is not cut short by the hop.
    expect(JSON.stringify(cluster.circuit_breakers)).toContain('"max_connections":{"value":1000000}');
    const internal = decodeResource(TYPE_URLS.listener, s.get(TYPE_URLS.listener, 'host/b.example.com')?.bytes ?? new Uint8Array());
    expect(internal.internal_listener).toBeDefined();
    expect(internal.address).toBeUndefined();
    const chain = (internal.filter_chains as Json[])[0] as Json;
    expect(chain.filter_chain_match).toBeUndefined();
    expect(String(((chain.transport_socket as Json).typed_config as Json).type_url)).toContain('DownstreamTlsContext');
  });

  it('adds and removes an exact hostname without touching the front listener: one cluster, one listener, two secrets', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1'), await fx.entry('c.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    const frontVersion = s.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version;
    const changes: ResourceChange[] = [];
    s.onChange((c) => changes.push(c));
    catalog.upsert(await fx.entry('d.example.com', 't2'));
    s.apply(['d.example.com'], []);
    expect(changes).toEqual([
      new Map([
        [TYPE_URLS.secret, ['cert/d.example.com', 'client-ca/d.example.com']],
        [TYPE_URLS.listener, ['host/d.example.com']],
        [TYPE_URLS.cluster, ['host/d.example.com']],
      ]),
    ]);
    catalog.remove('d.example.com');
    s.apply([], ['d.example.com']);
    expect(changes[1]?.get(TYPE_URLS.listener)).toEqual(['host/d.example.com']);
    expect(changes[1]?.get(TYPE_URLS.cluster)).toEqual(['host/d.example.com']);
    expect(s.get(TYPE_URLS.cluster, 'host/d.example.com')).toBeUndefined();
    expect(s.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version).toBe(frontVersion);
  });

  it('keeps wildcards, and the exact names a wildcard would catch first, as front chains', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('pay.example.com', 't1'), await fx.entry('x.api.example.com', 't1'), await fx.entry('y.z.api.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    expect(frontChains(s)).toEqual([]);
    catalog.upsert(await fx.entry('*.api.example.com', 't1'));
    s.apply(['*.api.example.com'], []);
    expect(frontChains(s)).toEqual(['*.api.example.com', 'x.api.example.com', 'y.z.api.example.com']);
    // An exact name under the wildcard added later joins the front chains; one elsewhere does not.
    catalog.upsert(await fx.entry('w.api.example.com', 't1'), await fx.entry('other.example.com', 't1'));
    s.apply(['w.api.example.com', 'other.example.com'], []);
    expect(frontChains(s)).toEqual(['*.api.example.com', 'w.api.example.com', 'x.api.example.com', 'y.z.api.example.com']);
    catalog.remove('*.api.example.com');
    s.apply([], ['*.api.example.com']);
    expect(frontChains(s)).toEqual([]);
    expect(s.get(TYPE_URLS.cluster, 'host/*.api.example.com')).toBeUndefined();
  });

  it('takes a hostname whose certificate Envoy refused out of Envoy until a new version', async () => {
    const catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1')]);
    const s = new XdsSnapshot(SETTINGS, catalog);
    s.rejectSecret('cert/b.example.com', s.get(TYPE_URLS.secret, 'cert/b.example.com')?.version ?? '');
    expect(s.get(TYPE_URLS.cluster, 'host/b.example.com')).toBeUndefined();
    expect(s.get(TYPE_URLS.listener, 'host/b.example.com')).toBeUndefined();
    expect(s.get(TYPE_URLS.secret, 'cert/b.example.com')).toBeDefined();
    catalog.upsert(await fx.entry('b.example.com', 't1'));
    s.apply(['b.example.com'], []);
    expect(s.get(TYPE_URLS.cluster, 'host/b.example.com')).toBeDefined();
  });
});

// The acme-tls/1 chains of TLS-ALPN-01 in both listener modes: off by default (the
// listener byte for byte as without it); on, every chain with server_names has an
// acme-tls/1 sibling with the same server_names (Envoy narrows by server_names before
// application_protocols), one more catches any other SNI, all tcp_proxy to
// bouncer_acme_tls; in the internal mode an added exact hostname still leaves the front
// listener alone.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { TYPE_URLS, decodeResource } from '../../src/xds/protos.js';
import { PUBLIC_LISTENER, type PublicListenerSettings } from '../../src/xds/resources.js';
import { XdsSnapshot, type ResourceChange } from '../../src/xds/snapshot.js';
import { MemoryCatalog, hostnameFixtures, type HostnameFixtures } from '../helpers/memory-catalog.js';

type Json = Record<string, unknown>;
const BASE: PublicListenerSettings = { listen: { host: '127.0.0.1', port: 8443 }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable' };

function publicListener(s: XdsSnapshot): Json {
  const r = s.get(TYPE_URLS.listener, PUBLIC_LISTENER);
  if (!r) throw new Error('no public listener');
  return decodeResource(TYPE_URLS.listener, r.bytes);
}

/** Each chain as name, match and the cluster of its tcp_proxy (if that is its only filter). */
function chains(s: XdsSnapshot): Array<{ name: string; match: Json | undefined; cluster: string | undefined }> {
  return ((publicListener(s).filter_chains as Json[] | undefined) ?? []).map((c) => {
    const filters = c.filters as Json[];
    const only = filters.length === 1 && filters[0]?.name === 'envoy.filters.network.tcp_proxy' ? (filters[0] as Json) : undefined;
    const any = only?.typed_config as { type_url: string; value: Uint8Array } | undefined;
    const cluster = any ? (decodeResource(any.type_url, any.value).cluster as string) : undefined;
    return { name: c.name as string, match: c.filter_chain_match as Json | undefined, cluster };
  });
}

describe('TLS-ALPN-01 chains', () => {
  let fx: HostnameFixtures;
  let catalog: MemoryCatalog;
  beforeAll(async () => {
    fx = await hostnameFixtures();
    catalog = new MemoryCatalog();
    catalog.seed([await fx.entry('b.example.com', 't1'), await fx.entry('*.shop.example.com', 't1')]);
  });

  it.each(['chains', 'internal'] as const)('are absent by default (%s): the listener is the same bytes as with acmeTlsAlpn false', (mode) => {
    const off = new XdsSnapshot({ ...BASE, listenerMode: mode }, catalog);
    const explicit = new XdsSnapshot({ ...BASE, listenerMode: mode, acmeTlsAlpn: false }, catalog);
    expect(off.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version).toBe(explicit.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.version);
    expect(JSON.stringify(publicListener(off))).not.toContain('acme-tls/1');
  });

  it('chains mode: an acme-tls/1 sibling per hostname chain, and one for any other SNI', () => {
    const s = new XdsSnapshot({ ...BASE, acmeTlsAlpn: true }, catalog);
    const acme = chains(s).filter((c) => c.name.startsWith('acme-tls'));
    expect(acme).toEqual([
      { name: 'acme-tls/*.shop.example.com', match: { server_names: ['*.shop.example.com'], application_protocols: ['acme-tls/1'] }, cluster: 'bouncer_acme_tls' },
      { name: 'acme-tls/b.example.com', match: { server_names: ['b.example.com'], application_protocols: ['acme-tls/1'] }, cluster: 'bouncer_acme_tls' },
      { name: 'acme-tls', match: { application_protocols: ['acme-tls/1'] }, cluster: 'bouncer_acme_tls' },
    ]);
    // The hostname chains themselves are unchanged: SNI only, TLS terminated by Envoy.
    expect(chains(s).find((c) => c.name === 'host/b.example.com')?.match).toEqual({ server_names: ['b.example.com'] });
  });

  it('internal mode: the front listener has the catch-all and a sibling per wildcard chain; an added exact hostname does not resend it', async () => {
    const local = new MemoryCatalog();
    local.seed([await fx.entry('b.example.com', 't1'), await fx.entry('*.shop.example.com', 't1')]);
    const s = new XdsSnapshot({ ...BASE, listenerMode: 'internal', acmeTlsAlpn: true }, local);
    expect(chains(s).map((c) => [c.name, c.cluster])).toEqual([
      ['host/*.shop.example.com', 'host/*.shop.example.com'],
      ['acme-tls/*.shop.example.com', 'bouncer_acme_tls'],
      ['acme-tls', 'bouncer_acme_tls'],
    ]);
    const changes: ResourceChange[] = [];
    s.onChange((c) => changes.push(c));
    local.upsert(await fx.entry('d.example.com', 't2'));
    s.apply(['d.example.com'], []);
    expect(changes.flatMap((c) => c.get(TYPE_URLS.listener) ?? [])).toEqual(['host/d.example.com']);
  });
});

import { describe, expect, it } from '@jest/globals';
import { DeltaSession, type DeltaResponse, type Rejection, type ResourceSource } from '../../src/xds/delta-session.js';
import { TYPE_URLS, type XdsTypeUrl } from '../../src/xds/protos.js';
import { contentVersion, type BuiltResource } from '../../src/xds/resources.js';

const L = TYPE_URLS.listener;
const S = TYPE_URLS.secret;

/** A resource source the test edits by hand. */
class FakeSource implements ResourceSource {
  readonly data = new Map<XdsTypeUrl, Map<string, BuiltResource>>([
    [L, new Map()],
    [S, new Map()],
  ]);
  set(type: XdsTypeUrl, name: string, content: string): void {
    const bytes = Buffer.from(content);
    this.data.get(type)?.set(name, { name, version: contentVersion(bytes), bytes });
  }
  delete(type: XdsTypeUrl, name: string): void {
    this.data.get(type)?.delete(name);
  }
  get(type: XdsTypeUrl, name: string): BuiltResource | undefined {
    return this.data.get(type)?.get(name);
  }
  names(type: XdsTypeUrl): Iterable<string> {
    return this.data.get(type)?.keys() ?? [];
  }
  systemVersion(type: XdsTypeUrl): string {
    return [...(this.data.get(type)?.values() ?? [])].map((r) => r.version).join(',');
  }
}

/** A session over a fake stream: what it sends is collected, the test plays Envoy. */
function harness(perResponse: Record<string, number> = { [L]: 10, [S]: 1 }) {
  const source = new FakeSource();
  const sent: DeltaResponse[] = [];
  const rejected: Rejection[] = [];
  const acked: Array<{ typeUrl: string; names: string[] }> = [];
  const ignored: string[] = [];
  const session = new DeltaSession(source, (r) => sent.push(r), perResponse, {
    rejected: (r) => rejected.push(r),
    acked: (typeUrl, rs) => acked.push({ typeUrl, names: rs.map((r) => r.name) }),
    ignored: (_t, why) => ignored.push(why),
  });
  const take = (): DeltaResponse[] => sent.splice(0, sent.length);
  const names = (r: DeltaResponse): string[] => r.resources.map((x) => x.name);
  return { source, session, take, names, rejected, acked, ignored };
}

describe('delta xDS session', () => {
  it('sends every listener on a first request without names (wildcard), then nothing until a change', () => {
    const h = harness();
    h.source.set(L, 'a', 'listener a');
    h.source.set(L, 'b', 'listener b');
    h.session.onRequest({ type_url: L });
    const [first, ...rest] = h.take();
    expect(rest).toEqual([]);
    expect(h.names(first as DeltaResponse).sort()).toEqual(['a', 'b']);
    expect(first?.resources[0]?.version).toBe(h.source.get(L, first?.resources[0]?.name ?? '')?.version);
    h.session.onRequest({ type_url: L, response_nonce: first?.nonce ?? '' });
    expect(h.acked).toEqual([{ typeUrl: L, names: expect.arrayContaining(['a', 'b']) }]);
    expect(h.take()).toEqual([]);
    expect(h.session.pending()).toBe(0);
  });

  it('sends a changed listener alone, and tells a wildcard subscriber of a removal', () => {
    const h = harness();
    h.source.set(L, 'a', 'a1');
    h.source.set(L, 'b', 'b1');
    h.session.onRequest({ type_url: L });
    h.take();
    h.source.set(L, 'a', 'a2');
    h.session.onChange(L, ['a']);
    const [update] = h.take();
    expect(h.names(update as DeltaResponse)).toEqual(['a']);
    h.source.delete(L, 'b');
    h.session.onChange(L, ['b']);
    const [removal] = h.take();
    expect(removal?.resources).toEqual([]);
    expect(removal?.removed_resources).toEqual(['b']);
  });

  it('sends subscribed secrets one per response, and says once that an unknown name does not exist', () => {
    const h = harness();
    h.source.set(S, 'cert/a', 'A');
    h.source.set(S, 'cert/b', 'B');
    h.source.set(S, 'cert/other', 'O');
    h.session.onRequest({ type_url: S, resource_names_subscribe: ['cert/a', 'cert/b', 'cert/missing'] });
    const out = h.take();
    expect(out.map(h.names)).toEqual([['cert/a'], ['cert/b']]);
    expect(out.flatMap((r) => r.removed_resources)).toEqual(['cert/missing']);
    expect(out.flatMap(h.names)).not.toContain('cert/other');
    // A change to a secret nobody subscribed to sends nothing; the missing one appearing is sent.
    h.source.set(S, 'cert/other', 'O2');
    h.session.onChange(S, ['cert/other']);
    expect(h.take()).toEqual([]);
    h.source.set(S, 'cert/missing', 'M');
    h.session.onChange(S, ['cert/missing']);
    expect(h.take().map(h.names)).toEqual([['cert/missing']]);
  });

  it('does not resend what Envoy already has after a reconnect (initial_resource_versions), whichever replica it was', () => {
    const h = harness();
    h.source.set(S, 'cert/a', 'A');
    h.source.set(S, 'cert/b', 'B');
    const versionA = h.source.get(S, 'cert/a')?.version ?? '';
    h.session.onRequest({ type_url: S, resource_names_subscribe: ['cert/a', 'cert/b'], initial_resource_versions: { 'cert/a': versionA, 'cert/b': 'stale' } });
    expect(h.take().map(h.names)).toEqual([['cert/b']]);
  });

  it('resends after an unsubscribe and a new subscribe', () => {
    const h = harness();
    h.source.set(S, 'cert/a', 'A');
    h.session.onRequest({ type_url: S, resource_names_subscribe: ['cert/a'] });
    h.take();
    h.session.onRequest({ type_url: S, resource_names_unsubscribe: ['cert/a'] });
    h.source.set(S, 'cert/a', 'A2');
    h.session.onChange(S, ['cert/a']);
    expect(h.take()).toEqual([]);
    h.session.onRequest({ type_url: S, resource_names_subscribe: ['cert/a'] });
    expect(h.take().map(h.names)).toEqual([['cert/a']]);
  });

  it('splits a NACKed response in halves until the refused resource stands alone; the others are ACKed', () => {
    const h = harness({ [L]: 8 });
    for (const n of ['l1', 'l2', 'l3', 'l4', 'l5']) h.source.set(L, n, n);
    h.session.onRequest({ type_url: L });
    let queue = h.take();
    expect(queue).toHaveLength(1);
    // Envoy refuses any response that contains l4.
    let rounds = 0;
    while (queue.length > 0 && rounds < 20) {
      rounds += 1;
      const r = queue.shift() as DeltaResponse;
      const bad = h.names(r).includes('l4');
      h.session.onRequest({ type_url: L, response_nonce: r.nonce, ...(bad ? { error_detail: { code: 3, message: 'l4 is bad' } } : {}) });
      queue.push(...h.take());
    }
    expect(h.rejected).toEqual([{ typeUrl: L, name: 'l4', version: h.source.get(L, 'l4')?.version, message: 'l4 is bad' }]);
    expect(h.acked.flatMap((a) => a.names).sort()).toEqual(['l1', 'l2', 'l3', 'l5']);
    expect(h.session.pending()).toBe(0);
    // The refused version is not sent again; a new version is.
    h.session.onChange(L, ['l4']);
    expect(h.take()).toEqual([]);
    h.source.set(L, 'l4', 'l4 fixed');
    h.session.onChange(L, ['l4']);
    expect(h.take().map(h.names)).toEqual([['l4']]);
  });

  it('does not resend a half whose resource changed meanwhile (the newer version is already on its way)', () => {
    const h = harness({ [L]: 8 });
    h.source.set(L, 'a', 'a');
    h.source.set(L, 'b', 'b');
    h.session.onRequest({ type_url: L });
    const [r] = h.take();
    h.source.set(L, 'a', 'a2');
    h.session.onChange(L, ['a']);
    expect(h.take().map(h.names)).toEqual([['a']]);
    h.session.onRequest({ type_url: L, response_nonce: r?.nonce ?? '', error_detail: { code: 3, message: 'no' } });
    expect(h.take().map(h.names)).toEqual([['b']]);
  });

  it('answers a first wildcard request even when there is nothing to send (Envoy waits for clusters before listeners)', () => {
    const h = harness();
    h.session.onRequest({ type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster' });
    const responses = h.take();
    expect(responses).toHaveLength(1);
    expect(responses[0]?.resources).toEqual([]);
    expect(responses[0]?.removed_resources).toEqual([]);
  });

  it('ignores unknown types and unknown nonces without failing the stream', () => {
    const h = harness();
    h.session.onRequest({ type_url: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration' });
    h.session.onRequest({ type_url: L, response_nonce: 'never-sent' });
    expect(h.ignored).toHaveLength(2);
    expect(h.rejected).toEqual([]);
  });

  it('drops the wildcard on an unsubscribe of "*"', () => {
    const h = harness();
    h.source.set(L, 'a', 'a');
    h.session.onRequest({ type_url: L });
    h.take();
    h.session.onRequest({ type_url: L, resource_names_unsubscribe: ['*'] });
    h.source.set(L, 'a', 'a2');
    h.session.onChange(L, ['a']);
    expect(h.take()).toEqual([]);
  });
});

/**
 * Bounded in-memory storage for oidc-provider's models (sessions,
 * interactions, grants, codes, access tokens).
 *
 * oidc-provider's built-in memory adapter is bounded too, but at a fixed 1 000
 * entries shared by every provider in the process, which a few hundred
 * concurrent logins exhaust (each login stores about six entries), evicting
 * codes before they are redeemed. This one takes its bound from the caller and
 * keeps every entry no longer than the TTL the provider gives it. Like any
 * in-memory store it serves one replica; a fleet needs a shared adapter.
 */
import { LRUCache } from 'lru-cache';
import type { OidcAdapter, OidcPayload } from './lib.js';

/** Default bound on stored entries (all models together, indexes included). */
export const DEFAULT_MAX_ENTRIES = 50_000;

/** Models whose entries belong to a grant and go when the grant is revoked. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest']);

type Entry = { kind: 'payload'; payload: OidcPayload } | { kind: 'ref'; key: string } | { kind: 'grant'; members: Set<string> };

/** The adapter factory oidc-provider's `adapter` option takes: one adapter per model name. */
export type OidcAdapterFactory = (model: string) => OidcAdapter;

/**
 * Create a bounded store and the adapter factory over it.
 *
 * @example
 * ```ts
 * const adapter = createBoundedAdapter({ maxEntries: 50_000, clock: Date.now });
 * new Provider(issuer, { adapter, ... });
 * ```
 */
export function createBoundedAdapter(o: { maxEntries?: number; clock(): number }): OidcAdapterFactory {
  const store = new LRUCache<string, Entry>({
    max: o.maxEntries ?? DEFAULT_MAX_ENTRIES,
    // Entries without a TTL (none are expected) still yield to the LRU bound.
    ttlAutopurge: false,
    perf: { now: o.clock },
    // Read the injected clock on every check rather than a value cached between timer ticks.
    ttlResolution: 0,
  });

  const ttlOpt = (expiresIn: number | undefined): { ttl?: number } =>
    typeof expiresIn === 'number' && expiresIn > 0 ? { ttl: expiresIn * 1000 } : {};

  function payloadAt(key: string): OidcPayload | undefined {
    const e = store.get(key);
    return e?.kind === 'payload' ? e.payload : undefined;
  }

  function refAt(key: string): string | undefined {
    const e = store.get(key);
    return e?.kind === 'ref' ? e.key : undefined;
  }

  function grantMembers(grantId: string): Set<string> {
    const e = store.get(`grant:${grantId}`);
    return e?.kind === 'grant' ? e.members : new Set();
  }

  function dropIndexes(key: string, payload: OidcPayload): void {
    if (typeof payload.uid === 'string' && refAt(`sessionUid:${payload.uid}`) === key) store.delete(`sessionUid:${payload.uid}`);
    if (typeof payload.userCode === 'string' && refAt(`userCode:${payload.userCode}`) === key) store.delete(`userCode:${payload.userCode}`);
  }

  return (model: string): OidcAdapter => {
    const keyOf = (id: string): string => `${model}:${id}`;
    return {
      async upsert(id, payload, expiresIn) {
        const key = keyOf(id);
        const previous = payloadAt(key);
        if (previous !== undefined) dropIndexes(key, previous);
        const ttl = ttlOpt(expiresIn);
        if (model === 'Session' && typeof payload.uid === 'string') store.set(`sessionUid:${payload.uid}`, { kind: 'ref', key }, ttl);
        if (typeof payload.userCode === 'string') store.set(`userCode:${payload.userCode}`, { kind: 'ref', key }, ttl);
        if (GRANTABLE.has(model) && typeof payload.grantId === 'string') {
          const members = grantMembers(payload.grantId);
          members.add(key);
          // The index lives as long as the grant could have members; the grant's own TTL bounds them.
          const grantKey = `grant:${payload.grantId}`;
          const remaining = store.has(grantKey) ? store.getRemainingTTL(grantKey) : 0;
          const keep = ttl.ttl === undefined || remaining === Infinity ? {} : { ttl: Math.max(remaining, ttl.ttl) };
          store.set(grantKey, { kind: 'grant', members }, keep);
        }
        store.set(key, { kind: 'payload', payload }, ttl);
      },
      async find(id) {
        return payloadAt(keyOf(id));
      },
      async findByUid(uid) {
        const key = refAt(`sessionUid:${uid}`);
        return key === undefined ? undefined : payloadAt(key);
      },
      async findByUserCode(userCode) {
        const key = refAt(`userCode:${userCode}`);
        return key === undefined ? undefined : payloadAt(key);
      },
      async consume(id) {
        const payload = payloadAt(keyOf(id));
        // Marking in place keeps the entry's TTL; the provider checks `consumed` on every later find.
        if (payload !== undefined) payload.consumed = Math.floor(o.clock() / 1000);
      },
      async destroy(id) {
        const key = keyOf(id);
        const payload = payloadAt(key);
        store.delete(key);
        if (payload !== undefined) dropIndexes(key, payload);
      },
      async revokeByGrantId(grantId) {
        for (const key of grantMembers(grantId)) {
          const payload = payloadAt(key);
          store.delete(key);
          if (payload !== undefined) dropIndexes(key, payload);
        }
        store.delete(`grant:${grantId}`);
      },
    };
  };
}

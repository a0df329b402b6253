/**
 * One-time use of SAML assertion IDs (SAML profiles §4.1.4.5: an SP must not accept
 * a bearer assertion twice). In memory, per process; a fleet needs a shared store.
 */
import { BouncerError } from '../../../core/errors.js';

/** Remembers IDs until they expire; answers whether an ID is new. */
export interface ReplayCache {
  /**
   * Records `id` until `expiresAtMs` and returns true, or returns false when the ID was
   * already recorded and has not expired. Throws when the cache is full of live entries
   * (fail closed: forgetting a live ID would re-open it to replay).
   */
  remember(id: string, expiresAtMs: number, nowMs: number): boolean;
  /** Number of IDs held (expired ones may linger until the next sweep). */
  readonly size: number;
}

/**
 * What the SAML SP needs of a replay store: the in-memory {@link ReplayCache},
 * or the fleet's shared one (which answers asynchronously and rejects with a
 * `SharedStateError` when it cannot tell).
 */
export interface AssertionReplayStore {
  remember(id: string, expiresAtMs: number, nowMs: number): boolean | Promise<boolean>;
}

/** Thrown by {@link ReplayCache.remember} when every slot holds a still-valid ID. */
export class ReplayCacheFullError extends BouncerError<'ERR_REPLAY_CACHE_FULL'> {
  static readonly code = 'ERR_REPLAY_CACHE_FULL';
  constructor(readonly maxEntries: number) {
    super(ReplayCacheFullError.code, `replay cache full (${maxEntries} live assertion IDs)`);
  }
}

/**
 * Create a bounded in-memory replay cache.
 *
 * @example
 * ```ts
 * const cache = createMemoryReplayCache({ maxEntries: 100_000 });
 * if (!cache.remember(assertionId, notOnOrAfterMs + 60_000, nowMs)) throw new Error('replayed');
 * ```
 */
export function createMemoryReplayCache(o: { maxEntries?: number } = {}): ReplayCache {
  const maxEntries = o.maxEntries ?? 100_000;
  // Map keeps insertion order; entries are not sorted by expiry, so a sweep scans all of them.
  // Sweeps happen only when the map is full, which keeps the common path O(1).
  const seen = new Map<string, number>();
  const sweep = (nowMs: number): void => {
    for (const [k, exp] of seen) if (exp <= nowMs) seen.delete(k);
  };
  return {
    remember(id, expiresAtMs, nowMs) {
      const prev = seen.get(id);
      if (prev !== undefined && prev > nowMs) return false;
      if (prev !== undefined) seen.delete(id);
      if (seen.size >= maxEntries) sweep(nowMs);
      if (seen.size >= maxEntries) throw new ReplayCacheFullError(maxEntries);
      seen.set(id, expiresAtMs);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}

/**
 * In-memory {@link OnceStore} for a single replica.
 */
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';
import { SharedStateError } from '../shared-state-errors.js';
import type { OnceStore } from '../shared-state.js';
import { checkTtl } from '../shared-state-ttl.js';

/** Options of {@link createMemoryOnceStore}. */
export interface MemoryOnceStoreOptions {
  /** Bound on remembered keys. Default {@link SHARED_STATE_DEFAULTS.onceCapacity}. */
  readonly capacity?: number;
}

/**
 * Create an in-memory single-use store. When every slot holds a live key,
 * `consume` rejects with `ERR_STORE_FULL` rather than forgetting one.
 *
 * @example
 * ```ts
 * const handoffs = createMemoryOnceStore();
 * const ttlMs = claims.exp * 1000 + 60_000 - nowMs; // exp + verifier tolerance
 * if (!(await handoffs.consume(claims.jti, ttlMs, nowMs))) deny('handoff_invalid');
 * ```
 */
export function createMemoryOnceStore(o: MemoryOnceStoreOptions = {}): OnceStore & { readonly size: number } {
  const capacity = o.capacity ?? SHARED_STATE_DEFAULTS.onceCapacity;
  // Map keeps insertion order; one store serves one purpose, whose TTLs are
  // alike, so the front is roughly the oldest and pruning stops at the first
  // live entry. A full sweep runs only when the map is full.
  const seen = new Map<string, number>();

  function pruneFront(nowMs: number): void {
    for (const [k, until] of seen) {
      if (until > nowMs) break;
      seen.delete(k);
    }
  }

  return {
    // async so that every failure, bad input included, is a rejection as with Redis.
    async consume(key, ttlMs, nowMs, signal) {
      signal?.throwIfAborted();
      const ms = checkTtl(ttlMs);
      pruneFront(nowMs);
      const prev = seen.get(key);
      // Out-of-order expiries may sit behind a live entry: honour each one's own.
      if (prev !== undefined && prev > nowMs) return false;
      seen.delete(key);
      if (seen.size >= capacity) {
        for (const [k, until] of seen) if (until <= nowMs) seen.delete(k);
        if (seen.size >= capacity) {
          throw new SharedStateError('ERR_STORE_FULL', `single-use store full (${capacity} live keys)`);
        }
      }
      seen.set(key, nowMs + ms);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}

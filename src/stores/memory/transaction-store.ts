/**
 * In-memory {@link SharedTransactionStore} for a single replica, with the same
 * answers as the Redis one (`replayed`, `expired`, `unknown`).
 */
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';
import type { LoginTransaction, SharedTransactionStore, TakeResult } from '../shared-state.js';
import { checkTtl } from '../shared-state-ttl.js';

/** Options of {@link createMemorySharedTransactionStore}. */
export interface MemorySharedTransactionStoreOptions {
  /** Time source; `put` and `take` carry no time of their own. Default `Date.now`. */
  readonly clock?: () => number;
  /**
   * Bound on remembered ids; the oldest is dropped when full, since anyone can
   * start logins. Default {@link SHARED_STATE_DEFAULTS.transactionCapacity}.
   */
  readonly capacity?: number;
  /** How long past its TTL an id is still reported as taken or expired. Default {@link SHARED_STATE_DEFAULTS.transactionRememberMs}. */
  readonly rememberMs?: number;
}

interface Entry {
  tx: LoginTransaction | undefined; // undefined once taken
  readonly expMs: number;
  readonly forgetMs: number;
}

/**
 * Create an in-memory transaction store.
 *
 * @example
 * ```ts
 * const txs = createMemorySharedTransactionStore({ clock });
 * await txs.put(tx, LOGIN_TRANSACTION_TTL_MS);
 * const r = await txs.take(stateFromCallback); // r.ok → r.tx
 * ```
 */
export function createMemorySharedTransactionStore(o: MemorySharedTransactionStoreOptions = {}): SharedTransactionStore & { readonly size: number } {
  const clock = o.clock ?? Date.now;
  const capacity = o.capacity ?? SHARED_STATE_DEFAULTS.transactionCapacity;
  const rememberMs = o.rememberMs ?? SHARED_STATE_DEFAULTS.transactionRememberMs;
  // Insertion order = put order; one TTL for all logins, so the front is the oldest.
  const entries = new Map<string, Entry>();

  function prune(nowMs: number): void {
    for (const [id, e] of entries) {
      if (e.forgetMs > nowMs) break;
      entries.delete(id);
    }
  }

  return {
    // async so that bad input rejects as it does with Redis.
    async put(tx, ttlMs) {
      const ms = checkTtl(ttlMs);
      const nowMs = clock();
      prune(nowMs);
      entries.delete(tx.id);
      while (entries.size >= capacity) {
        const oldest = entries.keys().next();
        if (oldest.done) break;
        entries.delete(oldest.value);
      }
      entries.set(tx.id, { tx, expMs: nowMs + ms, forgetMs: nowMs + ms + rememberMs });
    },
    async take(id) {
      const nowMs = clock();
      const e = entries.get(id);
      let r: TakeResult;
      if (e === undefined || e.forgetMs <= nowMs) r = { ok: false, problem: 'unknown' };
      else if (e.tx === undefined) r = { ok: false, problem: 'replayed' };
      else {
        const tx = e.tx;
        // Spent either way: a late callback must not be retried into success.
        e.tx = undefined;
        r = e.expMs <= nowMs ? { ok: false, problem: 'expired' } : { ok: true, tx };
      }
      return r;
    },
    get size() {
      return entries.size;
    },
  };
}

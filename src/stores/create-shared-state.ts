/**
 * The one place that picks the shared-state backend: memory when no Redis is
 * configured (the single-process default), Redis otherwise. `serve/open-stores.ts` calls
 * this and passes the pieces on; nothing else knows which backend runs.
 */
import { createMemoryOnceStore } from './memory/once-store.js';
import { createMemorySharedRevocationStore } from './memory/revocation-store.js';
import { createMemorySharedTransactionStore } from './memory/transaction-store.js';
import type { SharedState, SharedStateOptions } from './shared-state.js';

/**
 * Build the shared-state stores for the configured backend (asynchronous only to load the Redis client when it is configured).
 *
 * @example
 * ```ts
 * const shared = await createSharedState({ redis: config.store?.redis, userRetentionMs: longestSession(config) * 1000,
 *   clock: nowFn, onHealth: (h) => metrics.sharedStateUp.set(h.ok ? 1 : 0), onError: (err) => logger.warn({ err }, 'redis') });
 * await shared.start().catch((err) => logger.warn({ err }, 'shared state not ready; failing closed until it is'));
 * ```
 */
export async function createSharedState(o: SharedStateOptions): Promise<SharedState> {
  const clock = o.clock ?? Date.now;
  const retention = o.userRetentionMs === undefined ? {} : { userRetentionMs: o.userRetentionMs };
  if (o.redis === undefined) {
    const revocation = createMemorySharedRevocationStore({ ...retention, clock });
    return {
      backend: 'memory',
      revocation,
      handoffs: createMemoryOnceStore(),
      samlAssertions: createMemoryOnceStore(),
      samlRequests: createMemoryOnceStore(),
      transactions: createMemorySharedTransactionStore({ clock }),
      start: () => revocation.start(),
      health: () => revocation.health(),
      close: () => revocation.close(),
    };
  }
  // The Redis client is loaded only when Redis is configured: the embedded
  // default then keeps its code and state out of the heap every full GC marks.
  const { createRedisSharedState } = await import('./redis/shared-state.js');
  return createRedisSharedState(o, o.redis);
}

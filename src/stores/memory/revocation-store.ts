/**
 * The single-replica {@link SharedRevocationStore}: the existing in-memory
 * revocation store with a lifecycle that has nothing to connect to.
 */
import { createMemoryRevocationStore, type MemoryRevocationOptions } from '../../sessions/revocation.js';
import type { SharedRevocationStore, SharedStateHealth } from '../shared-state.js';

/**
 * Wrap {@link createMemoryRevocationStore} so the composition root treats both backends
 * alike. Always healthy: there is no remote state to lose.
 *
 * @example
 * ```ts
 * const revocation = createMemorySharedRevocationStore({ userRetentionMs });
 * await revocation.start();
 * revocation.revokeSession(sid, untilMs);
 * ```
 */
export function createMemorySharedRevocationStore(o: MemoryRevocationOptions & { clock?: () => number } = {}): SharedRevocationStore {
  const inner = createMemoryRevocationStore(o);
  const sinceMs = (o.clock ?? Date.now)();
  let stopped = false;
  return {
    revokeSession: (sid, untilMs) => inner.revokeSession(sid, untilMs),
    revokeUser: (sub, beforeMs) => inner.revokeUser(sub, beforeMs),
    isRevoked: (claims, nowMs) => inner.isRevoked(claims, nowMs),
    start: () => Promise.resolve(),
    flush: () => Promise.resolve(),
    health(): SharedStateHealth {
      return { ok: !stopped, state: stopped ? 'stopped' : 'synced', denyingAll: false, pendingWrites: 0, sinceMs };
    },
    close() {
      stopped = true;
      return Promise.resolve();
    },
  };
}

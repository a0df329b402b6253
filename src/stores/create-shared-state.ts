/**
 * The one place that picks the shared-state backend: memory when no Redis is
 * configured (the single-process default), Redis otherwise. `app.ts` calls
 * this and passes the pieces on; nothing else knows which backend runs.
 */
import type { RevocationFailMode, SHARED_STATE_DEFAULTS } from './shared-state-defaults.js';
import { createMemoryOnceStore } from './memory/once-store.js';
import { createMemorySharedRevocationStore } from './memory/revocation-store.js';
import { createMemorySharedTransactionStore } from './memory/transaction-store.js';
import type { OnceStore, SharedRevocationStore, SharedStateHealth, SharedTransactionStore } from './shared-state.js';

/** Options of {@link createSharedState}; `redis` mirrors the config's `store.redis`. */
export interface SharedStateOptions {
  /** Absent: everything in memory. */
  readonly redis?: {
    readonly url: string;
    /** Put in front of every key and channel, for several deployments on one Redis. Default none. */
    readonly keyPrefix?: string;
    readonly failMode?: RevocationFailMode;
    readonly graceMs?: number;
    readonly commandTimeoutMs?: number;
    /** How long `start()` waits for Redis before rejecting (it keeps trying). Default {@link SHARED_STATE_DEFAULTS.startTimeoutMs}. */
    readonly startTimeoutMs?: number;
  };
  /** The longest session lifetime, in ms: how long a user revocation must be kept. */
  readonly userRetentionMs?: number;
  readonly clock?: () => number;
  /** Revocation health changes (the other stores report failures per call). */
  readonly onHealth?: (health: SharedStateHealth) => void;
  /** Redis connection errors, for the log. */
  readonly onError?: (err: Error) => void;
}

/** Every shared-state store of one bouncer process. */
export interface SharedState {
  readonly backend: 'memory' | 'redis';
  readonly revocation: SharedRevocationStore;
  /** One-time login handoff `jti`s. */
  readonly handoffs: OnceStore;
  /** SAML assertion IDs (profiles §4.1.4.5). */
  readonly samlAssertions: OnceStore;
  /** SAML AuthnRequest IDs answered (`InResponseTo`), so a response is accepted once. */
  readonly samlRequests: OnceStore;
  readonly transactions: SharedTransactionStore;
  /**
   * Connect and load revocations; see {@link SharedRevocationStore.start}.
   * Rejects with `ERR_STORE_UNAVAILABLE` when Redis is not up within the start
   * timeout; everything keeps retrying and fails closed meanwhile.
   */
  start(): Promise<void>;
  /** For `/readyz`: not ok while revocations are out of sync or not yet shared. */
  health(): SharedStateHealth;
  close(): Promise<void>;
}

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

/**
 * The one place that picks the shared-state backend: memory when no Redis is
 * configured (the single-process default), Redis otherwise. `app.ts` calls
 * this and passes the pieces on; nothing else knows which backend runs.
 */
import type { Redis } from 'ioredis';
import { SHARED_STATE_DEFAULTS, type RevocationFailMode } from './shared-state-defaults.js';
import { createMemoryOnceStore } from './memory/once-store.js';
import { createMemorySharedRevocationStore } from './memory/revocation-store.js';
import { createMemorySharedTransactionStore } from './memory/transaction-store.js';
import { createRedisClient } from './redis/client.js';
import { createRedisOnceStore } from './redis/once-store.js';
import { createRedisRevocationStore } from './redis/revocation-store.js';
import { createRedisTransactionStore } from './redis/transaction-store.js';
import { waitForRedisReady } from './redis/wait-ready.js';
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
 * Build the shared-state stores for the configured backend.
 *
 * @example
 * ```ts
 * const shared = createSharedState({ redis: config.store?.redis, userRetentionMs: longestSession(config) * 1000,
 *   clock: nowFn, onHealth: (h) => metrics.sharedStateUp.set(h.ok ? 1 : 0), onError: (err) => logger.warn({ err }, 'redis') });
 * await shared.start().catch((err) => logger.warn({ err }, 'shared state not ready; failing closed until it is'));
 * ```
 */
export function createSharedState(o: SharedStateOptions): SharedState {
  const p = SHARED_STATE_DEFAULTS.prefixes;
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
  const r = o.redis;
  const ns = r.keyPrefix ?? '';
  const timeout = r.commandTimeoutMs === undefined ? {} : { commandTimeoutMs: r.commandTimeoutMs };
  const startTimeoutMs = r.startTimeoutMs ?? SHARED_STATE_DEFAULTS.startTimeoutMs;
  const redis: Redis = createRedisClient({ url: r.url, ...timeout, ...(o.onError ? { onError: o.onError } : {}) });
  const revocation = createRedisRevocationStore({
    redis,
    prefix: ns + p.revocation,
    clock,
    ...retention,
    ...timeout,
    ...(r.failMode ? { failMode: r.failMode } : {}),
    ...(r.graceMs !== undefined ? { graceMs: r.graceMs } : {}),
    startTimeoutMs,
    ...(o.onHealth ? { onHealth: o.onHealth } : {}),
  });
  return {
    backend: 'redis',
    revocation,
    handoffs: createRedisOnceStore({ redis, prefix: ns + p.handoff, ...timeout }),
    samlAssertions: createRedisOnceStore({ redis, prefix: ns + p.samlAssertion, ...timeout }),
    samlRequests: createRedisOnceStore({ redis, prefix: ns + p.samlRequest, ...timeout }),
    transactions: createRedisTransactionStore({ redis, prefix: ns + p.loginTransaction, clock, ...timeout }),
    async start() {
      // Both, in parallel: the revocation store has its own subscriber connection.
      await Promise.all([waitForRedisReady(redis, startTimeoutMs), revocation.start()]);
    },
    health: () => revocation.health(),
    async close() {
      await revocation.close();
      redis.disconnect();
    },
  };
}

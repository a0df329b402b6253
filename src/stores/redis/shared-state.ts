/**
 * The Redis backend of the shared-state stores, for several replicas; loaded by
 * `createSharedState` only when `store.redis` is configured.
 */
import type { Redis } from 'ioredis';
import type { SharedState, SharedStateOptions } from '../shared-state.js';
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';
import { createRedisClient } from './client.js';
import { createRedisOnceStore } from './once-store.js';
import { createRedisRevocationStore } from './revocation-store.js';
import { createRedisTransactionStore } from './transaction-store.js';
import { waitForRedisReady } from './wait-ready.js';

export function createRedisSharedState(o: SharedStateOptions, r: NonNullable<SharedStateOptions['redis']>): SharedState {
  const p = SHARED_STATE_DEFAULTS.prefixes;
  const clock = o.clock ?? Date.now;
  const retention = o.userRetentionMs === undefined ? {} : { userRetentionMs: o.userRetentionMs };
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

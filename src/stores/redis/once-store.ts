/**
 * {@link OnceStore} on Redis: `SET key 1 NX PX ttl` is atomic on the server,
 * so two replicas racing on the same key get exactly one `OK`.
 */
import type { Redis } from 'ioredis';
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';
import type { OnceStore } from '../shared-state.js';
import { checkTtl } from '../shared-state-ttl.js';
import { runRedisCommand } from './command.js';

/** Options of {@link createRedisOnceStore}. */
export interface RedisOnceStoreOptions {
  readonly redis: Redis;
  /** Namespace of this purpose, e.g. {@link SHARED_STATE_DEFAULTS.prefixes.handoff}. */
  readonly prefix: string;
  /** Default {@link SHARED_STATE_DEFAULTS.commandTimeoutMs}. */
  readonly commandTimeoutMs?: number;
}

/**
 * Create a Redis-backed single-use store. Expiry is Redis' own (`PX`), so
 * `nowMs` is not used; replicas' clocks do not have to agree.
 *
 * @example
 * ```ts
 * const assertions = createRedisOnceStore({ redis, prefix: SHARED_STATE_DEFAULTS.prefixes.samlAssertion });
 * if (!(await assertions.consume(assertionId, notOnOrAfterMs + skewMs - nowMs, nowMs))) throw samlInvalid('assertion replayed');
 * ```
 */
export function createRedisOnceStore(o: RedisOnceStoreOptions): OnceStore {
  const timeoutMs = o.commandTimeoutMs ?? SHARED_STATE_DEFAULTS.commandTimeoutMs;
  return {
    async consume(key, ttlMs, _nowMs, signal) {
      const px = checkTtl(ttlMs);
      const reply = await runRedisCommand('SET NX', timeoutMs, () => o.redis.set(o.prefix + key, '1', 'PX', px, 'NX'), signal);
      // `OK` when set, null when the key already existed (a replay).
      return reply === 'OK';
    },
  };
}

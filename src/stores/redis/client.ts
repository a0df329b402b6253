/**
 * A Redis client configured for shared state: fail fast instead of queueing.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';

/** Options of {@link createRedisClient}. */
export interface RedisClientOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  readonly url: string;
  /** Connection errors, for the log (ioredis prints them to stderr when nobody listens). */
  readonly onError?: (err: Error) => void;
  /** Per-command bound, also used as the connect timeout. Default {@link SHARED_STATE_DEFAULTS.commandTimeoutMs}. */
  readonly commandTimeoutMs?: number;
  /** Extra ioredis options (tests, TLS settings); they win over the defaults here. */
  readonly overrides?: Partial<RedisOptions>;
}

/**
 * Create an ioredis client that connects at once and reconnects forever.
 *
 * The offline queue is off: a command issued while disconnected fails at once
 * and the store refuses the login, instead of the request hanging until Redis
 * returns. Reconnection backs off to at most a second, so a restarted Redis is
 * picked up quickly.
 *
 * @example
 * ```ts
 * const redis = createRedisClient({ url: 'redis://127.0.0.1:6379/0', onError: (err) => logger.warn({ err }, 'redis') });
 * const handoffs = createRedisOnceStore({ redis, prefix: SHARED_STATE_DEFAULTS.prefixes.handoff });
 * // on shutdown: redis.disconnect();
 * ```
 */
export function createRedisClient(o: RedisClientOptions): Redis {
  const timeout = o.commandTimeoutMs ?? SHARED_STATE_DEFAULTS.commandTimeoutMs;
  const redis = new Redis(o.url, {
    enableOfflineQueue: false,
    // One resend of a command interrupted by a reconnect; the store's own
    // timeout has usually answered the caller by then anyway.
    maxRetriesPerRequest: 1,
    connectTimeout: timeout,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 1_000),
    ...o.overrides,
  });
  redis.on('error', o.onError ?? (() => undefined));
  return redis;
}

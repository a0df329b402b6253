/**
 * Startup helper: with the offline queue off, commands sent before the first
 * connection is up fail, so the process waits for it once before serving.
 */
import type { Redis } from 'ioredis';
import { SharedStateError } from '../shared-state-errors.js';

/**
 * Resolve once `redis` is ready; reject with `ERR_STORE_UNAVAILABLE` after
 * `timeoutMs` (the client keeps reconnecting, and the stores keep refusing
 * until it does).
 *
 * @example
 * ```ts
 * const redis = createRedisClient({ url });
 * await waitForRedisReady(redis, 5_000).catch((err) => logger.warn({ err }, 'redis not up yet; failing closed'));
 * ```
 */
export function waitForRedisReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      redis.off('ready', onReady);
      reject(new SharedStateError('ERR_STORE_UNAVAILABLE', `redis not ready within ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    redis.once('ready', onReady);
  });
}

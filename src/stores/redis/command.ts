/**
 * The one place that turns a Redis round trip into "answer or
 * `ERR_STORE_UNAVAILABLE`", so every store fails closed the same way.
 */
import { SharedStateError } from '../shared-state-errors.js';

/**
 * Run `send` and settle within `timeoutMs`. Any failure (refused, reset,
 * offline queue disabled, timeout, a Redis error reply) becomes
 * `ERR_STORE_UNAVAILABLE`: the caller cannot tell whether the write happened,
 * so it must refuse.
 *
 * A command that times out may still run later (ioredis resends unfulfilled
 * commands after a reconnect). That only ever marks a key used or a
 * transaction taken that nobody got, which refuses more, never less.
 *
 * @example
 * ```ts
 * const reply = await runRedisCommand('SET NX', 1_000, () => redis.set(key, '1', 'PX', ttlMs, 'NX'));
 * ```
 */
export function runRedisCommand<T>(what: string, timeoutMs: number, send: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = (err: unknown): void => {
      const detail = err instanceof Error ? err.message : String(err);
      reject(new SharedStateError('ERR_STORE_UNAVAILABLE', `redis ${what} failed: ${detail}`, { cause: err }));
    };
    const timer = setTimeout(() => fail(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    let pending: Promise<T>;
    try {
      pending = send();
    } catch (err) {
      clearTimeout(timer);
      fail(err);
      return;
    }
    // Settling twice is a no-op, so a late reply after the timeout is dropped.
    pending.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        fail(err);
      },
    );
  });
}

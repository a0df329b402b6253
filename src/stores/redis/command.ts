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
 * `signal` is the caller's (an ext_authz call's deadline or cancel): aborted
 * before the command is sent, the command is never sent; aborted while it is
 * in flight, the promise rejects at once with the signal's reason and the
 * late reply is dropped. Either way the caller stops waiting on Redis.
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
export function runRedisCommand<T>(what: string, timeoutMs: number, send: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const fail = (err: unknown): void => {
      done();
      const detail = err instanceof Error ? err.message : String(err);
      reject(new SharedStateError('ERR_STORE_UNAVAILABLE', `redis ${what} failed: ${detail}`, { cause: err }));
    };
    const onAbort = (): void => {
      done();
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => fail(new Error(`no reply within ${timeoutMs} ms`)), timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = send();
    } catch (err) {
      fail(err);
      return;
    }
    // Settling twice is a no-op, so a late reply after the timeout or the abort is dropped.
    pending.then(
      (v) => {
        done();
        resolve(v);
      },
      (err: unknown) => fail(err),
    );
  });
}

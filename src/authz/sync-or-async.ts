/**
 * A value now, or a promise of one later. The warm Check path is synchronous
 * from end to end (cached tenants, cached session token), and an `async`
 * function there would still cost a promise and a microtask turn per step; the
 * steps that may wait (a store query, a token's first verification) return a
 * promise only when they do.
 */
export type SyncOrAsync<T> = T | Promise<T>;

/** Applies `next` to the value at once, or once the promise settles. */
export function andThen<T, U>(value: SyncOrAsync<T>, next: (v: T) => SyncOrAsync<U>): SyncOrAsync<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

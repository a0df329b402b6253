/**
 * Errors of the shared short-lived state stores. A store throws only when it
 * cannot decide (server unreachable, capacity exhausted, unreadable data); the
 * caller turns every one of these into a refusal, so a replay is never let
 * through because the store was down.
 */
import { BouncerError } from '../core/errors.js';

/** Stable codes; adapters map them to statuses and metrics reasons. */
export type SharedStateErrorCode =
  /** The backing server is unreachable, timed out or refused the command. */
  | 'ERR_STORE_UNAVAILABLE'
  /** An in-memory store is full of live entries; forgetting one would reopen it to replay. */
  | 'ERR_STORE_FULL'
  /** A stored value could not be read back (written by something else, or truncated). */
  | 'ERR_STORE_CORRUPT';

/**
 * Raised by {@link OnceStore.consume}, {@link SharedTransactionStore} and
 * revocation lifecycle calls when the store cannot answer safely.
 *
 * @example
 * ```ts
 * try {
 *   if (!(await handoffs.consume(jti, ttlMs, nowMs))) return deny('handoff_invalid');
 * } catch (err) {
 *   if (err instanceof SharedStateError) return deny('state_unavailable'); // fail closed
 *   throw err;
 * }
 * ```
 */
export class SharedStateError extends BouncerError<SharedStateErrorCode> {}

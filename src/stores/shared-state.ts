/**
 * Interfaces of the shared short-lived state: what must hold across every
 * replica for a few seconds to a few hours (revocations, single-use IDs,
 * pending logins). Each has an in-memory implementation for the single-process
 * default and a Redis one for a fleet; both honour the same contract, which
 * `test/integration/redis-stores-contract.test.ts` runs against each.
 */
import type { RevocationStore } from '../sessions/revocation.js';
import type { LoginTransaction, TakeResult } from '../web/auth/transactions.js';

export type { RevocationStore } from '../sessions/revocation.js';
export type { LoginTransaction, TakeResult } from '../web/auth/transactions.js';

/**
 * Remembers keys that may be used once: handoff `jti`s, SAML assertion IDs,
 * SAML AuthnRequest IDs. One store per purpose (each with its own prefix).
 */
export interface OnceStore {
  /**
   * Mark `key` as used for `ttlMs`. Resolves true the first time, false on any
   * use while it is remembered. Rejects with a {@link SharedStateError}
   * (`ERR_STORE_UNAVAILABLE`, `ERR_STORE_FULL`) when it cannot tell: the
   * caller must refuse, never accept.
   *
   * `ttlMs` must cover the whole time the token could still verify (its
   * expiry plus the verifier's clock tolerance, minus `nowMs`). `nowMs` is the
   * caller's clock; the Redis backend relies on the server's expiry instead.
   */
  consume(key: string, ttlMs: number, nowMs: number): Promise<boolean>;
}

/**
 * Login transactions shared across replicas: a browser may start a login on
 * one replica and come back from the IdP to another.
 */
export interface SharedTransactionStore {
  /** Store `tx` for `ttlMs`; after that `take` reports it `expired`. */
  put(tx: LoginTransaction, ttlMs: number): Promise<void>;
  /**
   * Remove and return the transaction. Exactly one `take` of an id succeeds,
   * across all replicas; later ones report `replayed`, a late one `expired`,
   * an id never stored (or long forgotten) `unknown`. Rejects with a
   * {@link SharedStateError} when the store cannot answer.
   */
  take(id: string): Promise<TakeResult>;
}

/** Where a shared store stands, for `/readyz` and metrics. */
export interface SharedStateHealth {
  /** False whenever answers may be stale or writes are not yet shared: drives readiness and the `up` gauge. */
  readonly ok: boolean;
  /**
   * `starting`: never loaded; `synced`: mirror complete and live;
   * `unsynced`: lost Redis, answering per fail mode; `stopped`: closed.
   */
  readonly state: 'starting' | 'synced' | 'unsynced' | 'stopped';
  /** True while `isRevoked` denies every session because the state is unknown (`failMode: 'closed'`). */
  readonly denyingAll: boolean;
  /** Revocations made on this replica and not yet written to Redis. */
  readonly pendingWrites: number;
  /** Clock time of the last change of `state`. */
  readonly sinceMs: number;
  /** Last error seen while out of sync, for logs. */
  readonly error?: string;
}

/**
 * A {@link RevocationStore} with a lifecycle: the Redis one connects, keeps a
 * mirror and reports health; the memory one is always healthy.
 */
export interface SharedRevocationStore extends RevocationStore {
  /**
   * Connect and load. Resolves once the replica is in sync; rejects with
   * `ERR_STORE_UNAVAILABLE` after the start timeout, but keeps retrying in the
   * background (meanwhile `isRevoked` follows the fail mode).
   */
  start(): Promise<void>;
  /** Write every revocation made here to the shared store; rejects if that is impossible right now. */
  flush(): Promise<void>;
  health(): SharedStateHealth;
  close(): Promise<void>;
}

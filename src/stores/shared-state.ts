/**
 * Interfaces of the shared short-lived state: what must hold across every
 * replica for a few seconds to a few hours (revocations, single-use IDs,
 * pending logins). Each has an in-memory implementation for the single-process
 * default and a Redis one for a fleet; both honour the same contract, which
 * `test/integration/redis-stores-contract.test.ts` runs against each.
 */
import type { RevocationStore } from '../sessions/revocation.js';
import type { RevocationFailMode, SHARED_STATE_DEFAULTS } from '../config/defaults.js';

export type { RevocationStore } from '../sessions/revocation.js';

/** One pending login. */
export interface LoginTransaction {
  /** Random id; also the OAuth `state` / SAML `RelayState` and the tx cookie value. */
  readonly id: string;
  readonly idp: string;
  readonly app: string;
  /** Validated return URL (absolute https on one of the app's hosts). */
  readonly rd: string;
  /** Hash of the app host's binding cookie (`core/login-binding.ts`), for the handoff; absent for SaaS apps, which need no handoff. */
  readonly bind?: string | undefined;
  readonly secrets: Readonly<Record<string, string>>;
  readonly createdMs: number;
}

/** Result of taking a transaction from the store (`SharedTransactionStore.take`). */
export type TakeResult =
  | { readonly ok: true; readonly tx: LoginTransaction }
  | { readonly ok: false; readonly problem: 'unknown' | 'replayed' | 'expired' };

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
   *
   * Once `signal` aborts (the caller's deadline passed, or it left), the
   * promise rejects with the signal's reason and the caller stops waiting;
   * whether the key was marked is then unknown, which only ever refuses more.
   */
  consume(key: string, ttlMs: number, nowMs: number, signal?: AbortSignal): Promise<boolean>;
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

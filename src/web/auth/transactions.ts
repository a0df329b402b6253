/**
 * Login transactions: what the auth service must remember between sending a
 * browser to an IdP and the IdP sending it back (which app, where to return,
 * and the connector's secrets such as the PKCE verifier and nonce). Kept
 * server-side so none of it can be read or altered by the browser; each one is
 * taken exactly once.
 */

/** One pending login. */
export interface LoginTransaction {
  /** Random id; also the OAuth `state` / SAML `RelayState` and the tx cookie value. */
  readonly id: string;
  readonly idp: string;
  readonly app: string;
  /** Validated return URL (absolute https on one of the app's hosts). */
  readonly rd: string;
  readonly secrets: Readonly<Record<string, string>>;
  readonly createdMs: number;
}

/** Result of {@link LoginTransactionStore.take}. */
export type TakeResult =
  | { readonly ok: true; readonly tx: LoginTransaction }
  | { readonly ok: false; readonly problem: 'unknown' | 'replayed' | 'expired' };

/** Where login transactions live between start and callback. */
export interface LoginTransactionStore {
  put(tx: LoginTransaction, nowMs: number): void;
  /** Remove and return the transaction; a second take of the same id reports `replayed`. */
  take(id: string, nowMs: number): TakeResult;
  /** Number of pending transactions (for tests and metrics). */
  size(): number;
}

/** Options of {@link createMemoryTransactionStore}. */
export interface MemoryTransactionStoreOptions {
  /** A transaction older than this is refused as `expired`. Default 10 minutes. */
  ttlMs?: number;
  /**
   * Bound on pending transactions. When full, the oldest is dropped: anyone can
   * start logins, so an unbounded map is a memory exhaustion bug. Default 10 000.
   */
  capacity?: number;
}

/** Default lifetime of a login transaction. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;

/**
 * In-memory, single-process store. Ids of taken transactions are remembered
 * until their TTL would have run out, so a replay is reported as such (and not
 * as an unknown state) in logs and on the error page.
 *
 * @example
 * ```ts
 * const txs = createMemoryTransactionStore();
 * txs.put({ id, idp: 'okta', app: 'wiki', rd, secrets, createdMs: now }, now);
 * const r = txs.take(id, later); // r.ok → r.tx
 * ```
 */
export function createMemoryTransactionStore(o: MemoryTransactionStoreOptions = {}): LoginTransactionStore {
  const ttlMs = o.ttlMs ?? LOGIN_TRANSACTION_TTL_MS;
  const capacity = o.capacity ?? 10_000;
  // Map iteration order is insertion order, so the first key is always the oldest.
  const pending = new Map<string, LoginTransaction>();
  const taken = new Map<string, number>();

  function evict(map: Map<string, unknown>): void {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }

  function prune(nowMs: number): void {
    for (const [id, tx] of pending) {
      if (tx.createdMs + ttlMs > nowMs) break;
      pending.delete(id);
    }
    for (const [id, until] of taken) {
      if (until > nowMs) break;
      taken.delete(id);
    }
  }

  return {
    put(tx, nowMs) {
      prune(nowMs);
      while (pending.size >= capacity) evict(pending);
      pending.set(tx.id, tx);
    },
    take(id, nowMs) {
      const tx = pending.get(id);
      if (tx === undefined) {
        const until = taken.get(id);
        return { ok: false, problem: until !== undefined && until > nowMs ? 'replayed' : 'unknown' };
      }
      pending.delete(id);
      while (taken.size >= capacity) evict(taken);
      taken.set(id, tx.createdMs + ttlMs);
      if (tx.createdMs + ttlMs <= nowMs || tx.createdMs > nowMs + 60_000) return { ok: false, problem: 'expired' };
      return { ok: true, tx };
    },
    size() {
      return pending.size;
    },
  };
}

/**
 * Single use of handoff tokens: a `jti` is accepted once and remembered until
 * the token expires (after that the signature check refuses it anyway).
 */

/** Remembers consumed handoff `jti`s. */
export interface HandoffStore {
  /**
   * Mark `jti` as used (`expMs` = the token's `exp` in ms). True the first time, false on any replay, and false
   * when the store is full of unexpired entries (refusing is safer than
   * forgetting one and allowing a replay).
   */
  consume(jti: string, expMs: number, nowMs: number): boolean;
  /** Number of remembered jtis. */
  readonly size: number;
}

/** Default bound: handoffs live 60 s, so this is ~1,600 logins per second. */
export const DEFAULT_HANDOFF_CAPACITY = 100_000;

/**
 * In-memory {@link HandoffStore} for one replica.
 *
 * @example
 * ```ts
 * const handoffs = createMemoryHandoffStore();
 * if (!handoffs.consume(h.claims.jti, h.claims.exp * 1000, nowMs)) deny('handoff_invalid', 'handoff already used');
 * ```
 */
export function createMemoryHandoffStore(o: { capacity?: number; marginMs?: number } = {}): HandoffStore {
  const capacity = o.capacity ?? DEFAULT_HANDOFF_CAPACITY;
  // Kept past `exp` by more than the verifier's clock tolerance (30 s), so a
  // jti is never forgotten while its token could still verify.
  const marginMs = o.marginMs ?? 60_000;
  // Insertion order ≈ expiry order (all handoffs share one TTL), so pruning
  // from the front stops at the first live entry.
  const seen = new Map<string, number>();

  function pruneExpired(nowMs: number): void {
    for (const [jti, exp] of seen) {
      if (exp > nowMs) break;
      seen.delete(jti);
    }
  }

  return {
    consume(jti, expMs, nowMs) {
      pruneExpired(nowMs);
      const prev = seen.get(jti);
      if (prev !== undefined) {
        // Entries with out-of-order expiry may sit behind a live one; honour their expiry.
        if (prev > nowMs) return false;
        seen.delete(jti);
      }
      if (seen.size >= capacity) {
        // Full of (mostly) live entries: do a full sweep once before refusing.
        for (const [k, exp] of seen) if (exp <= nowMs) seen.delete(k);
        if (seen.size >= capacity) return false;
      }
      seen.set(jti, expMs + marginMs);
      return true;
    },
    get size() {
      return seen.size;
    },
  };
}

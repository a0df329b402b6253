/**
 * Session revocation: per session (`sid`) and per user (every session issued
 * before a moment). In memory for a single replica; the fleet issue puts the
 * same interface on a shared store.
 */
import type { SessionClaims } from '../core/session-token.js';

/** Where revocations are kept. Checked on every request after the signature, so lookups stay O(1). */
export interface RevocationStore {
  /** Refuse session `sid` until `untilMs` (its expiry; after that the token is dead anyway). */
  revokeSession(sid: string, untilMs: number): void;
  /**
   * Refuse every session of `sub` issued before `beforeMs`. `iat` has second
   * precision, so a session issued in the same second as `beforeMs` but
   * earlier is caught too; a login in that same second after the revocation is
   * also refused (fail closed) and simply needs another login.
   */
  revokeUser(sub: string, beforeMs: number): void;
  /** Whether these verified claims belong to a revoked session. */
  isRevoked(claims: Pick<SessionClaims, 'sid' | 'sub' | 'iat'>, nowMs: number): boolean;
}

/**
 * Revoke a sign-in: the session `claims` came from, and every other session
 * derived from the same sign-in. They all carry its `sid` (the global session
 * on the auth domain, each app session minted from it by a handoff, the SaaS
 * sessions built on it), but each has its own `exp`: an app session may end
 * hours before the global session it came from. So the revocation lasts until
 * the latest of them could expire, not until `claims.exp`: every derived
 * session was issued by now and lives at most `longestSessionMs` (the longest
 * session duration in the config), and none is derived after the revocation
 * (the global session it would come from is refused too).
 *
 * @returns when the revocation ends, in ms since epoch.
 * @example
 * ```ts
 * revokeSignIn(revocations, claims, nowMs, longestSessionSec * 1000);
 * ```
 */
export function revokeSignIn(store: Pick<RevocationStore, 'revokeSession'>, claims: Pick<SessionClaims, 'sid' | 'exp'>, nowMs: number, longestSessionMs: number): number {
  const untilMs = Math.max(claims.exp * 1000, nowMs + longestSessionMs);
  store.revokeSession(claims.sid, untilMs);
  return untilMs;
}

/** Options for {@link createMemoryRevocationStore}. */
export interface MemoryRevocationOptions {
  /**
   * Forget a user revocation this long after its `beforeMs`: the longest
   * session duration is enough, since every session issued before then has
   * expired. Default: keep forever (one entry per revoked user).
   */
  userRetentionMs?: number;
}

/**
 * In-memory {@link RevocationStore}. Expired entries are pruned lazily.
 *
 * @example
 * ```ts
 * const revocations = createMemoryRevocationStore({ userRetentionMs: longestSessionSec * 1000 });
 * revocations.revokeSession(claims.sid, claims.exp * 1000);
 * if (revocations.isRevoked(claims, nowMs)) deny('session_revoked');
 * ```
 */
export function createMemoryRevocationStore(o: MemoryRevocationOptions = {}): RevocationStore & { prune(nowMs: number): void } {
  const sessions = new Map<string, number>();
  const users = new Map<string, number>();
  let lastPruneMs = -Infinity;

  function prune(nowMs: number): void {
    for (const [sid, until] of sessions) if (until <= nowMs) sessions.delete(sid);
    if (o.userRetentionMs !== undefined) {
      for (const [sub, before] of users) if (before + o.userRetentionMs <= nowMs) users.delete(sub);
    }
    lastPruneMs = nowMs;
  }

  return {
    revokeSession(sid, untilMs) {
      const prev = sessions.get(sid);
      sessions.set(sid, prev === undefined ? untilMs : Math.max(prev, untilMs));
    },
    revokeUser(sub, beforeMs) {
      const prev = users.get(sub);
      users.set(sub, prev === undefined ? beforeMs : Math.max(prev, beforeMs));
    },
    isRevoked(claims, nowMs) {
      // Prune at most once a minute so a check stays cheap.
      if (nowMs - lastPruneMs >= 60_000) prune(nowMs);
      const until = sessions.get(claims.sid);
      if (until !== undefined && nowMs < until) return true;
      const before = users.get(claims.sub);
      // `iat` is whole seconds: compare on the second grid, revoking ties.
      if (before !== undefined && claims.iat <= Math.floor(before / 1000)) return true;
      return false;
    },
    prune,
  };
}

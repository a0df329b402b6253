/**
 * Cache of verified session tokens for ext_authz, so repeat requests skip the
 * signature check. Keyed by issuer, audience and the token string: a token
 * verified for app A is never a cache hit for app B. Entries expire at the
 * token's `exp` (by the caller's clock) and the cache is bounded in entries
 * and bytes. Failures are not cached (an attacker could fill the cache), and
 * revocation is not cached: check it on every request after this.
 */
import { LRUCache } from 'lru-cache';
import { verifySession } from '../core/session-token.js';
import type { SessionClaims, VerifySessionResult, VerifyTokenOptions } from '../core/session-token.js';

/** Options for {@link createTokenCache}. */
export interface TokenCacheOptions {
  /** Most entries kept. Default 10,000. */
  maxEntries?: number;
  /** Most token bytes kept (sum of token lengths). Default 32 MiB. */
  maxBytes?: number;
}

/** Verified-token cache in front of {@link verifySession}. */
export interface TokenCache {
  /** Same contract as {@link verifySession}; a hit returns the cached claims without a signature check. */
  verify(token: string, o: VerifyTokenOptions): Promise<VerifySessionResult>;
  /** Drop everything (e.g. after a key was withdrawn). */
  clear(): void;
  readonly size: number;
}

/**
 * @example
 * ```ts
 * const cache = createTokenCache();
 * const r = await cache.verify(cookie, { keys, issuer, audience: app.name, nowMs });
 * ```
 */
export function createTokenCache(o: TokenCacheOptions = {}): TokenCache {
  const cache = new LRUCache<string, SessionClaims>({
    max: o.maxEntries ?? 10_000,
    maxSize: o.maxBytes ?? 32 * 1024 * 1024,
    sizeCalculation: (_claims, key) => key.length,
  });
  return {
    async verify(token, opts) {
      // NUL cannot occur in an issuer, audience or compact JWT, so keys cannot collide.
      const key = `${opts.issuer}\0${opts.audience}\0${token}`;
      const hit = cache.get(key);
      if (hit !== undefined) {
        if (opts.nowMs < hit.exp * 1000) return { ok: true, claims: hit };
        // Past exp: forget it and let full verification give the precise answer.
        cache.delete(key);
      }
      const r = await verifySession(token, opts);
      if (r.ok) {
        const ttl = r.claims.exp * 1000 - opts.nowMs;
        // lru-cache's own TTL runs on the process clock; it only frees memory
        // early. Correctness comes from the exp check above on the caller's clock.
        if (ttl > 0) {
          // Shared across requests: freeze so no caller can alter what the next one sees.
          Object.freeze(r.claims.groups);
          Object.freeze(r.claims.amr);
          cache.set(key, Object.freeze(r.claims), { ttl });
        }
      }
      return r;
    },
    clear: () => cache.clear(),
    get size() {
      return cache.size;
    },
  };
}

/**
 * Cache of verified session tokens for ext_authz, so repeat requests skip the
 * signature check. A hit needs the same issuer, audience and token string: a
 * token verified for app A is never a cache hit for app B. Entries expire at
 * the token's `exp` (by the caller's clock) and the cache is bounded in entries
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
  /**
   * The claims of a token verified earlier for this issuer and audience and not
   * yet expired by `o.nowMs`; undefined otherwise (then call {@link verify}).
   * Synchronous, so a warm check needs no promise.
   */
  peek(token: string, o: VerifyTokenOptions): SessionClaims | undefined;
  /** Drop everything (e.g. after a key was withdrawn). */
  clear(): void;
  readonly size: number;
}

interface Entry {
  readonly token: string;
  readonly issuer: string;
  readonly audience: string;
  readonly claims: SessionClaims;
}

/**
 * Entries are found by the token's signature segment and then compared in
 * full. Hashing a short segment instead of the whole token (several hundred
 * characters, sliced anew from each request's Cookie header) was the cache's
 * main cost on a hit; a token that only shares a signature with a cached one
 * is no hit, and it fails verification, so it cannot displace that entry.
 */
function lookupKey(token: string): string {
  return token.slice(token.lastIndexOf('.') + 1);
}

/**
 * @example
 * ```ts
 * const cache = createTokenCache();
 * const r = cache.peek(cookie, o) ?? (await cache.verify(cookie, o));
 * ```
 */
export function createTokenCache(o: TokenCacheOptions = {}): TokenCache {
  const cache = new LRUCache<string, Entry>({
    max: o.maxEntries ?? 10_000,
    maxSize: o.maxBytes ?? 32 * 1024 * 1024,
    sizeCalculation: (entry) => entry.token.length,
  });

  function peek(token: string, opts: VerifyTokenOptions): SessionClaims | undefined {
    const key = lookupKey(token);
    const hit = cache.get(key);
    if (hit === undefined || hit.token !== token || hit.issuer !== opts.issuer || hit.audience !== opts.audience) return undefined;
    if (opts.nowMs < hit.claims.exp * 1000) return hit.claims;
    // Past exp: forget it and let full verification give the precise answer.
    cache.delete(key);
    return undefined;
  }

  return {
    peek,
    async verify(token, opts) {
      const hit = peek(token, opts);
      if (hit !== undefined) return { ok: true, claims: hit };
      const r = await verifySession(token, opts);
      if (r.ok) {
        const ttl = r.claims.exp * 1000 - opts.nowMs;
        // lru-cache's own TTL runs on the process clock; it only frees memory
        // early. Correctness comes from the exp check in peek on the caller's clock.
        if (ttl > 0) {
          // Shared across requests: freeze so no caller can alter what the next one sees.
          Object.freeze(r.claims.groups);
          Object.freeze(r.claims.amr);
          cache.set(lookupKey(token), { token, issuer: opts.issuer, audience: opts.audience, claims: Object.freeze(r.claims) }, { ttl });
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

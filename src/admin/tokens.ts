/**
 * Bearer tokens of the admin API (RFC 6750). The config holds each token's
 * SHA-256, never the token: a leaked config file or log does not hand out
 * admin access, and tokens are long random strings, so an unsalted fast hash
 * is enough (there is no password to guess).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import type { AdminToken } from '../config/types.js';

/** A configured token is part of the config (`admin.tokens`); its type lives there. */
export type { AdminToken };

/** The outcome of checking an `Authorization` header; the reason feeds the log and the `WWW-Authenticate` error. */
export type Authentication =
  | { readonly ok: true; readonly token: AdminToken }
  | { readonly ok: false; readonly reason: 'missing' | 'malformed' | 'unknown' };

/** `Bearer` is case-insensitive (RFC 7235 §2.1); the token is RFC 6750 §2.1 b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Finds the configured token the `Authorization` header carries. The presented
 * token is hashed and compared with every configured hash in constant time,
 * without stopping at a match, so timing tells nothing about which hashes
 * exist or how much of one matched.
 *
 * @example
 * ```ts
 * const auth = authenticateBearer(req.headers.authorization, config.admin.tokens);
 * if (!auth.ok) return reply401(auth.reason);
 * ```
 */
export function authenticateBearer(header: string | undefined, tokens: readonly AdminToken[]): Authentication {
  if (header === undefined || header.trim() === '') return { ok: false, reason: 'missing' };
  if (header.length > ADMIN_DEFAULTS.maxTokenChars + 16) return { ok: false, reason: 'malformed' };
  const m = BEARER.exec(header);
  if (!m?.[1]) return { ok: false, reason: 'malformed' };
  const presented = createHash('sha256').update(m[1], 'utf8').digest();
  let found: AdminToken | undefined;
  for (const t of tokens) {
    const expected = Buffer.from(t.secretSha256, 'hex');
    // A malformed configured hash (never produced by the config loader) can only fail.
    const same = expected.length === presented.length && timingSafeEqual(expected, presented);
    if (same && found === undefined) found = t;
  }
  return found ? { ok: true, token: found } : { ok: false, reason: 'unknown' };
}

/**
 * The value to write as `secret_sha256` for a token, the same as
 * `printf %s "$TOKEN" | sha256sum`.
 */
export function hashAdminToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

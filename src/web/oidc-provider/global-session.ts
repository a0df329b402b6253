/**
 * Reading the global session (AUTH_COOKIE on the auth domain) outside the
 * login service's own routes: the OIDC provider's interactions and the App
 * Launcher. Same checks as the login service: signature by one of our keys,
 * issuer and audience = the auth domain, not expired, not revoked.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { AuthConfig } from '../../config/types.js';
import { verifySession, type SessionClaims } from '../../core/session-token.js';
import { AUTH_COOKIE, readCookie } from '../../sessions/cookies.js';
import type { KeyStore } from '../../sessions/key-store.js';
import type { RevocationStore } from '../../sessions/revocation.js';

/** What reading the global session needs. */
export interface GlobalSessionDeps {
  keys: Pick<KeyStore, 'verifyKeys'>;
  revocation: Pick<RevocationStore, 'isRevoked'>;
}

/**
 * The verified global session of a request, or undefined (none, invalid,
 * expired or revoked; the reason is logged at info, never the token).
 *
 * @example
 * ```ts
 * const session = await readGlobalSession(req.headers, auth, deps, Date.now(), req.log);
 * if (session === undefined) return reply.redirect('/login?launcher=1');
 * ```
 */
export async function readGlobalSession(
  headers: IncomingHttpHeaders,
  auth: AuthConfig,
  deps: GlobalSessionDeps,
  nowMs: number,
  log: Pick<Logger, 'info'>,
): Promise<SessionClaims | undefined> {
  const token = readCookie(headers.cookie, AUTH_COOKIE);
  if (token === undefined) return undefined;
  const r = await verifySession(token, { keys: deps.keys.verifyKeys(), issuer: auth.domain, audience: auth.domain, nowMs });
  if (!r.ok) {
    log.info({ reason: r.reason }, 'global session refused');
    return undefined;
  }
  if (deps.revocation.isRevoked(r.claims, nowMs)) return undefined;
  return r.claims;
}

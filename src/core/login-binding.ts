/**
 * Binding a sign-in to the browser that started it, across hosts.
 *
 * When ext_authz sends a browser from an app host to the login service it sets
 * a short-lived `__Host-` cookie holding a random value on the app host, and
 * puts the value's SHA-256 in the login URL (`bind`). The login service copies
 * that hash into the handoff token; the handoff on the app host completes only
 * when the browser presents the cookie whose hash the token carries. A handoff
 * link minted in one browser is then worthless in another, which stops login
 * CSRF (an insider sending their own sign-in link to a victim). The same
 * pattern binds OAuth `state` to a browser (RFC 6749 §10.12, RFC 9700 §4.7.1).
 */
import { createHash } from 'node:crypto';

/** A binding value and its hash: 32 random bytes and a SHA-256, both base64url (43 characters). */
export const LOGIN_BINDING_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/** How long the binding cookie lives: as long as a login transaction (10 minutes), after which the sign-in is stale anyway. */
export const LOGIN_BINDING_TTL_SEC = 600;

/**
 * The hash of a binding cookie's value, as carried by the login URL and the handoff token.
 *
 * @example
 * ```ts
 * const bind = hashLoginBinding(cookieValue); // 43 base64url characters
 * ```
 */
export function hashLoginBinding(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('base64url');
}

/** Why a handoff is not bound to this browser. */
export type LoginBindingProblem = 'binding_missing_in_token' | 'binding_cookie_missing' | 'binding_mismatch';

/**
 * Whether the browser's binding cookie (`cookieValue`) is the one the handoff
 * token names (`tokenHash`). Both compared as hashes of equal length, so the
 * comparison leaks nothing useful through its timing.
 *
 * @example
 * ```ts
 * const problem = checkLoginBinding(claims.bind, readCookie(header, BIND_COOKIE));
 * if (problem !== undefined) deny('handoff_browser_mismatch', problem);
 * ```
 */
export function checkLoginBinding(tokenHash: string | undefined, cookieValue: string | undefined): LoginBindingProblem | undefined {
  if (tokenHash === undefined || !LOGIN_BINDING_FORMAT.test(tokenHash)) return 'binding_missing_in_token';
  if (cookieValue === undefined || !LOGIN_BINDING_FORMAT.test(cookieValue)) return 'binding_cookie_missing';
  const actual = hashLoginBinding(cookieValue);
  let diff = 0;
  for (let i = 0; i < actual.length; i++) diff |= actual.charCodeAt(i) ^ tokenHash.charCodeAt(i);
  return diff === 0 ? undefined : 'binding_mismatch';
}

/**
 * The app-host half of binding a sign-in to a browser (`core/login-binding.ts`):
 * the redirect to the login service sets the binding cookie and names its hash.
 * Only denials that send a browser to sign in pass through here, never the
 * allow path.
 */
import { randomBytes } from 'node:crypto';
import type { Decision } from '../core/decision.js';
import { hashLoginBinding, LOGIN_BINDING_FORMAT, LOGIN_BINDING_TTL_SEC } from '../core/login-binding.js';
import { BIND_COOKIE, readCookie, serializeCookie } from '../sessions/cookies.js';

/**
 * `decision` with the binding added when it is a redirect to the login
 * service: a `Set-Cookie` of the binding cookie on the app host and `bind=<hash>`
 * in the login URL. A binding cookie the browser already holds is kept (and its
 * lifetime renewed), so sign-ins started in two tabs both complete.
 *
 * @example
 * ```ts
 * const bound = bindLoginRedirect(evaluate(input, ctx), cookieHeader);
 * ```
 */
export function bindLoginRedirect(decision: Decision, cookieHeader: string | undefined, random: (bytes: number) => Buffer = randomBytes): Decision {
  if (decision.allow || decision.reason !== 'login_required' || decision.location === undefined) return decision;
  const held = readCookie(cookieHeader, BIND_COOKIE);
  const value = held !== undefined && LOGIN_BINDING_FORMAT.test(held) ? held : random(32).toString('base64url');
  const location = `${decision.location}${decision.location.includes('?') ? '&' : '?'}bind=${hashLoginBinding(value)}`;
  return {
    ...decision,
    location,
    setCookies: [...(decision.setCookies ?? []), serializeCookie(BIND_COOKIE, value, { maxAgeSec: LOGIN_BINDING_TTL_SEC })],
  };
}

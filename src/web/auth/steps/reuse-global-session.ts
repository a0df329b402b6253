import { identityFromClaims } from '../../../core/session-token.js';
import { need, type SignInContext } from '../context.js';
import { needsReauth } from '../reauth.js';

/**
 * Signed in already, at an IdP this app accepts: the sign-in is the session's.
 * An RP's prompt=login or max_age (via bouncer's OIDC provider) wants a fresh
 * sign-in at the IdP instead.
 */
export function reuseGlobalSession(ctx: SignInContext): undefined {
  const session = ctx.globalSession;
  if (session === undefined || !need(ctx, 'app').idps.includes(session.idp) || needsReauth(ctx.reauth, session, ctx.nowMs)) return undefined;
  ctx.signIn = { identity: identityFromClaims(session), session };
  return undefined;
}

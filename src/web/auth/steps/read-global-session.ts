import { verifySession } from '../../../core/session-token.js';
import { AUTH_COOKIE, readCookie } from '../../../sessions/cookies.js';
import { need, type SignInContext } from '../context.js';

/** The global session from AUTH_COOKIE, if valid and not revoked. */
export async function readGlobalSession(ctx: SignInContext): Promise<undefined> {
  const auth = need(ctx, 'auth');
  const { keys, revocation } = ctx.services.deps;
  const token = readCookie(ctx.req.headers.cookie, AUTH_COOKIE);
  if (token === undefined) return undefined;
  const r = await verifySession(token, { keys: keys.verifyKeys(), issuer: auth.domain, audience: auth.domain, nowMs: ctx.nowMs });
  if (!r.ok) {
    ctx.req.log.info({ reason: r.reason }, 'global session refused');
    return undefined;
  }
  if (revocation.isRevoked(r.claims, ctx.nowMs)) return undefined;
  ctx.globalSession = r.claims;
  return undefined;
}

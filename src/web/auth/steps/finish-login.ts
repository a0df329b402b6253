import type { FastifyReply } from 'fastify';
import type { AuthConfig } from '../../../config/types.js';
import { locationOnOrigin, type ReturnTarget } from '../../../core/return-url.js';
import { signHandoff, type SessionClaims } from '../../../core/session-token.js';
import { webError } from '../errors.js';
import { baseUrl, need, type SignInContext } from '../context.js';
import type { LoginApp } from '../login-apps.js';

/** Path on every app host where ext_authz completes the handoff. */
export const HANDOFF_PATH = '/.bouncer/handoff';

const BIND_MISSING_TEXT = 'This sign-in was not started from the application in this browser. Please open the application and sign in again.';

/**
 * After sign-in: the app host via a handoff bound to this browser, or, for a
 * SaaS app, back to its endpoint on this host. Either way the Location is
 * built from the validated origin and path, never from the raw `rd`.
 */
export async function finishLogin(ctx: SignInContext): Promise<FastifyReply | undefined> {
  if (ctx.signIn === undefined) return undefined;
  // A wrong step table must not hand off someone the policies never saw.
  if (ctx.policyAllowed !== true) throw new Error(`sign-in step table: ${ctx.endpoint} reached finishLogin without checkPolicy`);
  const auth = need(ctx, 'auth');
  const app = need(ctx, 'app');
  const rd = need(ctx, 'rd');
  if (app.saas === true) return ctx.reply.redirect(locationOnOrigin(baseUrl(ctx, auth), rd), 302);
  // Checked when the login began; a transaction without it is refused rather than handed off unbound.
  if (ctx.bind === undefined) throw webError('login_unbound', BIND_MISSING_TEXT);
  const token = await signHandoff(handoffClaims(auth, app, ctx.signIn.session, rd, ctx.bind, ctx.nowMs), ctx.services.deps.keys.current(), ctx.nowMs);
  return ctx.reply.redirect(`${rd.origin}${HANDOFF_PATH}?${new URLSearchParams({ token }).toString()}`, 302);
}

/** The session as the app host will see it, for this app and no longer than the app allows. */
function handoffClaims(auth: AuthConfig, app: LoginApp, session: SessionClaims, rd: ReturnTarget, bind: string, nowMs: number): Parameters<typeof signHandoff>[0] {
  const nowSec = Math.floor(nowMs / 1000);
  return {
    iss: auth.domain,
    sub: session.sub,
    aud: app.name,
    ...(session.email !== undefined ? { email: session.email } : {}),
    ...(session.name !== undefined ? { name: session.name } : {}),
    groups: session.groups,
    idp: session.idp,
    idp_type: session.idp_type,
    amr: session.amr,
    ...(session.country !== undefined ? { country: session.country } : {}),
    ...(session.cert_fp !== undefined ? { cert_fp: session.cert_fp } : {}),
    auth_time: session.auth_time,
    sid: session.sid,
    rd: rd.href,
    session_exp: Math.min(nowSec + app.sessionDurationSec, session.exp),
    bind,
  };
}

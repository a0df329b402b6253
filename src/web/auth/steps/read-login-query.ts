import type { SignInContext } from '../context.js';
import { readReauth } from '../reauth.js';

/** The app, return URL, binding and fresh-sign-in request a login link names (unless `launcherLogin` already decided). */
export function readLoginQuery(ctx: SignInContext): undefined {
  if (ctx.asked !== undefined) return undefined;
  const q = ctx.req.query as Record<string, unknown>;
  ctx.asked = { app: q.app, rd: q.rd, bind: q.bind, idp: (ctx.req.params as { idp?: string }).idp };
  ctx.reauth = readReauth(q);
  return undefined;
}

import { baseUrl, need, type SignInContext } from '../context.js';
import { LAUNCHER_APP } from '../login-apps.js';

/** `/login?launcher=1`: sign in to see the App Launcher, returning to `/`; the rest of the query is ignored. */
export function launcherLogin(ctx: SignInContext): undefined {
  if ((ctx.req.query as Record<string, unknown>).launcher !== '1') return undefined;
  ctx.asked = { app: LAUNCHER_APP, rd: `${baseUrl(ctx, need(ctx, 'auth'))}/` };
  return undefined;
}

import { webError } from '../errors.js';
import { need, type SignInContext } from '../context.js';
import { findLoginApp } from '../login-apps.js';

/** The app the sign-in is for (an app, a SaaS app, or the App Launcher). */
export function loadApp(ctx: SignInContext): undefined {
  const deps = ctx.services.deps;
  const app = findLoginApp(deps.config(), [...deps.connectors().keys()], need(ctx, 'asked').app);
  if (app === undefined) throw webError('app_unknown', 'This sign-in link names no known application.');
  ctx.app = app;
  return undefined;
}

import { webError } from '../errors.js';
import type { SignInContext } from '../context.js';

/** The `auth` section; without it there is no sign-in at all. */
export function loadAuth(ctx: SignInContext): undefined {
  const auth = ctx.services.deps.config().auth;
  if (auth === undefined) throw webError('auth_not_configured', 'Sign-in is not configured.');
  ctx.auth = auth;
  return undefined;
}

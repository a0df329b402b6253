import { LOGIN_BINDING_FORMAT } from '../../../core/login-binding.js';
import { need, type SignInContext } from '../context.js';

/**
 * The browser binding named by the login URL (`bind`, set by ext_authz with
 * its cookie on the app host). SaaS apps come back to this host and need none.
 */
export function readBinding(ctx: SignInContext): undefined {
  const raw = need(ctx, 'asked').bind;
  ctx.bind = need(ctx, 'app').saas !== true && typeof raw === 'string' && LOGIN_BINDING_FORMAT.test(raw) ? raw : undefined;
  return undefined;
}

import { LoginError } from '../../idp/connector.js';
import type { SignInContext } from '../context.js';

/**
 * The IdP's answer. SAML POST binding and form_post deliver it as a form (kept
 * as URLSearchParams by the server's body parser), so connectors see exactly
 * what GET callbacks give them.
 */
export function readCallback(ctx: SignInContext): undefined {
  const req = ctx.req;
  if (req.method === 'POST') {
    if (!(req.body instanceof URLSearchParams)) throw new LoginError('login_idp_error', 'callback body is not a form');
    ctx.callbackParams = req.body;
    return undefined;
  }
  const url = req.raw.url ?? '';
  const q = url.indexOf('?');
  ctx.callbackParams = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  return undefined;
}

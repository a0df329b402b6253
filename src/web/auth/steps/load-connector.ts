import { webError } from '../errors.js';
import { need, type SignInContext } from '../context.js';

/** The IdP connector named by the request, if the app offers that IdP. */
export function loadConnector(ctx: SignInContext): undefined {
  const idp = need(ctx, 'asked').idp;
  const connector = idp !== undefined && need(ctx, 'app').idps.includes(idp) ? ctx.services.deps.connectors().get(idp) : undefined;
  if (connector === undefined) throw webError('idp_not_allowed', 'This identity provider is not offered for this application.');
  ctx.connector = connector;
  return undefined;
}

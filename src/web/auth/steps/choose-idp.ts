import type { FastifyReply } from 'fastify';
import type { IdpConnector } from '../../idp/connector.js';
import { webError } from '../errors.js';
import { need, type SignInContext } from '../context.js';
import { renderChooserPage } from '../pages.js';
import { reauthParams } from '../reauth.js';

/** The app's IdPs: with one, sign in there; with several, the chooser page links to `/login/:idp` for each. */
export function chooseIdp(ctx: SignInContext): FastifyReply | undefined {
  const app = need(ctx, 'app');
  const connectors = ctx.services.deps.connectors();
  const offered = app.idps.map((id) => connectors.get(id)).filter((c): c is IdpConnector => c !== undefined);
  if (offered.length === 0) throw webError('idp_unavailable', 'No identity provider is available for this application.');
  if (offered.length === 1) {
    ctx.connector = offered[0]!;
    return undefined;
  }
  const query = new URLSearchParams({ app: app.name, rd: need(ctx, 'rd').href, ...(ctx.bind !== undefined ? { bind: ctx.bind } : {}), ...reauthParams(ctx.reauth) }).toString();
  const html = renderChooserPage({
    appName: app.name,
    entries: offered.map((c) => ({ displayName: c.displayName, href: `/login/${encodeURIComponent(c.id)}?${query}` })),
  });
  return ctx.reply.type('text/html; charset=utf-8').send(html);
}

import type { FastifyReply } from 'fastify';
import type { IdpConnector } from '../../idp/connector.js';
import type { SamlConnector } from '../../idp/saml-sp.js';
import { webError } from '../errors.js';
import { baseUrl, need, type SignInContext } from '../context.js';

/**
 * Our SP metadata for an upstream SAML IdP, for its admin to import (SAML metadata §2.4.4):
 * entity ID, the POST ACS (`/callback/<id>` on the public URL) and the NameID format we ask for.
 */
export function samlMetadata(ctx: SignInContext): FastifyReply {
  const id = (ctx.req.params as { idp: string }).idp;
  const connector = ctx.services.deps.connectors().get(id);
  if (connector === undefined || !isSamlConnector(connector)) throw webError('not_found', 'There is no SAML identity provider with this id.');
  ctx.reply.header('cache-control', 'public, max-age=300');
  return ctx.reply.type('application/samlmetadata+xml; charset=utf-8').send(connector.spMetadata(`${baseUrl(ctx, need(ctx, 'auth'))}/callback/${connector.id}`));
}

function isSamlConnector(c: IdpConnector): c is SamlConnector {
  return c.type === 'saml' && typeof (c as Partial<SamlConnector>).spMetadata === 'function';
}

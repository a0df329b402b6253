import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import { LOGIN_TRANSACTION_TTL_MS } from '../transactions.js';
import { baseUrl, need, viaSharedStore, type SignInContext } from '../context.js';
import { txCookie } from '../tx-cookie.js';

/** Start a login at the connector: new transaction, tx cookie, redirect to the IdP. */
export async function beginLogin(ctx: SignInContext): Promise<FastifyReply> {
  const connector = need(ctx, 'connector');
  const app = need(ctx, 'app');
  const rd = need(ctx, 'rd');
  const bind = ctx.bind;
  const id = randomBytes(32).toString('base64url');
  const { redirectUrl, secrets } = await connector.start({ callbackUrl: `${baseUrl(ctx, need(ctx, 'auth'))}/callback/${connector.id}`, transactionId: id, reauth: ctx.reauth });
  await viaSharedStore('saving the login transaction', () =>
    ctx.services.transactions.put({ id, idp: connector.id, app: app.name, rd: rd.href, ...(bind !== undefined ? { bind } : {}), secrets, createdMs: ctx.nowMs }, LOGIN_TRANSACTION_TTL_MS),
  );
  ctx.reply.header('set-cookie', txCookie(id, Math.floor(LOGIN_TRANSACTION_TTL_MS / 1000)));
  return ctx.reply.redirect(redirectUrl, 302);
}

import type { FastifyReply } from 'fastify';
import { need, type SignInContext } from '../context.js';

/**
 * No browser binding (a bookmarked or hand-made login link): back to the app,
 * whose redirect to sign in sets the binding cookie on its host and names it here.
 */
export function requireBinding(ctx: SignInContext): FastifyReply | undefined {
  if (need(ctx, 'app').saas === true || ctx.bind !== undefined) return undefined;
  return ctx.reply.redirect(need(ctx, 'rd').href, 302);
}

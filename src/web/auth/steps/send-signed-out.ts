import type { FastifyReply } from 'fastify';
import { AUTH_COOKIE, clearCookie } from '../../../sessions/cookies.js';
import type { SignInContext } from '../context.js';
import { wantsJson } from '../errors.js';
import { renderSignedOutPage } from '../pages.js';
import { CLEAR_TX_COOKIE } from '../tx-cookie.js';

/** Logout's answer: both cookies cleared, whether or not there was a session. */
export function sendSignedOut(ctx: SignInContext): FastifyReply {
  const { req, reply } = ctx;
  reply.header('set-cookie', [clearCookie(AUTH_COOKIE), CLEAR_TX_COOKIE]);
  if (wantsJson(req)) return reply.type('application/json').send({ status: 'signed_out', request_id: req.id });
  return reply.type('text/html; charset=utf-8').send(renderSignedOutPage());
}

import type { FastifyReply } from 'fastify';
import { WEB_ERROR_STATUS } from '../../http-status.js';
import type { SignInContext } from '../context.js';

/** `/me`: who the global session says the browser is, or 401. */
export function showSession(ctx: SignInContext): FastifyReply {
  const { req, reply } = ctx;
  const session = ctx.globalSession;
  if (session === undefined) return reply.code(WEB_ERROR_STATUS.login_required).type('application/json').send({ error: 'login_required', request_id: req.id });
  return reply.type('application/json').send({
    sub: session.sub,
    email: session.email ?? null,
    name: session.name ?? null,
    groups: session.groups,
    idp: { id: session.idp, type: session.idp_type },
    amr: session.amr,
    country: session.country ?? null,
    auth_time: session.auth_time,
    sid: session.sid,
    exp: session.exp,
  });
}

/** The provider's refusals, on the login service's deny page: oidc-provider's own errors, and the interaction's. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CONTENT_SECURITY_POLICY, renderDenyPage } from '../auth/pages.js';
import { POLICY_DENIED_STATUS, WEB_ERROR_STATUS, type WebErrorCode } from '../http-status.js';
import type { OidcCtx } from './lib.js';

/** oidc-provider's `renderError`: an error it cannot send back to the client (a bad client or redirect URI). */
export function renderProviderError(ctx: OidcCtx, out: { error?: unknown; error_description?: unknown }): void {
  const code = typeof out.error === 'string' ? out.error : 'invalid_request';
  const detail = typeof out.error_description === 'string' ? out.error_description : 'The sign-in request was refused.';
  const requestId = ctx.get('x-request-id');
  ctx.type = 'text/html; charset=utf-8';
  ctx.set('content-security-policy', CONTENT_SECURITY_POLICY);
  ctx.body = renderDenyPage({
    title: 'Sign-in failed',
    message: detail,
    reason: code,
    policy: undefined,
    requestId: requestId === '' ? 'unknown' : requestId,
    app: undefined,
    user: undefined,
  });
}

/** The interaction's refusal page, with the status of `code`. */
export function refuseInteraction(req: FastifyRequest, reply: FastifyReply, code: WebErrorCode, message: string): FastifyReply {
  return refusalPage(req, reply, WEB_ERROR_STATUS[code], code, message, {});
}

/** A policy refused the user: the page names the policy's reason and the policy. */
export function refusePolicy(req: FastifyRequest, reply: FastifyReply, reason: string, message: string, extra: { app?: string; user?: string; policy?: string }): FastifyReply {
  return refusalPage(req, reply, POLICY_DENIED_STATUS, reason, message, extra);
}

function refusalPage(req: FastifyRequest, reply: FastifyReply, status: number, reason: string, message: string, extra: { app?: string; user?: string; policy?: string }): FastifyReply {
  reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  reply.header('cache-control', 'no-store');
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(
      renderDenyPage({
        title: reason.startsWith('policy_') ? 'Access denied' : 'Sign-in failed',
        message,
        reason,
        policy: extra.policy,
        requestId: req.id,
        app: extra.app,
        user: extra.user,
      }),
    );
}

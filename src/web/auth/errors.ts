/**
 * The auth service's refusals and how they are shown: one error class, the
 * text of each login error, and the one renderer (HTML deny page, or JSON for
 * clients that ask for it). Statuses come from `web/http-status.ts`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BouncerError } from '../../core/errors.js';
import type { LoginErrorCode } from '../idp/connector.js';
import { POLICY_DENIED_STATUS, WEB_ERROR_STATUS, type WebErrorCode } from '../http-status.js';
import { renderDenyPage } from './pages.js';

/** A refusal to render: HTTP status, stable code, human message, optional policy name. */
export class AuthHttpError extends BouncerError<string> {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly policy?: string,
    readonly extra?: { app?: string; user?: string },
  ) {
    super(code, message);
  }
}

/** A refusal with its status from the web service's table. */
export function webError(code: WebErrorCode, message: string): AuthHttpError {
  return new AuthHttpError(WEB_ERROR_STATUS[code], code, message);
}

/** A policy refused the user: the page names the policy's reason and the policy. */
export function policyDenied(reason: string, message: string, policy: string | undefined, extra: { app?: string; user?: string }): AuthHttpError {
  return new AuthHttpError(POLICY_DENIED_STATUS, reason, message, policy, extra);
}

export const LOGIN_ERROR_TEXT: Readonly<Record<LoginErrorCode, string>> = {
  login_state_mismatch: 'This sign-in response does not belong to a sign-in started in this browser. Please start again.',
  login_expired: 'The sign-in took too long. Please start again.',
  login_replayed: 'This sign-in response was already used. Please start again.',
  login_idp_error: 'The identity provider reported an error.',
  login_token_invalid: 'The identity provider response could not be verified.',
  login_nonce_mismatch: 'The identity provider response could not be verified.',
  login_issuer_mismatch: 'The sign-in response came from a different identity provider.',
  login_not_member: 'Your account is not a member of an allowed organization.',
  login_saml_invalid: 'The SAML response could not be verified.',
  login_email_unverified: 'Your email address is not verified at the identity provider.',
  login_unavailable: 'Sign-in is unavailable for a moment (bouncer cannot reach its shared store). Please try again shortly.',
};

/** Whether the client asked for JSON rather than a page. */
export function wantsJson(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  return /\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept);
}

export function renderError(req: FastifyRequest, reply: FastifyReply, err: AuthHttpError): FastifyReply {
  reply.code(err.status);
  if (wantsJson(req)) {
    return reply.type('application/json').send({
      error: err.code,
      message: err.message,
      policy: err.policy ?? null,
      request_id: req.id,
    });
  }
  const title = err.code.startsWith('policy_') ? 'Access denied' : err.status >= 500 ? 'Sign-in unavailable' : 'Sign-in failed';
  return reply.type('text/html; charset=utf-8').send(
    renderDenyPage({
      title,
      message: err.message,
      reason: err.code,
      policy: err.policy,
      requestId: req.id,
      app: err.extra?.app,
      user: err.extra?.user,
    }),
  );
}

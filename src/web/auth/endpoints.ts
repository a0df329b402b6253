/**
 * Which sign-in step runs for which endpoint, in one table (the shape of
 * node-oidc-provider's actions). Steps run top to bottom; each endpoint runs
 * the rows that name it. A step passes on, answers (redirect, page, JSON), or
 * throws a refusal that `errors.ts` renders. docs/identity.md shows this table.
 */
import type { Endpoint, SignInContext, Step } from './context.js';
import type { FastifyReply } from 'fastify';
import { beginLogin } from './steps/begin-login.js';
import { checkPolicy } from './steps/check-policy.js';
import { checkReturnUrl } from './steps/check-return-url.js';
import { chooseIdp } from './steps/choose-idp.js';
import { finishAtIdp } from './steps/finish-at-idp.js';
import { finishLogin } from './steps/finish-login.js';
import { issueGlobalSession } from './steps/issue-global-session.js';
import { launcherLogin } from './steps/launcher-login.js';
import { loadApp } from './steps/load-app.js';
import { loadAuth } from './steps/load-auth.js';
import { loadConnector } from './steps/load-connector.js';
import { readBinding } from './steps/read-binding.js';
import { readCallback } from './steps/read-callback.js';
import { readGlobalSession } from './steps/read-global-session.js';
import { readLoginQuery } from './steps/read-login-query.js';
import { requireBinding } from './steps/require-binding.js';
import { reuseGlobalSession } from './steps/reuse-global-session.js';
import { revokeSession } from './steps/revoke-session.js';
import { samlMetadata } from './steps/saml-metadata.js';
import { sendSignedOut } from './steps/send-signed-out.js';
import { showSession } from './steps/show-session.js';
import { takeTransaction } from './steps/take-transaction.js';

/** GET /login */
const L = 'login';
/** GET /login/:idp */
const LI = 'loginAtIdp';
/** GET and POST /callback/:idp */
const CB = 'callback';
/** GET /me */
const ME = 'me';
/** GET /logout */
const LO = 'logout';
/** GET /saml/:idp/metadata */
const SM = 'samlMetadata';

export const SIGN_IN_STEPS: ReadonlyArray<readonly [Step, ...Endpoint[]]> = [
  [loadAuth, L, LI, CB, ME, LO, SM],
  [launcherLogin, L],
  [readLoginQuery, L, LI],
  [readCallback, CB],
  [takeTransaction, CB],
  [loadApp, L, LI, CB],
  [checkReturnUrl, L, LI, CB],
  [readBinding, L, LI],
  [requireBinding, L, LI],
  [readGlobalSession, L, ME, LO],
  [loadConnector, LI, CB],
  [finishAtIdp, CB],
  [issueGlobalSession, CB],
  [reuseGlobalSession, L],
  [checkPolicy, L, CB],
  [finishLogin, L, CB],
  [chooseIdp, L],
  [beginLogin, L, LI],
  [showSession, ME],
  [revokeSession, LO],
  [sendSignedOut, LO],
  [samlMetadata, SM],
];

/** The steps of one endpoint, in order. */
export function stepsFor(endpoint: Endpoint): readonly Step[] {
  return SIGN_IN_STEPS.filter(([, ...endpoints]) => endpoints.includes(endpoint)).map(([step]) => step);
}

/**
 * Run an endpoint's steps until one answers. A FastifyReply is thenable and
 * resolves to undefined once sent, so awaiting a step that answered yields
 * undefined: `reply.sent` is what says the step answered.
 */
export async function runSteps(ctx: SignInContext, steps: readonly Step[]): Promise<FastifyReply> {
  for (const step of steps) {
    const answer = await step(ctx);
    if (ctx.reply.sent) return ctx.reply;
    if (answer !== undefined) return answer;
  }
  throw new Error(`sign-in step table: ${ctx.endpoint} ran out of steps without an answer`);
}

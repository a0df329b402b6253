/**
 * What the sign-in steps share while one request runs through them, in the
 * manner of a Koa context: each step reads what earlier steps put here and adds
 * its own result. Which steps run for which endpoint is in `endpoints.ts`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthConfig } from '../../config/types.js';
import type { Identity } from '../../core/identity.js';
import type { ReturnTarget } from '../../core/return-url.js';
import type { SessionClaims } from '../../core/session-token.js';
import { SharedStateError } from '../../stores/shared-state-errors.js';
import type { LoginTransaction, SharedTransactionStore } from '../../stores/shared-state.js';
import { LoginError, type IdpConnector } from '../idp/connector.js';
import type { AuthServerDeps } from './deps.js';
import type { LoginApp } from './login-apps.js';
import type { Reauth } from './reauth.js';

/** The endpoints built from steps; each is listed with its steps in `endpoints.ts`. */
export type Endpoint = 'login' | 'loginAtIdp' | 'callback' | 'me' | 'logout' | 'samlMetadata';

/** The service's injected parts, with the defaults filled in. */
export interface SignInServices {
  readonly deps: AuthServerDeps;
  readonly transactions: SharedTransactionStore;
}

export interface SignInContext {
  readonly endpoint: Endpoint;
  readonly services: SignInServices;
  readonly req: FastifyRequest;
  readonly reply: FastifyReply;
  /** Read once per request, so every step sees the same time. */
  readonly nowMs: number;
  auth?: AuthConfig;
  /** What the sign-in is for: from the login query, or from the transaction on the callback. */
  asked?: { readonly app: unknown; readonly rd: unknown; readonly bind?: unknown; readonly idp?: string | undefined };
  callbackParams?: URLSearchParams;
  tx?: LoginTransaction;
  app?: LoginApp;
  rd?: ReturnTarget;
  /** The browser binding to hand off with (absent for SaaS apps). */
  bind?: string | undefined;
  reauth?: Reauth | undefined;
  /** The global session the browser already has, if valid and not revoked. */
  globalSession?: SessionClaims | undefined;
  connector?: IdpConnector;
  /** The identity an IdP just vouched for. */
  idpIdentity?: Identity;
  /** Who is signed in by this request (identity and session set together), once known. */
  signIn?: { readonly identity: Identity; readonly session: SessionClaims };
  /** Set by `checkPolicy`; `finishLogin` refuses to hand off without it. */
  policyAllowed?: true;
}

/** A step either passes on (undefined) or answers the request (the reply). */
export type Step = (ctx: SignInContext) => Promise<FastifyReply | undefined> | FastifyReply | undefined;

/** What an earlier step must have put on the context. A miss is a wrong step table, never user input. */
export function need<K extends keyof SignInContext>(ctx: SignInContext, key: K): NonNullable<SignInContext[K]> {
  const v = ctx[key];
  if (v === undefined || v === null) throw new Error(`sign-in step table: ${ctx.endpoint} reached a step that needs ${String(key)} before it was set`);
  return v as NonNullable<SignInContext[K]>;
}

/** Public origin of the auth service, without a trailing slash. */
export function baseUrl(ctx: SignInContext, auth: AuthConfig): string {
  return (ctx.services.deps.publicBaseUrl ?? auth.publicUrl ?? `https://${auth.domain}`).replace(/\/+$/, '');
}

/** Shared-store failures become a login error with its own code, never an accepted login. */
export async function viaSharedStore<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof SharedStateError) throw new LoginError('login_unavailable', `${what}: ${err.message}`);
    throw err;
  }
}

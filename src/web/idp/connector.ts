/**
 * The contract between the auth service and an identity provider. The auth
 * service owns the browser side (transaction cookie, state lookup, single use);
 * a connector only knows how to build the IdP redirect and how to turn the
 * callback parameters into a normalised {@link Identity}.
 */
import { BouncerError } from '../../core/errors.js';
import type { Identity, IdpType } from '../../core/identity.js';

/** Stable codes a login can fail with; they appear in deny pages, audit logs and metrics. */
export type LoginErrorCode =
  | 'login_state_mismatch'
  | 'login_expired'
  | 'login_replayed'
  | 'login_idp_error'
  | 'login_token_invalid'
  | 'login_nonce_mismatch'
  | 'login_issuer_mismatch'
  | 'login_not_member'
  | 'login_saml_invalid'
  | 'login_email_unverified'
  /** The shared store (login transactions, replay IDs) could not answer; nothing is accepted unchecked. */
  | 'login_unavailable';

/**
 * A failed login. Thrown by {@link IdpConnector.finish} and by the auth service
 * itself; the auth service renders it with its `code`.
 *
 * @example
 * ```ts
 * throw new LoginError('login_nonce_mismatch', 'ID token nonce does not match the transaction');
 * ```
 */
export class LoginError extends BouncerError<LoginErrorCode> {}

/** One configured identity provider. */
export interface IdpConnector {
  readonly id: string;
  readonly type: IdpType;
  readonly displayName: string;
  /** Begin a login; `secrets` are kept server-side in the single-use login transaction (never in the browser). */
  start(o: {
    callbackUrl: string;
    transactionId: string;
    /**
     * Ask the IdP for a fresh sign-in, not its SSO session (an RP asked bouncer
     * for `prompt=login` or `max_age`). OIDC IdPs get `prompt=login` (and
     * `max_age`); connectors with no such request ignore it, and the freshness
     * is then judged by the `auth_time` they report.
     */
    reauth?: { readonly maxAgeSec?: number | undefined } | undefined;
  }): Promise<{ redirectUrl: string; secrets: Readonly<Record<string, string>> }>;
  /** Finish it; `params` = query (GET) or form body (POST) of the callback. Throws LoginError. */
  finish(o: {
    callbackUrl: string;
    params: URLSearchParams;
    secrets: Readonly<Record<string, string>>;
    nowMs: number;
  }): Promise<Identity>;
}

/**
 * Login transactions: what the auth service must remember between sending a
 * browser to an IdP and the IdP sending it back (which app, where to return,
 * and the connector's secrets such as the PKCE verifier and nonce). Kept
 * server-side so none of it can be read or altered by the browser; each one is
 * taken exactly once.
 */

/** One pending login. */
export interface LoginTransaction {
  /** Random id; also the OAuth `state` / SAML `RelayState` and the tx cookie value. */
  readonly id: string;
  readonly idp: string;
  readonly app: string;
  /** Validated return URL (absolute https on one of the app's hosts). */
  readonly rd: string;
  /** Hash of the app host's binding cookie (`core/login-binding.ts`), for the handoff; absent for SaaS apps, which need no handoff. */
  readonly bind?: string | undefined;
  readonly secrets: Readonly<Record<string, string>>;
  readonly createdMs: number;
}

/** Result of taking a transaction from the store (`SharedTransactionStore.take`). */
export type TakeResult =
  | { readonly ok: true; readonly tx: LoginTransaction }
  | { readonly ok: false; readonly problem: 'unknown' | 'replayed' | 'expired' };

/** Default lifetime of a login transaction. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;

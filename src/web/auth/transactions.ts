/**
 * Login transactions: what the auth service must remember between sending a
 * browser to an IdP and the IdP sending it back (which app, where to return,
 * and the connector's secrets such as the PKCE verifier and nonce). Kept
 * server-side so none of it can be read or altered by the browser; each one is
 * taken exactly once.
 */

/** The transaction and the store's answer are part of the shared-state contract; they live there. */
export type { LoginTransaction, TakeResult } from '../../stores/shared-state.js';

/** The lifetime of a login transaction is a default like the others. */
export { LOGIN_TRANSACTION_TTL_MS } from '../../config/defaults.js';

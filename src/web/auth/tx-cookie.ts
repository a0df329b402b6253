/** Cookie binding a login transaction to the browser that started it. */
export const TX_COOKIE = '__Host-bouncer_tx';

/**
 * SameSite=None: a SAML POST binding arrives as a cross-site POST, which
 * would not carry a Lax cookie. The cookie only binds; it grants nothing.
 */
export function txCookie(id: string, maxAgeSec: number): string {
  return `${TX_COOKIE}=${id}; Max-Age=${maxAgeSec}; Path=/; Secure; HttpOnly; SameSite=None`;
}

/** Deletes the transaction cookie: a transaction is single-use. */
export const CLEAR_TX_COOKIE = `${TX_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=None`;

import type { Identity } from '../../../core/identity.js';
import { LoginError, type IdpConnector } from '../../idp/connector.js';
import { baseUrl, need, type SignInContext } from '../context.js';

/** The connector turns the IdP's answer into an identity, with the transaction's secrets (PKCE verifier, nonce). */
export async function finishAtIdp(ctx: SignInContext): Promise<undefined> {
  const connector = need(ctx, 'connector');
  const raw = await connector.finish({
    callbackUrl: `${baseUrl(ctx, need(ctx, 'auth'))}/callback/${connector.id}`,
    params: need(ctx, 'callbackParams'),
    secrets: need(ctx, 'tx').secrets,
    nowMs: ctx.nowMs,
  });
  ctx.idpIdentity = normalizeIdentity(raw, connector);
  return undefined;
}

/** Drop what the session must not carry: an email the IdP did not verify would let anyone claim any address. */
function normalizeIdentity(identity: Identity, connector: IdpConnector): Identity {
  if (identity.idp.id !== connector.id || identity.idp.type !== connector.type || !identity.sub.startsWith(`${connector.id}:`)) {
    throw new LoginError('login_token_invalid', 'connector returned an identity for another IdP');
  }
  if (identity.email === undefined || identity.emailVerified) return identity;
  return { ...identity, email: undefined, emailVerified: false };
}

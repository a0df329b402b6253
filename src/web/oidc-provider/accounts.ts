/**
 * Accounts as oidc-provider asks for them (`findAccount`): identity facts
 * remembered at the interaction, because the token request is a
 * server-to-server call without the user's cookies. Tokens are only as good as
 * the sign-in behind them: after it is revoked, the account is not found.
 */
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { SessionClaims } from '../../core/session-token.js';
import type { RevocationStore } from '../../sessions/revocation.js';
import type { OidcAccount, OidcCtx, OidcTokenLike } from './lib.js';
import { OIDC_TTL } from './settings.js';

interface AccountSnapshot {
  readonly sub: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
  readonly groups: readonly string[];
  readonly idp: string;
  readonly amr: readonly string[];
  /** The sign-in the tokens derive from: a revocation of it (sign-out) ends them. */
  readonly sid: string;
  readonly iat: number;
}

export interface OidcAccounts {
  /** Remember the session behind a grant. */
  remember(grantId: string, session: SessionClaims): void;
  findAccount(ctx: OidcCtx, id: string, token: OidcTokenLike | undefined): Promise<OidcAccount | undefined>;
  clear(): void;
}

export function createOidcAccounts(deps: { readonly clock: () => number; readonly revocation: Pick<RevocationStore, 'isRevoked'>; readonly logger: Logger }): OidcAccounts {
  const snapshots = new LRUCache<string, AccountSnapshot>({ max: 20_000, ttl: (OIDC_TTL.AccessToken + 60) * 1000, perf: { now: deps.clock }, ttlResolution: 0 });
  return {
    remember(grantId, s) {
      const snap: AccountSnapshot = { sub: s.sub, email: s.email, name: s.name, groups: [...s.groups], idp: s.idp, amr: [...s.amr], sid: s.sid, iat: s.iat };
      snapshots.set(`grant:${grantId}`, snap);
      snapshots.set(`sub:${s.sub}`, snap);
    },
    async findAccount(ctx, id, token) {
      const grantId = token?.grantId ?? ctx.oidc.result?.consent?.grantId ?? ctx.oidc.entities.Grant?.jti;
      const snap = (grantId !== undefined ? snapshots.get(`grant:${grantId}`) : undefined) ?? snapshots.get(`sub:${id}`);
      if (snap === undefined || snap.sub !== id) return undefined;
      // Signed out since: the code or access token dies with the sign-in (oidc-provider answers invalid_grant / invalid_token).
      if (deps.revocation.isRevoked({ sid: snap.sid, sub: snap.sub, iat: snap.iat }, deps.clock())) {
        deps.logger.info({ sub: snap.sub, sid: snap.sid, event: 'oidc.token_refused' }, 'oidc token of a revoked sign-in refused');
        return undefined;
      }
      return {
        accountId: id,
        async claims() {
          return {
            sub: snap.sub,
            ...(snap.email !== undefined ? { email: snap.email, email_verified: true } : {}),
            ...(snap.name !== undefined ? { name: snap.name } : {}),
            groups: [...snap.groups],
            idp: snap.idp,
            amr: [...snap.amr],
          };
        },
      };
    },
    clear() {
      snapshots.clear();
    },
  };
}

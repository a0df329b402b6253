/**
 * oidc-provider's configuration, and nothing else: what bouncer allows (code
 * flow only, PKCE S256 required, exact redirect URIs, only the client
 * authentication methods some client is registered with) and where the
 * provider calls back into bouncer (accounts, error pages, interactions).
 */
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import type { AuthConfig } from '../../config/types.js';
import type { OidcAdapterFactory } from './adapter.js';
import type { OidcClientMetadata } from './clients.js';
import type { OidcAccount, OidcCtx, OidcProviderInstance, OidcProviderModule, OidcTokenLike } from './lib.js';
import { OIDC_MOUNT, OIDC_SCOPE_CLAIMS, OIDC_TTL } from './settings.js';

/** What the configuration points at. */
export interface ProviderHooks {
  readonly adapter: OidcAdapterFactory;
  /** Cookie signing keys; they outlive a rebuild so logins in flight keep their cookies. */
  readonly cookieKeys: readonly string[];
  readonly logger: Logger;
  findAccount(ctx: OidcCtx, id: string, token: OidcTokenLike | undefined): Promise<OidcAccount | undefined>;
  renderError(ctx: OidcCtx, out: { error?: unknown; error_description?: unknown }): void;
}

export function buildProvider(mod: OidcProviderModule, issuer: string, auth: AuthConfig, clients: readonly OidcClientMetadata[], keys: JWK[], hooks: ProviderHooks): OidcProviderInstance {
  const policy = mod.interactionPolicy.base();
  // The provider's own session would otherwise log users in again without asking bouncer; this check sends
  // every authorization through our interaction, which re-reads the global session and the policies.
  policy.get('login')?.checks.add(
    new mod.interactionPolicy.Check('bouncer_recheck', 'bouncer checks the global session and the app policy on every authorization', (ctx) => ctx.oidc.result?.login === undefined),
  );
  const provider = new mod.Provider(issuer, {
    adapter: hooks.adapter,
    clients: [...clients],
    jwks: { keys },
    cookies: {
      keys: [...hooks.cookieKeys],
      names: { session: 'bouncer_oidc_session', interaction: 'bouncer_oidc_interaction', resume: 'bouncer_oidc_resume' },
    },
    features: {
      devInteractions: { enabled: false },
      // No logout page of its own: /logout on the auth domain ends the global session, which every authorization re-checks.
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: true },
    },
    responseTypes: ['code'],
    // Only what some client is registered with: discovery's token_endpoint_auth_methods_supported says so.
    clientAuthMethods: clients.length === 0 ? ['client_secret_basic'] : [...new Set(clients.map((c) => c.token_endpoint_auth_method))],
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    // Scope claims go into the ID token too: SaaS apps commonly read only the ID token.
    conformIdTokenClaims: false,
    scopes: Object.keys(OIDC_SCOPE_CLAIMS),
    claims: { ...OIDC_SCOPE_CLAIMS, acr: null, auth_time: null, sid: null, iss: null },
    clientBasedCORS: () => false,
    ttl: { ...OIDC_TTL, Session: auth.sessionDurationSec, Grant: auth.sessionDurationSec },
    interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `${OIDC_MOUNT}/interaction/${interaction.uid}` },
    findAccount: (ctx: OidcCtx, id: string, token: OidcTokenLike | undefined) => hooks.findAccount(ctx, id, token),
    renderError: (ctx: OidcCtx, out: { error?: unknown; error_description?: unknown }) => hooks.renderError(ctx, out),
  });
  // Behind Envoy the request arrives as plain HTTP; `handle` sets the forwarded headers from our own config, never the client's.
  provider.proxy = true;
  provider.on('server_error', (_ctx, err) => hooks.logger.error({ err }, 'oidc provider error'));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(event, (_ctx, err) => hooks.logger.info({ event, error: (err as { error?: unknown }).error, detail: (err as Error).message }, 'oidc request refused'));
  }
  return provider;
}

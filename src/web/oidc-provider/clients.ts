/** The SaaS apps that are OIDC clients, and the client metadata oidc-provider is given for them. */
import type { Logger } from 'pino';
import type { SaasAppConfig } from '../../config/types.js';

/** Client metadata (OIDC Dynamic Client Registration §2) of one registered app. */
export interface OidcClientMetadata {
  readonly client_id: string;
  readonly client_secret: string;
  readonly redirect_uris: string[];
  readonly grant_types: string[];
  readonly response_types: string[];
  readonly token_endpoint_auth_method: string;
  readonly id_token_signed_response_alg: string;
}

/** The SaaS apps with an `oidc` section, first one per client id. */
export function oidcApps(saasApps: readonly SaasAppConfig[], logger: Logger): SaasAppConfig[] {
  const seen = new Set<string>();
  const out: SaasAppConfig[] = [];
  for (const a of saasApps) {
    if (a.oidc === undefined) continue;
    // The config loader rejects duplicate client ids; this guards a hand-built config in tests or embedding.
    if (seen.has(a.oidc.clientId)) {
      logger.error({ app: a.name }, 'duplicate OIDC client id; the app is skipped');
      continue;
    }
    seen.add(a.oidc.clientId);
    out.push(a);
  }
  return out;
}

export function appForClient(apps: readonly SaasAppConfig[], clientId: unknown): SaasAppConfig | undefined {
  return typeof clientId === 'string' ? apps.find((a) => a.oidc?.clientId === clientId) : undefined;
}

/** Code flow only, RS256 ID tokens, the token endpoint authentication the app is registered with. */
export function clientMetadata(apps: readonly SaasAppConfig[]): OidcClientMetadata[] {
  return apps.map((a) => ({
    client_id: a.oidc!.clientId,
    client_secret: a.oidc!.clientSecret,
    redirect_uris: [...a.oidc!.redirectUris],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: a.oidc!.tokenEndpointAuthMethod ?? 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
  }));
}

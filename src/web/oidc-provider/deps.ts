import type { JsonWebKey } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuthConfig, SaasAppConfig } from '../../config/types.js';
import type { GlobalSessionDeps } from './global-session.js';

/** What the provider needs; everything injected, as for the login service. */
export interface SaasOidcDeps extends GlobalSessionDeps {
  /** Current config; called per request, so reloads apply (the provider is rebuilt when its clients change). */
  config(): { readonly auth: AuthConfig | undefined; readonly saasApps: readonly SaasAppConfig[] };
  logger: Logger;
  /** Milliseconds since epoch. */
  clock(): number;
  /** Public origin of the auth service; default `https://<auth.domain>`. */
  publicBaseUrl?: string;
  /** Private RS256 JWKs to sign ID tokens with (first one signs); default: one RSA-2048 key generated in memory. */
  signingJwks?: readonly JsonWebKey[];
  /** Bound on stored sessions, interactions, grants, codes and tokens; default 50 000. */
  maxStoredEntries?: number;
}

/** Public origin of the auth service, without a trailing slash. */
export function providerBaseUrl(deps: Pick<SaasOidcDeps, 'publicBaseUrl'>, auth: AuthConfig): string {
  return (deps.publicBaseUrl ?? `https://${auth.domain}`).replace(/\/+$/, '');
}

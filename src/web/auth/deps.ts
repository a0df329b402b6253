/** What the auth service needs, and what it gives back; everything is injected so tests need no config file. */
import type { Logger } from 'pino';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../config/types.js';
import type { KeyStore } from '../../sessions/key-store.js';
import type { RevocationStore } from '../../sessions/revocation.js';
import type { SharedTransactionStore } from '../../stores/shared-state.js';
import type { IdpConnector } from '../idp/connector.js';
import type { SaasOidcDeps } from '../oidc-provider/deps.js';
import type { SamlIdpSigning } from '../saml-idp/index.js';
import type { Tracing } from '../../observability/tracing.js';

export interface AuthServerDeps {
  /**
   * Current `auth`, `apps` and `saasApps` config; called per request, so reloads apply at once.
   * SaaS apps log in like apps, but return to their SSO endpoints on the auth domain.
   */
  config(): AuthServiceConfig;
  /** Signing keys (current key signs, `verifyKeys` checks the global session, `jwks` is published). */
  keys: Pick<KeyStore, 'current' | 'verifyKeys' | 'jwks'>;
  revocation: RevocationStore;
  /** IdP connectors by IdP id; called per request, so reloads apply at once. */
  connectors(): ReadonlyMap<string, IdpConnector>;
  logger: Logger;
  /** Milliseconds since epoch. */
  clock(): number;
  /**
   * Public origin of the auth service, e.g. `https://auth.acme.test:8443`, used
   * for IdP callback URLs. Default `https://<auth.domain>`.
   */
  publicBaseUrl?: string;
  /** Login transaction store (Redis when replicas share logins); default in memory (10 000 pending). */
  transactions?: SharedTransactionStore;
  /** After a logout, wait until the revocation is in the shared store (so every replica refuses the session). */
  flushRevocations?: () => Promise<void>;
  /**
   * Fastify `trustProxy`: whose `X-Forwarded-For` to believe for the client IP
   * the policies see. Default false (the socket peer). Behind Envoy, set it to
   * Envoy's address.
   */
  trustProxy?: boolean | string | string[];
  /** More routes on the same listener (metrics, readiness); Envoy never routes them from the auth domain. */
  extraRoutes?: Readonly<Record<string, () => Promise<{ status: number; contentType: string; body: string }>>>;
  /**
   * Serve SaaS apps too: bouncer as their SAML IdP (signing pair from
   * `loadSamlIdpSigning`) and OIDC provider, and the App Launcher on `/`.
   */
  saas?: { samlSigning(): SamlIdpSigning; oidcSigningJwks?: SaasOidcDeps['signingJwks'] };
  /**
   * ACME HTTP-01 (RFC 8555 §8.3): the key authorization for a challenge token
   * of a customer hostname's order, or undefined. When given, served at
   * `/.well-known/acme-challenge/<token>` without authentication, whatever
   * the Host (Envoy routes that path of every customer hostname here).
   */
  acmeChallenge?: (token: string) => Promise<string | undefined>;
  /** OpenTelemetry tracing; absent when off. */
  tracing?: Tracing | undefined;
}

/** The slice of the configuration the auth service reads. */
export interface AuthServiceConfig {
  readonly auth: AuthConfig | undefined;
  readonly apps: readonly AppConfig[];
  readonly saasApps?: readonly SaasAppConfig[];
}

/** The running service. */
export interface AuthServer {
  /** Listen on host:port (0 = ephemeral); resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

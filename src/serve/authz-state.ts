/**
 * What ext_authz decides with, built from a config: the same function serves
 * `bouncer serve` (at start and on every reload) and `bouncer access explain`.
 */
import type { AuthzState } from '../authz/server.js';
import type { StoreTenants } from '../authz/tenant-lookup.js';
import type { BouncerConfig } from '../config/types.js';
import type { AuthSettings } from '../core/app.js';
import { createCertVerifier, type CertVerifier } from '../core/cert-verifier.js';
import type { RevocationView } from '../core/revocation-policy.js';
import { buildHostIndex, buildTenantIndex } from '../core/tenant-index.js';
import { handoffStoreOver } from '../sessions/handoff-store.js';
import type { KeyStore } from '../sessions/key-store.js';
import type { createTokenCache } from '../sessions/token-cache.js';
import type { SharedState } from '../stores/shared-state.js';

/** Session machinery shared by ext_authz and the login service for the life of the process. */
export interface SessionParts {
  readonly keys: KeyStore;
  readonly shared: SharedState;
  readonly tokens: ReturnType<typeof createTokenCache>;
}

function authSettings(config: BouncerConfig, origin: string | undefined): AuthSettings | undefined {
  if (!config.auth) return undefined;
  return { domain: config.auth.domain, origin: (origin ?? `https://${config.auth.domain}`).replace(/\/+$/, '') };
}

/** The longest session any app (or the login service) hands out, in seconds; at least an hour. */
export function longestSession(config: BouncerConfig): number {
  return Math.max(config.auth?.sessionDurationSec ?? 0, ...config.apps.map((a) => a.sessionDurationSec), 3600);
}

/** A fresh certificate verifier: no cached verdicts. */
export function newVerifier(config: BouncerConfig): CertVerifier {
  return createCertVerifier({ maxEntries: config.authz.cache.maxEntries, ttlMs: config.authz.cache.ttlSeconds * 1000 });
}

/** The exact hostnames the config file serves itself (apps, the login service); wildcards are remembered per host as requests come. */
export function fileHostnames(config: BouncerConfig): string[] {
  const hosts = config.apps.flatMap((a) => a.hostnames).filter((h) => !h.startsWith('*.'));
  if (config.auth) hosts.push(config.auth.domain);
  return [...new Set(hosts)];
}

/** The ext_authz server's state for `config`; also what `bouncer access explain` decides with. */
export function toState(config: BouncerConfig, parts: SessionParts, origin: string | undefined, tenantStore: StoreTenants | undefined, revocation: RevocationView | undefined): AuthzState {
  const auth = authSettings(config, origin);
  const { shared } = parts;
  return {
    tenants: buildTenantIndex(config.tenants),
    tenantStore,
    verifier: newVerifier(config),
    revocation,
    xfcc: config.authz.xfcc,
    identity:
      auth && config.auth
        ? {
            apps: buildHostIndex(config.apps),
            auth,
            serviceTokens: config.serviceTokens,
            countryHeader: config.auth.countryHeader,
            gate: {
              apps: buildHostIndex(config.apps),
              issuer: config.auth.domain,
              authOrigin: auth.origin,
              keys: () => parts.keys,
              revocation: shared.revocation,
              longestSessionMs: longestSession(config) * 1000,
              handoffs: handoffStoreOver(shared.handoffs),
              tokens: parts.tokens,
              revocationUnknown: () => shared.health().denyingAll,
              flushRevocations: () => shared.revocation.flush(),
            },
          }
        : undefined,
  };
}

import type { CompiledPolicy } from '../core/policy/types.js';
import type { Tenant } from '../core/tenant.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** Validated, defaulted and frozen configuration. Produced only by `loadConfig`. */
export interface BouncerConfig {
  /** Absolute path of the config file this came from. */
  readonly source: string;
  /** Every file the config depends on (config itself, CA bundles, CRLs, client secret files, SAML metadata), absolute; watched for reload. */
  readonly files: readonly string[];
  readonly listen: {
    readonly authz: HostPort;
    readonly http: HostPort;
  };
  readonly authz: {
    readonly xfcc: {
      /**
       * Accept the XFCC `Cert` as the client certificate when Envoy reports no
       * peer certificate (TLS ended at a trusted hop in front of Envoy). Off by
       * default: a client could otherwise send its own header.
       */
      readonly trustedHop: boolean;
      /** How many XFCC elements the deployment produces; more is a denial. */
      readonly maxElements: number;
    };
    readonly cache: {
      /** Bound on cached certificate verification results. */
      readonly maxEntries: number;
      /** A cached result is reused at most this long (and never past the certificate's expiry). */
      readonly ttlSeconds: number;
    };
  };
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  readonly tenants: readonly Tenant[];
  /** The login service; present whenever any app is configured. */
  readonly auth: AuthConfig | undefined;
  /** Identity providers, in file order. Client secrets and SAML metadata are already read in. */
  readonly idps: IdpConfig[];
  /** Apps behind an identity login, in file order; each hostname belongs to at most one. */
  readonly apps: AppConfig[];
  /** Machine credentials for `service_token` / `any_service_token` policy selectors. */
  readonly serviceTokens: ServiceTokenConfig[];
  /** Problems that do not stop bouncer but need an operator (a CA about to expire, a stale CRL). */
  readonly warnings: readonly string[];
}

/** `auth`: the login service every app sends users to. */
export interface AuthConfig {
  /** Hostname of the login service (lowercase); never one of the apps' hostnames. */
  domain: string;
  /** Lifetime of a login (the global session and, unless an app sets less, app sessions). */
  sessionDurationSec: number;
  /** Signing keys are replaced after this many days. */
  keyRotationDays: number;
  /** Absolute directory for the signing keys (JWK files); undefined keeps them in memory. */
  keysDir: string | undefined;
  /** Lowercase name of a trusted request header carrying the ISO 3166 country, if any. */
  countryHeader: string | undefined;
}

/** One identity provider. Secrets are the values read from the environment or the secret file. */
export type IdpConfig =
  | { id: string; type: 'oidc'; preset: string; issuer: string; clientId: string; clientSecret: string; scopes: string[]; groupsClaim: string }
  | { id: string; type: 'github'; clientId: string; clientSecret: string; orgs: string[]; apiUrl: string; authorizeUrl: string; tokenUrl: string }
  | { id: string; type: 'saml'; metadataXml: string; entityId: string };

/** One app: hostnames served behind a login, with the policies that decide who gets in. */
export interface AppConfig {
  name: string;
  /** Lowercase; a `*.` wildcard covers one label, as for tenants. */
  hostnames: string[];
  /** Ids of the IdPs users may log in with, each defined in `idps`. */
  idps: string[];
  /** This app's session lifetime (its own `session_duration`, else `auth.session.duration`). */
  sessionDurationSec: number;
  /** Paths answered with 401 JSON instead of a login redirect: exact, or a prefix ending in `/*`. */
  apiPaths: string[];
  policies: CompiledPolicy[];
}

/** A service token: clients send `clientId` and the secret whose SHA-256 is `secretSha256`. */
export interface ServiceTokenConfig {
  id: string;
  clientId: string;
  /** Lowercase hex SHA-256 of the secret; the secret itself is never in the config. */
  secretSha256: string;
}

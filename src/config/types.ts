import type { AdminScope } from './admin-scopes.js';
import type { AUTHZ_TRANSPORTS, CONFIG_DEFAULTS, IdTokenSigningAlg } from './defaults.js';
import type { CompiledPolicy } from '../core/policy/types.js';
import type { Tenant } from '../core/tenant.js';
import type { StoreConfig } from './store-schema.js';
import type { HostPort } from './values.js';
import type { AcmeChallengeType } from './defaults-hostnames.js';

/** Listen addresses are parsed in values.ts; the type is exported here too, beside the config that holds them. */
export type { HostPort, AcmeChallengeType };

/**
 * `authz.limits`, camelCase: whole numbers in the unit their name ends with
 * (bytes, ms, MB, bits) or counts, and `trustedSources`, CIDRs as written.
 */
export type AuthzLimits = { readonly [K in keyof typeof CONFIG_DEFAULTS.authz.limits]: (typeof CONFIG_DEFAULTS.authz.limits)[K] extends number ? number : readonly string[] };

/** Validated, defaulted and frozen configuration. Produced only by `loadConfig`. */
/**
 * The gRPC server behind ext_authz: `native` serves Check on node:http2 itself
 * (about half the CPU per call), `grpc-js` through @grpc/grpc-js. Both serve the
 * same Check handler, health and reflection (docs/authz-transport.md).
 */
export type AuthzTransport = (typeof AUTHZ_TRANSPORTS)[number];

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
    /** What serves Check on `listen.authz`; read at start (a reload that changes it waits for the next restart). */
    readonly transport: AuthzTransport;
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
    /** The ext_authz port's transport limits (src/authz/transport-limits.ts), each from the file or its default. */
    readonly limits: AuthzLimits;
  };
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
  /** PostgreSQL (tenants) and Redis (shared state); both undefined in the default, serverless mode. */
  readonly store: StoreConfig;
  /** The tenants of this file; empty when they live in PostgreSQL (`store.postgres`). */
  readonly tenants: readonly Tenant[];
  /** The login service; present whenever any app is configured. */
  readonly auth: AuthConfig | undefined;
  /** Identity providers, in file order. Client secrets and SAML metadata are already read in. */
  readonly idps: IdpConfig[];
  /** Apps behind an identity login, in file order; each hostname belongs to at most one. */
  readonly apps: AppConfig[];
  /** SaaS apps for which bouncer is the SAML IdP or OIDC provider, in file order; names unique across `apps` and `saasApps`. */
  readonly saasApps: SaasAppConfig[];
  /** Machine credentials for `service_token` / `any_service_token` policy selectors. */
  readonly serviceTokens: ServiceTokenConfig[];
  /** Problems that do not stop bouncer but need an operator (a CA about to expire, a stale CRL). */
  readonly warnings: readonly string[];
  /** `admin`: the admin HTTP API (docs/admin-api.md); undefined when the section is absent, and the API is off. */
  readonly admin?: AdminConfig | undefined;
  /** `hostnames`: customer hostnames and their certificates (docs/hostnames.md); undefined when absent. */
  readonly hostnames?: HostnamesConfig | undefined;
  /** `xds`: bouncer as Envoy's configuration source for customer hostnames (docs/xds.md); undefined: off. */
  readonly xds?: XdsConfig | undefined;
}

/** The `hostnames` section. Paths are absolute. */
export interface HostnamesConfig {
  /** The key-encryption keyring file; when absent, the keyring is in the environment variable `kekEnv`. */
  readonly kekFile: string | undefined;
  readonly kekEnv: string;
  /** The ACME CA; absent, only uploaded certificates are possible. */
  readonly acme:
    | {
        readonly directoryUrl: string;
        readonly email: string | undefined;
        /** PEM file of the roots the ACME server's own TLS certificate chains to (a private CA); the system's otherwise. */
        readonly caFile: string | undefined;
        /** bouncer's public addresses; when set, a hostname must resolve to them before an order is placed. */
        readonly expectedAddresses: readonly string[];
        readonly dnsServers: readonly string[];
        /** Challenge types in preference order, at least one (docs/hostnames.md, "Challenge types"). */
        readonly challenges: readonly AcmeChallengeType[];
        /** bouncer's TLS-ALPN-01 responder, which Envoy's `bouncer_acme_tls` cluster dials; used with `tls-alpn-01` only. */
        readonly tlsAlpnListen: HostPort;
      }
    | undefined;
}

/** `xds`: where bouncer's ADS server listens and the public listener it gives Envoy. */
export interface XdsConfig {
  readonly listen: HostPort;
  /** The public TLS listener, one SNI filter chain per customer hostname. */
  readonly envoyListen: HostPort;
  /** Plain HTTP for ACME HTTP-01 challenges (the rest redirected to HTTPS); undefined: none. */
  readonly envoyHttpListen: HostPort | undefined;
  /** Certificate for SNI no hostname matches, paths as Envoy sees them; undefined: such connections are closed. */
  readonly defaultCertificate: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** The login service's certificate for `auth.domain`, paths as Envoy sees them; undefined: Envoy does not serve the login service. */
  readonly authCertificate: { readonly certFile: string; readonly keyFile: string } | undefined;
  readonly authzTimeoutMs: number;
  /** How hostnames sit in Envoy (docs/xds.md, "Listener modes"): SNI filter chains of one listener, or one internal listener each. */
  readonly listenerMode: XdsListenerMode;
}

/** `chains`: one filter chain per hostname in the public listener; `internal`: one cluster and one internal listener per hostname. */
export type XdsListenerMode = 'chains' | 'internal';

/** One configured admin token. */
export interface AdminToken {
  /** Names the caller in the audit trail ("who"). */
  readonly id: string;
  /** Lowercase hex SHA-256 of the token. */
  readonly secretSha256: string;
  readonly scopes: readonly AdminScope[];
}

/** `admin`: where the admin API listens and who may call it. */
export interface AdminConfig {
  readonly listen: HostPort;
  /** At least one; each holds the SHA-256 of a bearer token, never the token. */
  readonly tokens: readonly AdminToken[];
}

/** `auth`: the login service every app sends users to. */
export interface AuthConfig {
  /** Hostname of the login service (lowercase); never one of the apps' hostnames. */
  domain: string;
  /**
   * `auth.public_url`: the login service's origin as browsers reach it through
   * the edge (`https://<domain>[:port]`); undefined means `https://<domain>` (port 443).
   */
  publicUrl?: string | undefined;
  /** Lifetime of a login (the global session and, unless an app sets less, app sessions). */
  sessionDurationSec: number;
  /** Signing keys are replaced after this many days. */
  keyRotationDays: number;
  /** Absolute directory for the signing keys (JWK files); undefined keeps them in memory. */
  keysDir: string | undefined;
  /** Lowercase name of a trusted request header carrying the ISO 3166 country, if any. */
  countryHeader: string | undefined;
  /**
   * `auth.saml_idp`: the SAML IdP signing key and certificate, read from `cert_file` / `key_file`.
   * Undefined: an RSA-2048 key with a self-signed certificate is generated at start
   * (kept in `keysDir`, else in memory) by `loadSamlIdpSigning`.
   */
  samlIdp: { certPem: string; keyPem: string } | undefined;
}

/** One identity provider. Secrets are the values read from the environment or the secret file. */
export type IdpConfig =
  | {
      id: string;
      type: 'oidc';
      preset: string;
      issuer: string;
      clientId: string;
      clientSecret: string;
      scopes: string[];
      groupsClaim: string;
      /** `alg` values accepted on this IdP's ID tokens (`id_token_signing_alg_values`). */
      idTokenSigningAlgs: IdTokenSigningAlg[];
    }
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
  /** How the app appears in the App Launcher. */
  launcher: AppLauncherConfig;
}

/** `apps[].launcher`: the App Launcher tile of a self-hosted app. */
export interface AppLauncherConfig {
  /** Leave the app off the launcher (policies still apply). Default false. */
  hidden: boolean;
  /** Tile label; defaults to the app's name. */
  displayName: string;
  /** `https:` URL or `data:image/...` URI; undefined shows no logo. */
  logo: string | undefined;
  /** Where the tile links; undefined means `https://<first non-wildcard hostname>/`. */
  url: string | undefined;
}

/** A SAML attribute of issued assertions: taken from an identity field, or a static value. */
export type SaasSamlAttribute =
  | { name: string; from: 'email' | 'name' | 'groups' | 'sub' | 'idp' | 'amr' }
  | { name: string; value: string };

/** `saas_apps[].saml`: the SAML service provider bouncer issues assertions to. */
export interface SaasSamlConfig {
  /** The SP's entity id; the assertion's Audience. */
  entityId: string;
  /** Registered Assertion Consumer Service URLs; the first is the default. Requests naming another URL are refused. */
  acsUrls: string[];
  nameIdFormat: 'emailAddress' | 'persistent' | 'unspecified';
  /** Which identity field becomes the NameID. */
  nameIdSource: 'email' | 'sub';
  /** SAML attribute name → identity field or static value, in file order. */
  attributes: SaasSamlAttribute[];
  /** What carries bouncer's XML signature. */
  sign: 'response' | 'assertion' | 'both';
  signatureAlgorithm: 'rsa-sha256' | 'rsa-sha512';
  /** AuthnRequests must carry a valid signature by `spCertPem`. */
  authnRequestsSigned: boolean;
  /** The SP's signing certificate (from `sp_cert_file` or the SP metadata), PEM. */
  spCertPem: string | undefined;
  /** This app's own IdP signing pair (`saml.signing`); undefined uses the shared `auth.saml_idp` one. */
  signing?: { certPem: string; keyPem: string } | undefined;
}

/** `saas_apps[].oidc`: the OIDC client bouncer's OIDC provider serves. */
export interface SaasOidcConfig {
  clientId: string;
  /** Read from `client_secret_env` or `client_secret_file`. */
  clientSecret: string;
  redirectUris: string[];
  /** Where the app starts a login on its own (OIDC third-party initiated login); the launcher tile goes there. */
  initiateLoginUri?: string | undefined;
  /** How the client authenticates at the token endpoint (`token_endpoint_auth_method`); the other way is refused. */
  tokenEndpointAuthMethod?: SaasTokenAuthMethod | undefined;
}

/** Client authentication methods bouncer's OIDC provider offers (RFC 6749 §2.3.1). */
export type SaasTokenAuthMethod = 'client_secret_basic' | 'client_secret_post';

/** A SaaS app that trusts bouncer as its IdP (SAML) or OpenID provider (OIDC); exactly one of `saml` / `oidc` is set. */
export interface SaasAppConfig {
  name: string;
  /** Launcher label; defaults to `name`. */
  displayName: string;
  logo: string | undefined;
  /** Leave off the App Launcher. */
  hidden: boolean;
  /** Ids of the IdPs users may log in with, each defined in `idps`. */
  idps: string[];
  /** Own `session_duration`, else `auth.session.duration`. */
  sessionDurationSec: number;
  policies: CompiledPolicy[];
  saml: SaasSamlConfig | undefined;
  oidc: SaasOidcConfig | undefined;
}

/** A service token: clients send `clientId` and the secret whose SHA-256 is `secretSha256`. */
export interface ServiceTokenConfig {
  id: string;
  clientId: string;
  /** Lowercase hex SHA-256 of the secret; the secret itself is never in the config. */
  secretSha256: string;
}

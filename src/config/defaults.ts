/**
 * Every default and every limit of the config file, each with the reason it is
 * what it is. docs/config.md repeats these; keep the two in step.
 *
 * Nothing insecure is a default: client certificates are required unless a
 * tenant spells out `mode: "off"`, and XFCC from a hop in front of Envoy is not
 * trusted unless `trusted_hop: true` is written down.
 */
export const CONFIG_DEFAULTS = {
  listen: {
    /**
     * gRPC ext_authz. Loopback: Envoy runs next to bouncer (same host or pod), and
     * nothing else should be able to ask for decisions.
     */
    authz: { host: '127.0.0.1', port: 9001 },
    /** Metrics, health and (later) the auth pages. Loopback until someone decides to expose it. */
    http: { host: '127.0.0.1', port: 8080 },
  },
  authz: {
    xfcc: {
      /**
       * Off: the client certificate must come from Envoy's own TLS session. Turning it
       * on lets the XFCC `Cert` of a trusted hop stand in, which a client could forge
       * if Envoy does not sanitise the header (forward_client_cert_details: SANITIZE_SET).
       */
      trustedHop: false,
      /** One element per hop that adds XFCC; a plain Envoy edge adds exactly one. */
      maxElements: 1,
    },
    cache: {
      /** Roughly one entry per active device; 10,000 entries is a few MB. */
      maxEntries: 10_000,
      /** Five minutes: long enough to absorb bursts, short enough that a CRL update bites soon. */
      ttlSeconds: 300,
    },
  },
  log: {
    /** `info` logs one line per decision and every reload; `debug` adds request details. */
    level: 'info',
  },
  mtls: {
    /** Fail closed: a tenant without an explicit mode requires a client certificate (and so needs `ca`). */
    mode: 'require',
    /** A CRL past its nextUpdate denies the certificates it covers until it is refreshed. */
    staleCrl: 'deny',
  },
  auth: {
    /**
     * Eight hours: a working day, so people log in about once a day, while a
     * stolen cookie stops working by the next one. Apps may set less (or more).
     */
    sessionDurationSec: 8 * 3600,
    /** Signing keys rotate monthly; old keys still verify for a session's lifetime plus an hour. */
    keyRotationDays: 30,
  },
  oidc: {
    /** `generic` assumes nothing beyond OpenID Connect Discovery. */
    preset: 'generic',
    /** What every OpenID provider supports; `email` and `profile` give the email and name policies use. */
    scopes: ['openid', 'email', 'profile'],
    /** The claim most IdPs (Okta, Keycloak, Azure AD) use for group membership. */
    groupsClaim: 'groups',
    /**
     * `id_token_signing_alg_values`: the asymmetric algorithms IdPs sign ID tokens
     * with in practice (RS256 is the one every OP must support, OIDC Core §15.1).
     * HS* (keyed with the client secret, so whoever holds it can mint tokens)
     * only when written down; `none` never.
     */
    idTokenSigningAlgs: ['RS256', 'PS256', 'ES256', 'EdDSA'],
  },
  github: {
    /** github.com; GitHub Enterprise Server uses `https://HOST/api/v3`. */
    apiUrl: 'https://api.github.com',
    authorizeUrl: 'https://github.com/login/oauth/authorize',
    tokenUrl: 'https://github.com/login/oauth/access_token',
  },
} as const;

/**
 * What each OIDC `preset` changes from the generic defaults. Presets only fill in
 * what the provider is known to need; anything written in the file wins.
 */
export const OIDC_PRESETS = {
  generic: {},
  /** Okta sends group membership only when the `groups` scope is asked for. */
  okta: { scopes: ['openid', 'email', 'profile', 'groups'] },
  /** Google has one issuer for everybody; it has no groups claim (use email_domain or email policies). */
  google: { issuer: 'https://accounts.google.com' },
  /** Azure AD (Entra ID): the issuer names the directory (`https://login.microsoftonline.com/TENANT/v2.0`), so it must be written. */
  azure: {},
  /** Keycloak: the issuer is the realm URL; groups need a "Group Membership" mapper named `groups`. */
  keycloak: {},
} as const satisfies Record<string, { scopes?: readonly string[]; issuer?: string }>;

/** Names of the OIDC presets, in the order docs list them. */
/** Values `idps[].id_token_signing_alg_values` accepts (JWS algorithms, RFC 7518 §3.1 and RFC 8037); never `none`. */
export const ID_TOKEN_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519', 'HS256', 'HS384', 'HS512'] as const;
/** One of {@link ID_TOKEN_SIGNING_ALGS}. */
export type IdTokenSigningAlg = (typeof ID_TOKEN_SIGNING_ALGS)[number];

export const OIDC_PRESET_NAMES = ['generic', 'okta', 'google', 'azure', 'keycloak'] as const;

/** Bounds the loader enforces; each keeps a typo from turning into an outage or a memory hog. */
export const CONFIG_LIMITS = {
  /** XFCC chains longer than this are not a real deployment (RFC-less header; Envoy appends one per hop). */
  xfccMaxElements: { min: 1, max: 16 },
  cacheMaxEntries: { min: 1, max: 10_000_000 },
  /** At most a day: revocation must take effect within a bounded time. */
  cacheTtlSeconds: { min: 1, max: 86_400 },
  /** A CA certificate this close to its notAfter produces a warning on every load. */
  caExpiryWarningDays: 30,
  /** NIST SP 800-131A: RSA keys below 2048 bits are disallowed for signatures. */
  minRsaBits: 2048,
  /**
   * A session shorter than a minute cannot outlive its own login round trip; one
   * longer than 30 days outlives most off-boarding, which revocation then has to
   * catch alone.
   */
  sessionDurationSec: { min: 60, max: 30 * 86_400 },
  /** Rotate at least yearly; daily is the most that keeps overlapping keys few. */
  keyRotationDays: { min: 1, max: 365 },
  /** A client secret is a line of text; anything bigger is the wrong file. */
  secretFileMaxBytes: 64 * 1024,
  /** IdP metadata with a few signing certificates is tens of kilobytes; 10 MiB is generous. */
  samlMetadataMaxBytes: 10 * 1024 * 1024,
} as const;

/** Environment variables that override the file; they win because deployments template them. */
export const CONFIG_ENV = {
  listenAuthz: 'BOUNCER_LISTEN_AUTHZ',
  listenHttp: 'BOUNCER_LISTEN_HTTP',
  logLevel: 'BOUNCER_LOG_LEVEL',
  listenAdmin: 'BOUNCER_LISTEN_ADMIN',
} as const;

/** Reload behaviour of {@link watchConfig}. */
export const WATCH_DEFAULTS = {
  /**
   * Poll every second. Polling (not fs.watch) because editors save by rename and
   * Kubernetes swaps ConfigMap symlinks, both of which fs.watch loses track of.
   */
  intervalMs: 1000,
  /** Wait this long after a change is seen so a multi-file update (CA then config) lands as one reload. */
  debounceMs: 150,
} as const;

/** Log levels pino knows, in order of severity. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Every default and every limit of bouncer outside the pure core, each with the
 * reason it is what it is: the config file's, the tenant store's, the admin
 * API's, the shared-state stores', the PostgreSQL store's, the login's and the
 * Envoy renderer's. docs/config.md, docs/admin-api.md, docs/fleet.md and
 * docs/envoy.md repeat them; keep them in step. The pure core (src/core) sits
 * below this module, so its own bounds (XFCC size, token length, XML size) stay
 * beside the code that enforces them and are listed in ARCHITECTURE.md.
 *
 * Nothing insecure is a default: client certificates are required unless a
 * tenant spells out `mode: "off"`, and XFCC from a hop in front of Envoy is not
 * trusted unless `trusted_hop: true` is written down.
 */
import { AUTHZ_LIMIT_DEFAULTS, AUTHZ_LIMIT_RANGES } from './defaults-authz.js';

/** The values of `authz.transport` (docs/authz-transport.md). */
export const AUTHZ_TRANSPORTS = ['native', 'grpc-js'] as const;
type AuthzTransportName = (typeof AUTHZ_TRANSPORTS)[number];

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
    /**
     * bouncer's own HTTP/2 server for Check: it halves the per-call CPU of
     * grpc-js. `grpc-js` is there to compare against, or to fall back on.
     */
    transport: 'native' as AuthzTransportName,
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
    /**
     * The ext_authz port's transport limits (`authz.limits`, read at start).
     * Each one's anchor in grpc-go's and Envoy's server defaults, and why
     * bouncer's differs, is documented on TransportLimits
     * (src/authz/transport-limits.ts) and in docs/authz-transport.md.
     */
    limits: AUTHZ_LIMIT_DEFAULTS,
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
  /** What `authz.limits` accepts (defaults-authz.ts says why). */
  authzLimits: AUTHZ_LIMIT_RANGES,
  /** `authz.limits.trusted_sources`: an Envoy fleet is a few ranges; each costs a comparison per accepted connection. */
  authzTrustedSourcesMax: 256,
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
  /** `mtls.certificate_policies.accept`: a PKI has a handful of policies; more is a mistake, and each costs work per path. */
  maxAcceptedPolicies: 64,
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

/** Bounds on what one tenant may hold; each keeps one bad upload from becoming a memory or latency problem on every replica. */
export const TENANT_LIMITS = {
  /** A SaaS customer with more names than this wants a wildcard. */
  maxHostnames: 1_000,
  /** A handful of roots and intermediates is a few kilobytes; 1 MiB is generous. */
  maxCaPemBytes: 1024 * 1024,
  /** Every certificate is parsed on each cold load of the tenant. */
  maxCaCertificates: 100,
  maxCrls: 50,
  /** A large CA's CRL can reach megabytes; beyond 10 MiB a replica's cold load stalls. */
  maxCrlPemBytes: 10 * 1024 * 1024,
  maxExemptPaths: 100,
  listDefault: 100,
  listMax: 1_000,
} as const;

/**
 * Every default and limit of the admin API, each with its reason.
 * docs/admin-api.md repeats them; keep the two in step.
 */
export const ADMIN_DEFAULTS = {
  /**
   * Loopback, port 9002: beside the ext_authz port (9001) and clear of Envoy's
   * admin port (9901) and the HTTP port (8080). Off the loopback the bearer
   * tokens would cross the network in clear, so exposing it is spelled out.
   */
  listen: { host: '127.0.0.1', port: 9002 },
  /** Most bodies are a hostname or a session id; 1 MiB is generous for a CA bundle (TENANT_LIMITS.maxCaPemBytes). */
  bodyLimitBytes: 1024 * 1024 + 64 * 1024,
  /**
   * Bodies that may carry CRLs: a large CA's CRL reaches megabytes, and JSON
   * escaping adds a little; 24 MiB holds two of the largest the store accepts.
   * Only authenticated callers with `tenants:write` get this far (auth runs
   * before the body is read).
   */
  crlBodyLimitBytes: 2 * TENANT_LIMITS.maxCrlPemBytes + 4 * 1024 * 1024,
  /** Decisions kept in memory by `createDecisionLog`: a few MB, enough for "what just happened". */
  decisionLogCapacity: 10_000,
  /** Audit entries kept by the in-memory sink when no database is given. */
  auditMemoryCapacity: 10_000,
  /** Rows per page of decision and audit queries; the maximum keeps one answer a few MB at most. */
  queryLimitDefault: 100,
  queryLimitMax: 1_000,
  /**
   * A session revoked by id is refused until the longest session could have
   * lived: the API caller does not know the session's own expiry. 30 days is the
   * longest duration the config allows (`CONFIG_LIMITS.sessionDurationSec.max`);
   * wiring should pass the configured longest instead.
   */
  sessionRevocationMs: 30 * 86_400_000,
  /** How long a revocation waits to be shared with other replicas (Redis) before the answer says it is not yet. */
  revocationFlushTimeoutMs: 2_000,
  /** Longer strings in decision records are cut, as in the decision log line. */
  maxDecisionFieldChars: 512,
  /**
   * Presented bearer tokens longer than this are refused before hashing. Tokens
   * are generated (`openssl rand -hex 32` is 64 characters); 1 KiB is plenty.
   */
  maxTokenChars: 1024,
} as const;

/**
 * Every default of the shared-state stores, each next to the reason for it, so
 * an operator tuning one knows what it trades.
 */

/** How a replica answers `isRevoked` once it has lost sync with Redis for longer than the grace. */
export type RevocationFailMode =
  /** Treat every session as revoked: revocation state is unknown, so deny (the default). */
  | 'closed'
  /**
   * Keep answering from the last mirror: sessions revoked elsewhere while
   * Redis was unreachable stay usable, and a replica that has never loaded
   * knows no revocation at all. Insecure; must be chosen explicitly.
   */
  | 'open-cached';

export const SHARED_STATE_DEFAULTS = Object.freeze({
  /** Unknown revocation state is a reason to deny (issue 6: "deny what cannot be decided safely"). */
  revocationFailMode: 'closed' as RevocationFailMode,
  /**
   * How long a replica keeps answering from its mirror after losing Redis
   * before `failMode` applies. Covers a Redis restart or Sentinel failover
   * (a few seconds) without logging everyone out, while bounding how stale a
   * "not revoked" answer can be.
   */
  revocationGraceMs: 15_000,
  /**
   * Upper bound on one Redis round trip. A login waits at most this long
   * before being refused, instead of hanging in ioredis' offline queue.
   */
  commandTimeoutMs: 1_000,
  /** Pause between retries of a failed mirror reload or pending revocation write. */
  retryMs: 1_000,
  /**
   * PING interval on the subscriber connection. A paused or partitioned Redis
   * keeps the TCP socket open and sends nothing; without a heartbeat the mirror
   * would claim to be in sync forever.
   */
  heartbeatMs: 2_000,
  /** How long `start()` waits for the first mirror load before reporting failure (it keeps trying). */
  startTimeoutMs: 5_000,
  /** In-memory single-use keys: handoffs live 60 s, so this is ~1,600 logins per second. */
  onceCapacity: 100_000,
  /** In-memory pending logins; anyone can start one, so the map must be bounded. */
  transactionCapacity: 10_000,
  /**
   * How long after its TTL a taken or expired transaction id is still reported
   * as `replayed`/`expired` (not `unknown`): enough to tell a double submit or a
   * stale tab from a forged state in logs and on the error page.
   */
  transactionRememberMs: 10 * 60_000,
  /**
   * Key prefixes, one namespace per purpose so a handoff jti can never collide
   * with a SAML assertion ID. Several bouncer deployments sharing one Redis
   * must each put their own prefix in front of these.
   */
  prefixes: Object.freeze({
    revocation: 'bouncer:rev:',
    handoff: 'bouncer:handoff:',
    samlAssertion: 'bouncer:saml-assertion:',
    samlRequest: 'bouncer:saml-request:',
    loginTransaction: 'bouncer:login-tx:',
  }),
});

/**
 * Every default of the PostgreSQL tenant store, each with the reason it is what
 * it is. Options passed to `createPgTenantStore` override these one by one.
 */
export const PG_STORE_DEFAULTS = {
  /** NOTIFY channel for tenant changes; one per deployment sharing a database. */
  channel: 'bouncer_tenants',
  cache: {
    /**
     * Hosts with a parsed tenant kept in memory. A parsed tenant with one CA is
     * a few kilobytes, so 10,000 is tens of MB at most, and covers the tenants
     * that are actually being used at any moment on one replica.
     */
    maxEntries: 10_000,
    /** Unknown hosts remembered, so a scan of random names costs one query per name per TTL, not per request. */
    negativeMaxEntries: 10_000,
    /**
     * Short: NOTIFY evicts a newly added host anyway, so this only bounds how long
     * a missed notification could keep a new tenant unknown.
     */
    negativeTtlMs: 5_000,
    /** Parsed CA bundles by hash; tenants that share a CA share one parse. */
    parsedBundles: 1_000,
  },
  pool: {
    /** Lookups are single short queries; a few connections per replica are plenty. */
    max: 10,
    /** Within Envoy's usual ext_authz timeout, so an unreachable server turns into a denial, not a timed-out check. */
    connectionTimeoutMillis: 2_000,
    /** Same reason: a hung query must not hold a check past its deadline. */
    queryTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
  },
  reconnect: {
    /** First retry soon: a restarted server or a failover is usually back within a second. */
    initialDelayMs: 100,
    /** Capped so recovery is noticed within seconds without hammering a server that is down. */
    maxDelayMs: 5_000,
  },
  /**
   * The LISTEN connection is pinged this often, so a connection that died without
   * a TCP reset (a partition, a NAT dropping state) is noticed within seconds
   * rather than after the kernel's keepalive, which defaults to hours.
   */
  pingIntervalMs: 5_000,
} as const;

/**
 * Defaults of a SaaS app's `saml` section, with why. docs/config.md repeats them.
 */
export const SAAS_SAML_DEFAULTS = {
  /** Most SaaS apps key users by email address. */
  nameIdFormat: 'emailAddress',
  /** Signing both is what SPs that check either one expect; it costs one more signature. */
  sign: 'both',
  /** SHA-1 is broken for signatures; SHA-256 is what every SP accepts. */
  signatureAlgorithm: 'rsa-sha256',
  /** The identity fields SaaS apps usually map (email, display name, groups for role mapping). */
  attributes: [
    { name: 'email', from: 'email' },
    { name: 'name', from: 'name' },
    { name: 'groups', from: 'groups' },
  ] as const,
} as const;

/** Defaults of the `store` section (docs/config.md, "store"). */
export const STORE_DEFAULTS = {
  /**
   * How long a check waits for a tenant that is not cached before it is denied
   * `tenant_store_unavailable`: under Envoy's 500 ms ext_authz timeout, so users
   * get bouncer's reason rather than Envoy's timeout.
   */
  lookupTimeoutMs: 400,
  /** Put before every Redis key and channel, so several deployments can share one Redis. */
  keyPrefix: 'bouncer:',
} as const;

/** Lifetime of a login transaction (state, nonce, PKCE verifier): a slow IdP login with MFA fits, a forgotten tab does not. */
export const LOGIN_TRANSACTION_TTL_MS = 10 * 60_000;

/**
 * Processes sharing `auth.session.keys_dir` re-read it this often; a new key
 * signs only after twice that, so every process has read it by then.
 */
export const SESSION_KEY_REFRESH_MS = 60_000;

export * from './defaults-authz.js';
export * from './defaults-trust.js';
export * from './defaults-hostnames.js';
export * from './defaults-envoy.js';

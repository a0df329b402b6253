/**
 * The auth service ("auth domain"): login chooser, IdP round trips, the global
 * session cookie, the policy check at login, and the handoff to app hosts.
 *
 * Each route is a short pipeline of named steps (`loadApp`, `checkReturnUrl`,
 * `takeTransaction`, ...) that either pass a value on or throw an
 * {@link AuthHttpError}; one renderer turns those into HTML or JSON.
 */
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify, LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import { registerLauncher } from '../launcher/routes.js';
import { readGlobalSession as readSessionFromHeaders } from '../oidc-provider/global-session.js';
import { registerSaasOidc, type SaasOidcDeps } from '../oidc-provider/provider.js';
import { registerSamlIdp, type SamlIdpSigning } from '../saml-idp/index.js';
import type { Logger } from 'pino';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../config/types.js';
import { BouncerError } from '../../core/errors.js';
import { isSafeRequestId } from '../../core/request-id.js';
import type { Identity, RequestContext } from '../../core/identity.js';
import { compilePolicies, evaluatePolicies, type PolicyVerdict } from '../../core/policy/index.js';
import { identityFromClaims, signHandoff, signSession, verifySession, type SessionClaims } from '../../core/session-token.js';
import { AUTH_COOKIE, clearCookie, readCookie, serializeCookie } from '../../sessions/cookies.js';
import type { KeyStore } from '../../sessions/key-store.js';
import { revokeSignIn, type RevocationStore } from '../../sessions/revocation.js';
import { LoginError, type IdpConnector, type LoginErrorCode } from '../idp/connector.js';
import type { SamlConnector } from '../idp/saml-sp.js';
import { CONTENT_SECURITY_POLICY, renderChooserPage, renderDenyPage, renderSignedOutPage } from './pages.js';
import { LOGIN_BINDING_FORMAT } from '../../core/login-binding.js';
import { locationOnOrigin, validateReturnUrl, type ReturnTarget, type ReturnUrlProblem } from '../../core/return-url.js';
import { LOGIN_TRANSACTION_TTL_MS } from './transactions.js';
import { createMemorySharedTransactionStore } from '../../stores/memory/transaction-store.js';
import type { SharedTransactionStore } from '../../stores/shared-state.js';
import { SharedStateError } from '../../stores/shared-state-errors.js';
import type { Tracing } from '../../observability/tracing.js';

const BIND_MISSING_TEXT = 'This sign-in was not started from the application in this browser. Please open the application and sign in again.';

/** Cookie binding a login transaction to the browser that started it. */
export const TX_COOKIE = '__Host-bouncer_tx';

/** Pseudo-app for `/login?launcher=1`; not a valid app name, so it can never collide with one. */
export const LAUNCHER_APP = '~launcher';
const LAUNCHER_POLICIES = (() => {
  const r = compilePolicies([{ name: 'launcher', action: 'allow', include: [{ everyone: true }] }]);
  if (!r.ok) throw new Error('launcher policy does not compile');
  return r.policies;
})();

/** Path on every app host where ext_authz completes the handoff. */
export const HANDOFF_PATH = '/.bouncer/handoff';

/** What the auth service needs; everything is injected so tests need no config file. */
export interface AuthServerDeps {
  /**
   * Current `auth`, `apps` and `saasApps` config; called per request, so reloads apply at once.
   * SaaS apps log in like apps, but return to their SSO endpoints on the auth domain.
   */
  config(): { readonly auth: AuthConfig | undefined; readonly apps: readonly AppConfig[]; readonly saasApps?: readonly SaasAppConfig[] };
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
  /** OpenTelemetry tracing; absent when off. */
  tracing?: Tracing | undefined;
}

/** The running service. */
export interface AuthServer {
  /** Listen on host:port (0 = ephemeral); resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
}

/** A refusal to render: HTTP status, stable code, human message, optional policy name. */
export class AuthHttpError extends BouncerError<string> {
  constructor(
    readonly status: number,
    code: string,
    message: string,
    readonly policy?: string,
    readonly extra?: { app?: string; user?: string },
  ) {
    super(code, message);
  }
}

const TX_ID = /^[A-Za-z0-9_-]{43}$/;

const LOGIN_ERROR_STATUS: Readonly<Record<LoginErrorCode, number>> = {
  login_state_mismatch: 400,
  login_expired: 400,
  login_replayed: 400,
  login_idp_error: 502,
  login_token_invalid: 400,
  login_nonce_mismatch: 400,
  login_issuer_mismatch: 400,
  login_not_member: 403,
  login_saml_invalid: 400,
  login_email_unverified: 403,
  login_unavailable: 503,
};

const LOGIN_ERROR_TEXT: Readonly<Record<LoginErrorCode, string>> = {
  login_state_mismatch: 'This sign-in response does not belong to a sign-in started in this browser. Please start again.',
  login_expired: 'The sign-in took too long. Please start again.',
  login_replayed: 'This sign-in response was already used. Please start again.',
  login_idp_error: 'The identity provider reported an error.',
  login_token_invalid: 'The identity provider response could not be verified.',
  login_nonce_mismatch: 'The identity provider response could not be verified.',
  login_issuer_mismatch: 'The sign-in response came from a different identity provider.',
  login_not_member: 'Your account is not a member of an allowed organization.',
  login_saml_invalid: 'The SAML response could not be verified.',
  login_email_unverified: 'Your email address is not verified at the identity provider.',
  login_unavailable: 'Sign-in is unavailable for a moment (bouncer cannot reach its shared store). Please try again shortly.',
};

/**
 * Build the auth service.
 *
 * @example
 * ```ts
 * const auth = createAuthServer({ config: () => current, keys, revocation, connectors: () => idps,
 *   logger, clock: Date.now });
 * const port = await auth.listen('127.0.0.1', 8081);
 * ```
 */
export function createAuthServer(deps: AuthServerDeps): AuthServer {
  const transactions = deps.transactions ?? createMemorySharedTransactionStore({ clock: deps.clock });
  /** Shared-store failures become a login error with its own code, never an accepted login. */
  const shared = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      if (err instanceof SharedStateError) throw new LoginError('login_unavailable', `${what}: ${err.message}`);
      throw err;
    }
  };
  const app = fastify({
    // Typed as fastify's base logger so route modules take a plain FastifyInstance.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Request URLs carry authorization codes and handoff tokens: never log them wholesale.
    logController: new LogController({ disableRequestLogging: true }),
    trustProxy: deps.trustProxy ?? false,
    bodyLimit: 512 * 1024,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return isSafeRequestId(h) ? h : randomUUID();
    },
  });

  // SAML POST binding and form_post deliver the callback as a form; keep it as
  // URLSearchParams so connectors see exactly what GET callbacks give them.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, new URLSearchParams(body as string));
  });

  // Each request's span is the context its IdP calls and shared-state calls are made in.
  const tracing = deps.tracing;
  if (tracing !== undefined) app.addHook('onRequest', (req, reply, done) => tracing.httpRequest(req.raw, reply.raw, done));

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    reply.header('pragma', 'no-cache');
    // Routes with a page of their own (the SAML POST form) set a policy for it; everything else gets the strict one.
    if (!reply.hasHeader('content-security-policy')) reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('x-frame-options', 'DENY');
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    reply.header('strict-transport-security', 'max-age=31536000');
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof AuthHttpError) return renderError(req, reply, err);
    if (err instanceof LoginError) {
      req.log.warn({ reason: err.code, detail: err.message }, 'login failed');
      return renderError(req, reply, new AuthHttpError(LOGIN_ERROR_STATUS[err.code], err.code, LOGIN_ERROR_TEXT[err.code]));
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return renderError(req, reply, new AuthHttpError(status, 'bad_request', 'The request was malformed.'));
    }
    req.log.error({ err }, 'auth service error');
    return renderError(req, reply, new AuthHttpError(500, 'internal_error', 'Something went wrong. Please try again.'));
  });

  app.setNotFoundHandler((req, reply) => renderError(req, reply, new AuthHttpError(404, 'not_found', 'There is nothing here.')));

  // ---- steps -------------------------------------------------------------

  function loadAuth(): AuthConfig {
    const auth = deps.config().auth;
    if (auth === undefined) throw new AuthHttpError(503, 'auth_not_configured', 'Sign-in is not configured.');
    return auth;
  }

  function baseUrl(auth: AuthConfig): string {
    return (deps.publicBaseUrl ?? auth.publicUrl ?? `https://${auth.domain}`).replace(/\/+$/, '');
  }

  /**
   * An app by name. A SaaS app is seen as an app whose only host is the auth domain:
   * its return URL is its SSO endpoint there, and after login the browser goes
   * back to it directly (no handoff: the global session cookie is already on that host).
   */
  function loadApp(name: unknown): AppConfig & { readonly saas?: true } {
    const cfg = deps.config();
    if (name === LAUNCHER_APP && cfg.auth !== undefined) {
      // Signing in to see the App Launcher: any configured IdP, and the launcher
      // itself shows only the tiles whose policies the user passes.
      return {
        name: LAUNCHER_APP,
        hostnames: [cfg.auth.domain],
        idps: [...deps.connectors().keys()],
        sessionDurationSec: cfg.auth.sessionDurationSec,
        apiPaths: [],
        policies: LAUNCHER_POLICIES,
        launcher: { hidden: true, displayName: 'App Launcher', logo: undefined, url: undefined },
        saas: true,
      };
    }
    const found = typeof name === 'string' ? cfg.apps.find((a) => a.name === name) : undefined;
    if (found !== undefined) return found;
    const saas = typeof name === 'string' ? cfg.saasApps?.find((a) => a.name === name) : undefined;
    if (saas === undefined || cfg.auth === undefined) throw new AuthHttpError(400, 'app_unknown', 'This sign-in link names no known application.');
    return {
      name: saas.name,
      hostnames: [cfg.auth.domain],
      idps: saas.idps,
      sessionDurationSec: saas.sessionDurationSec,
      apiPaths: [],
      policies: saas.policies,
      launcher: { hidden: saas.hidden, displayName: saas.displayName, logo: saas.logo, url: undefined },
      saas: true,
    };
  }

  /**
   * After login: the app host via a handoff bound to this browser, or, for a
   * SaaS app, back to its endpoint on this host. Either way the Location is
   * built from the validated origin and path, never from the raw `rd`.
   */
  async function finishLogin(reply: FastifyReply, auth: AuthConfig, app: AppConfig & { readonly saas?: true }, session: SessionClaims, rd: ReturnTarget, bind: string | undefined, nowMs: number): Promise<FastifyReply> {
    if (app.saas !== true) {
      // Checked when the login began; a transaction without it is refused rather than handed off unbound.
      if (bind === undefined) throw new AuthHttpError(400, 'login_unbound', BIND_MISSING_TEXT);
      return sendHandoff(reply, auth, app, session, rd, bind, nowMs);
    }
    return reply.redirect(locationOnOrigin(baseUrl(auth), rd), 302);
  }

  function checkReturnUrl(app: AppConfig, rd: unknown): ReturnTarget {
    const r = validateReturnUrl(typeof rd === 'string' ? rd : undefined, app.hostnames);
    if (!r.ok) throw new AuthHttpError(400, 'return_url_invalid', returnUrlText(r.problem));
    return r.target;
  }

  /**
   * The browser binding named by the login URL (`bind`, set by ext_authz with
   * its cookie on the app host). SaaS apps come back to this host and need none.
   * Undefined when an app's login URL lacks it: the caller then sends the
   * browser to the app, whose redirect back here sets one.
   */
  function readBinding(app: AppConfig & { readonly saas?: true }, raw: unknown): string | undefined {
    if (app.saas === true) return undefined;
    return typeof raw === 'string' && LOGIN_BINDING_FORMAT.test(raw) ? raw : undefined;
  }

  function loadConnector(app: AppConfig, idp: string): IdpConnector {
    const connector = app.idps.includes(idp) ? deps.connectors().get(idp) : undefined;
    if (connector === undefined) throw new AuthHttpError(400, 'idp_not_allowed', 'This identity provider is not offered for this application.');
    return connector;
  }

  /** The global session from AUTH_COOKIE, if valid and not revoked. */
  async function readGlobalSession(req: FastifyRequest, auth: AuthConfig, nowMs: number): Promise<SessionClaims | undefined> {
    const token = readCookie(req.headers.cookie, AUTH_COOKIE);
    if (token === undefined) return undefined;
    const r = await verifySession(token, { keys: deps.keys.verifyKeys(), issuer: auth.domain, audience: auth.domain, nowMs });
    if (!r.ok) {
      req.log.info({ reason: r.reason }, 'global session refused');
      return undefined;
    }
    if (deps.revocation.isRevoked(r.claims, nowMs)) return undefined;
    return r.claims;
  }

  function requestContext(req: FastifyRequest, auth: AuthConfig, rd: Pick<ReturnTarget, 'hostname' | 'path'>, nowMs: number): RequestContext {
    const countryHeader = auth.countryHeader !== undefined ? req.headers[auth.countryHeader] : undefined;
    const country = typeof countryHeader === 'string' && /^[A-Za-z]{2}$/.test(countryHeader) ? countryHeader.toUpperCase() : undefined;
    return {
      nowMs,
      host: rd.hostname,
      // Policies see the path without the query, as ext_authz's `path` selectors do.
      path: rd.path.split('?', 1)[0]!,
      method: 'GET',
      sourceIp: req.ip,
      country,
      // The auth domain sees no client certificate; certificate selectors are decided on the app host.
      certificate: undefined,
      serviceToken: undefined,
    };
  }

  /** Run the app's policies for this identity; throws the deny page unless allowed. */
  function checkPolicy(req: FastifyRequest, auth: AuthConfig, app: AppConfig, identity: Identity, rd: ReturnTarget, nowMs: number): PolicyVerdict {
    const verdict = evaluatePolicies(app.policies, identity, requestContext(req, auth, rd, nowMs));
    req.log.info({ app: app.name, sub: identity.sub, email: identity.email ?? null, idp: identity.idp.id, outcome: verdict.outcome, reason: verdict.reason, policy: verdict.policy ?? null }, 'login policy');
    if (verdict.outcome === 'allow' || verdict.outcome === 'bypass') return verdict;
    throw new AuthHttpError(403, verdict.reason === 'login_required' ? 'policy_no_match' : verdict.reason, `Access denied. ${verdict.detail}`, verdict.policy, {
      app: app.name,
      user: identity.email ?? identity.sub,
    });
  }

  /** Send the browser to the app host with a fresh handoff token. */
  async function sendHandoff(reply: FastifyReply, auth: AuthConfig, app: AppConfig, session: SessionClaims, rd: ReturnTarget, bind: string, nowMs: number): Promise<FastifyReply> {
    const nowSec = Math.floor(nowMs / 1000);
    const sessionExp = Math.min(nowSec + app.sessionDurationSec, session.exp);
    const token = await signHandoff(
      {
        iss: auth.domain,
        sub: session.sub,
        aud: app.name,
        ...(session.email !== undefined ? { email: session.email } : {}),
        ...(session.name !== undefined ? { name: session.name } : {}),
        groups: session.groups,
        idp: session.idp,
        idp_type: session.idp_type,
        amr: session.amr,
        ...(session.country !== undefined ? { country: session.country } : {}),
        ...(session.cert_fp !== undefined ? { cert_fp: session.cert_fp } : {}),
        auth_time: session.auth_time,
        sid: session.sid,
        rd: rd.href,
        session_exp: sessionExp,
        bind,
      },
      deps.keys.current(),
      nowMs,
    );
    return reply.redirect(`${rd.origin}${HANDOFF_PATH}?${new URLSearchParams({ token }).toString()}`, 302);
  }

  /** Start a login at `connector`: new transaction, tx cookie, redirect to the IdP. */
  async function beginLogin(reply: FastifyReply, auth: AuthConfig, app: AppConfig, connector: IdpConnector, rd: ReturnTarget, bind: string | undefined, nowMs: number, reauth?: Reauth): Promise<FastifyReply> {
    const id = randomBytes(32).toString('base64url');
    const { redirectUrl, secrets } = await connector.start({ callbackUrl: `${baseUrl(auth)}/callback/${connector.id}`, transactionId: id, reauth });
    await shared('saving the login transaction', () => transactions.put({ id, idp: connector.id, app: app.name, rd: rd.href, ...(bind !== undefined ? { bind } : {}), secrets, createdMs: nowMs }, LOGIN_TRANSACTION_TTL_MS));
    // SameSite=None: a SAML POST binding arrives as a cross-site POST, which
    // would not carry a Lax cookie. The cookie only binds; it grants nothing.
    reply.header('set-cookie', `${TX_COOKIE}=${id}; Max-Age=${Math.floor(LOGIN_TRANSACTION_TTL_MS / 1000)}; Path=/; Secure; HttpOnly; SameSite=None`);
    return reply.redirect(redirectUrl, 302);
  }

  // ---- routes --------------------------------------------------------------

  app.get('/healthz', async (_req, reply) => reply.type('application/json').send({ status: 'ok' }));
  if (deps.saas) {
    const saas = deps.saas;
    const saasConfig = (): { auth: AuthConfig | undefined; apps: readonly AppConfig[]; saasApps: readonly SaasAppConfig[] } => {
      const c = deps.config();
      return { auth: c.auth, apps: c.apps, saasApps: c.saasApps ?? [] };
    };
    const sessionDeps = { keys: deps.keys, revocation: deps.revocation };
    registerSamlIdp(app, {
      config: saasConfig,
      signing: () => saas.samlSigning(),
      readSession: (headers, auth, nowMs, log) => readSessionFromHeaders(headers, auth, sessionDeps, nowMs, log),
      clock: deps.clock,
      ...(deps.publicBaseUrl !== undefined ? { publicBaseUrl: deps.publicBaseUrl } : {}),
    });
    registerSaasOidc(app, {
      ...sessionDeps,
      config: saasConfig,
      logger: deps.logger,
      clock: deps.clock,
      ...(deps.publicBaseUrl !== undefined ? { publicBaseUrl: deps.publicBaseUrl } : {}),
      ...(saas.oidcSigningJwks !== undefined ? { signingJwks: saas.oidcSigningJwks } : {}),
    });
    registerLauncher(app, {
      ...sessionDeps,
      config: saasConfig,
      logger: deps.logger,
      clock: deps.clock,
      ...(deps.publicBaseUrl !== undefined ? { publicBaseUrl: deps.publicBaseUrl } : {}),
    });
  }

  for (const [path, handler] of Object.entries(deps.extraRoutes ?? {})) {
    app.get(path, async (_req, reply) => {
      const r = await handler();
      return reply.code(r.status).type(r.contentType).send(r.body);
    });
  }

  app.get('/.well-known/jwks.json', async (_req, reply) => {
    // Public keys: caching is fine, but short, so rotations propagate.
    reply.header('cache-control', 'public, max-age=300');
    return reply.type('application/json').send(deps.keys.jwks());
  });

  // Our SP metadata for an upstream SAML IdP, for its admin to import (SAML metadata §2.4.4):
  // entity ID, the POST ACS (`/callback/<id>` on the public URL) and the NameID format we ask for.
  app.get('/saml/:idp/metadata', async (req, reply) => {
    const auth = loadAuth();
    const id = (req.params as { idp: string }).idp;
    const connector = deps.connectors().get(id);
    if (connector === undefined || !isSamlConnector(connector)) throw new AuthHttpError(404, 'not_found', 'There is no SAML identity provider with this id.');
    reply.header('cache-control', 'public, max-age=300');
    return reply.type('application/samlmetadata+xml; charset=utf-8').send(connector.spMetadata(`${baseUrl(auth)}/callback/${connector.id}`));
  });

  app.get('/login', async (req, reply) => {
    const auth = loadAuth();
    const raw = req.query as Record<string, unknown>;
    const q: Record<string, unknown> = raw.launcher === '1' ? { app: LAUNCHER_APP, rd: `${baseUrl(auth)}/` } : raw;
    const appCfg = loadApp(q.app);
    const rd = checkReturnUrl(appCfg, q.rd);
    const bind = readBinding(appCfg, q.bind);
    // No browser binding (a bookmarked or hand-made login link): back to the app,
    // whose redirect to sign in sets the binding cookie on its host and names it here.
    if (appCfg.saas !== true && bind === undefined) return reply.redirect(rd.href, 302);
    const nowMs = deps.clock();
    const reauth = raw.launcher === '1' ? undefined : readReauth(q);
    const session = await readGlobalSession(req, auth, nowMs);
    // An RP's prompt=login or max_age (via bouncer's OIDC provider) wants a fresh sign-in at the IdP, not the session.
    if (session !== undefined && appCfg.idps.includes(session.idp) && !needsReauth(reauth, session, nowMs)) {
      checkPolicy(req, auth, appCfg, identityFromClaims(session), rd, nowMs);
      return finishLogin(reply, auth, appCfg, session, rd, bind, nowMs);
    }
    const connectors = deps.connectors();
    const offered = appCfg.idps.map((id) => connectors.get(id)).filter((c): c is IdpConnector => c !== undefined);
    if (offered.length === 0) throw new AuthHttpError(503, 'idp_unavailable', 'No identity provider is available for this application.');
    if (offered.length === 1) return beginLogin(reply, auth, appCfg, offered[0]!, rd, bind, nowMs, reauth);
    const query = new URLSearchParams({ app: appCfg.name, rd: rd.href, ...(bind !== undefined ? { bind } : {}), ...reauthParams(reauth) }).toString();
    const html = renderChooserPage({
      appName: appCfg.name,
      entries: offered.map((c) => ({ displayName: c.displayName, href: `/login/${encodeURIComponent(c.id)}?${query}` })),
    });
    return reply.type('text/html; charset=utf-8').send(html);
  });

  app.get('/login/:idp', async (req, reply) => {
    const q = req.query as Record<string, unknown>;
    const auth = loadAuth();
    const appCfg = loadApp(q.app);
    const rd = checkReturnUrl(appCfg, q.rd);
    const bind = readBinding(appCfg, q.bind);
    if (appCfg.saas !== true && bind === undefined) return reply.redirect(rd.href, 302);
    const connector = loadConnector(appCfg, (req.params as { idp: string }).idp);
    return beginLogin(reply, auth, appCfg, connector, rd, bind, deps.clock(), readReauth(q));
  });

  const callback = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const auth = loadAuth();
    const idpId = (req.params as { idp: string }).idp;
    const params = callbackParams(req);
    const nowMs = deps.clock();
    // The cookie goes whatever happens next: a transaction is single-use.
    reply.header('set-cookie', `${TX_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=None`);

    const state = params.get('state') ?? params.get('RelayState');
    if (state === null || !TX_ID.test(state)) throw new LoginError('login_state_mismatch', 'callback without a valid state');
    const taken = await shared('reading the login transaction', () => transactions.take(state));
    if (!taken.ok) {
      if (taken.problem === 'replayed') throw new LoginError('login_replayed', 'login transaction already used');
      if (taken.problem === 'expired') throw new LoginError('login_expired', 'login transaction expired');
      throw new LoginError('login_state_mismatch', 'no login transaction for this state');
    }
    const tx = taken.tx;
    const cookie = readCookie(req.headers.cookie, TX_COOKIE);
    if (cookie === undefined || !sameString(cookie, tx.id)) {
      throw new LoginError('login_state_mismatch', 'transaction cookie missing or from another browser');
    }
    if (tx.idp !== idpId) throw new LoginError('login_state_mismatch', `transaction was started for IdP ${tx.idp}`);
    const appCfg = loadApp(tx.app);
    // Re-checked: the config may have been reloaded since the login started.
    const rd = checkReturnUrl(appCfg, tx.rd);
    const connector = loadConnector(appCfg, tx.idp);

    const raw = await connector.finish({ callbackUrl: `${baseUrl(auth)}/callback/${connector.id}`, params, secrets: tx.secrets, nowMs });
    const identity = normalizeIdentity(raw, connector);

    const session = await issueGlobalSession(reply, auth, identity, req, nowMs);
    req.log.info({ sub: identity.sub, idp: identity.idp.id, app: appCfg.name, sid: session.sid }, 'login succeeded');
    checkPolicy(req, auth, appCfg, identity, rd, nowMs);
    return finishLogin(reply, auth, appCfg, session, rd, tx.bind, nowMs);
  };
  app.get('/callback/:idp', callback);
  app.post('/callback/:idp', callback);

  /** Sign the global session (aud = auth domain) and set AUTH_COOKIE. */
  async function issueGlobalSession(reply: FastifyReply, auth: AuthConfig, identity: Identity, req: FastifyRequest, nowMs: number): Promise<SessionClaims> {
    const nowSec = Math.floor(nowMs / 1000);
    const country = requestContext(req, auth, { hostname: auth.domain, path: '/' }, nowMs).country;
    // When the auth domain is also an mTLS tenant, ext_authz verified the device and
    // told us its fingerprint (it strips any client-sent copy); the session records it.
    const fpHeader = req.headers['x-bouncer-client-fingerprint-sha256'];
    const certFp = typeof fpHeader === 'string' && /^[0-9a-f]{64}$/.test(fpHeader) ? fpHeader : undefined;
    const claims = {
      iss: auth.domain,
      sub: identity.sub,
      aud: auth.domain,
      ...(identity.email !== undefined ? { email: identity.email } : {}),
      ...(identity.name !== undefined ? { name: identity.name } : {}),
      groups: [...identity.groups],
      idp: identity.idp.id,
      idp_type: identity.idp.type,
      amr: [...identity.amr],
      ...(country !== undefined ? { country } : {}),
      ...(certFp !== undefined ? { cert_fp: certFp } : {}),
      auth_time: Math.floor(identity.authTime / 1000),
      sid: randomUUID(),
      exp: nowSec + auth.sessionDurationSec,
    };
    const jti = randomUUID();
    const token = await signSession({ ...claims, jti }, deps.keys.current(), nowMs);
    // Append to the tx-cookie deletion set in the callback.
    const prev = reply.getHeader('set-cookie');
    const list = prev === undefined ? [] : Array.isArray(prev) ? prev.map(String) : [String(prev)];
    reply.header('set-cookie', [...list, serializeCookie(AUTH_COOKIE, token, { maxAgeSec: auth.sessionDurationSec })]);
    return { ...claims, jti, iat: nowSec, nbf: nowSec };
  }

  app.get('/me', async (req, reply) => {
    const auth = loadAuth();
    const session = await readGlobalSession(req, auth, deps.clock());
    if (session === undefined) return reply.code(401).type('application/json').send({ error: 'login_required', request_id: req.id });
    return reply.type('application/json').send({
      sub: session.sub,
      email: session.email ?? null,
      name: session.name ?? null,
      groups: session.groups,
      idp: { id: session.idp, type: session.idp_type },
      amr: session.amr,
      country: session.country ?? null,
      auth_time: session.auth_time,
      sid: session.sid,
      exp: session.exp,
    });
  });

  app.get('/logout', async (req, reply) => {
    const auth = loadAuth();
    const nowMs = deps.clock();
    const session = await readGlobalSession(req, auth, nowMs);
    if (session !== undefined) {
      // Revoking the sid also ends every app session minted from this login (they share it),
      // for as long as any of them could live.
      revokeSignIn(deps.revocation, session, nowMs, longestSessionMs(deps.config()));
      // "Sign out everywhere": every session of this user issued until now, on any device.
      if ((req.query as Record<string, unknown>).everywhere === '1') deps.revocation.revokeUser(session.sub, nowMs);
      req.log.info({ sub: session.sub, sid: session.sid }, 'logout');
      if (deps.flushRevocations) {
        // The revocation stays queued and is retried; say so rather than fail the sign-out the user asked for.
        await deps.flushRevocations().catch((err: unknown) => req.log.warn({ err: { message: (err as Error).message } }, 'logout: revocation not yet shared with other replicas; it will be retried'));
      }
    }
    reply.header('set-cookie', [clearCookie(AUTH_COOKIE), `${TX_COOKIE}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=None`]);
    if (wantsJson(req)) return reply.type('application/json').send({ status: 'signed_out', request_id: req.id });
    return reply.type('text/html; charset=utf-8').send(renderSignedOutPage());
  });

  return {
    async listen(host, port) {
      await app.listen({ host, port });
      return (app.server.address() as AddressInfo).port;
    },
    async close() {
      await app.close();
    },
  };
}

/** A fresh sign-in asked for: `prompt=login` (any age too old) or `max_age` seconds. */
type Reauth = { readonly maxAgeSec?: number | undefined };

/** `prompt=login` / `max_age=<seconds>` of a login request (OIDC Core §3.1.2.1), as the OIDC provider passes them on. */
function readReauth(q: Record<string, unknown>): Reauth | undefined {
  const login = typeof q.prompt === 'string' && q.prompt.split(' ').includes('login');
  const maxAge = typeof q.max_age === 'string' && /^\d{1,9}$/.test(q.max_age) ? Number(q.max_age) : undefined;
  if (!login && maxAge === undefined) return undefined;
  return login ? { maxAgeSec: maxAge ?? 0 } : { maxAgeSec: maxAge };
}

function reauthParams(r: Reauth | undefined): Record<string, string> {
  if (r === undefined) return {};
  return { prompt: 'login', ...(r.maxAgeSec !== undefined ? { max_age: String(r.maxAgeSec) } : {}) };
}

/** Whether the session's sign-in is older than a fresh sign-in allows; `prompt=login` (max age 0) always is. */
function needsReauth(r: Reauth | undefined, session: SessionClaims, nowMs: number): boolean {
  if (r === undefined) return false;
  if (r.maxAgeSec === undefined || r.maxAgeSec === 0) return true;
  return session.auth_time < Math.floor(nowMs / 1000) - r.maxAgeSec;
}

/** The longest session any sign-in can have derived, in ms: the bound of a sign-in revocation. */
function longestSessionMs(c: ReturnType<AuthServerDeps['config']>): number {
  const sec = Math.max(c.auth?.sessionDurationSec ?? 0, ...c.apps.map((a) => a.sessionDurationSec), ...(c.saasApps ?? []).map((a) => a.sessionDurationSec));
  return sec * 1000;
}

/** Drop what the session must not carry: an email the IdP did not verify would let anyone claim any address. */
function normalizeIdentity(identity: Identity, connector: IdpConnector): Identity {
  if (identity.idp.id !== connector.id || identity.idp.type !== connector.type || !identity.sub.startsWith(`${connector.id}:`)) {
    throw new LoginError('login_token_invalid', 'connector returned an identity for another IdP');
  }
  if (identity.email === undefined || identity.emailVerified) return identity;
  return { ...identity, email: undefined, emailVerified: false };
}

function isSamlConnector(c: IdpConnector): c is SamlConnector {
  return c.type === 'saml' && typeof (c as Partial<SamlConnector>).spMetadata === 'function';
}

function callbackParams(req: FastifyRequest): URLSearchParams {
  if (req.method === 'POST') {
    if (req.body instanceof URLSearchParams) return req.body;
    throw new LoginError('login_idp_error', 'callback body is not a form');
  }
  const url = req.raw.url ?? '';
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function wantsJson(req: FastifyRequest): boolean {
  const accept = req.headers.accept ?? '';
  return /\bapplication\/json\b/i.test(accept) && !/\btext\/html\b/i.test(accept);
}

function renderError(req: FastifyRequest, reply: FastifyReply, err: AuthHttpError): FastifyReply {
  reply.code(err.status);
  if (wantsJson(req)) {
    return reply.type('application/json').send({
      error: err.code,
      message: err.message,
      policy: err.policy ?? null,
      request_id: req.id,
    });
  }
  const title = err.code.startsWith('policy_') ? 'Access denied' : err.status >= 500 ? 'Sign-in unavailable' : 'Sign-in failed';
  return reply.type('text/html; charset=utf-8').send(
    renderDenyPage({
      title,
      message: err.message,
      reason: err.code,
      policy: err.policy,
      requestId: req.id,
      app: err.extra?.app,
      user: err.extra?.user,
    }),
  );
}

function returnUrlText(problem: ReturnUrlProblem): string {
  switch (problem) {
    case 'return_url_missing':
      return 'The sign-in link has no return address.';
    case 'return_url_host_not_allowed':
      return 'The return address is not a host of this application.';
    case 'return_url_path_unsafe':
      return 'The return address has a path a browser could read as another site.';
    default:
      return 'The return address is not a valid https URL of this application.';
  }
}


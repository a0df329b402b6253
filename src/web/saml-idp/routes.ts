/**
 * bouncer as the SAML IdP of SaaS apps: per-app metadata, SSO for SP-initiated
 * logins (HTTP-Redirect and HTTP-POST AuthnRequests) and IdP-initiated logins.
 *
 * Each SSO request runs the same steps: `loadSamlApp` → `readRequest` (verify, or
 * resume a parked one) → `requireSession` (else park and send to /login) →
 * `checkPolicy` (deny page, no assertion) → `issueResponse` (signed Response in
 * an auto-posting form). Each step passes a value on or throws a
 * {@link SamlIdpError}; one renderer turns those into pages.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthConfig, SaasAppConfig, SaasSamlConfig } from '../../config/types.js';
import type { Identity, RequestContext } from '../../core/identity.js';
import { checkLoginBinding, hashLoginBinding, LOGIN_BINDING_FORMAT, LOGIN_BINDING_TTL_SEC } from '../../core/login-binding.js';
import { evaluatePolicies } from '../../core/policy/index.js';
import { BIND_COOKIE, readCookie, serializeCookie } from '../../sessions/cookies.js';
import { identityFromClaims, type SessionClaims } from '../../core/session-token.js';
import { renderDenyPage } from '../auth/pages.js';
import { readAuthnRequest, type AuthnRequestInfo } from './authn-request.js';
import { POLICY_DENIED_STATUS, WEB_ERROR_STATUS } from '../http-status.js';
import { SAML_IDP_TEXT, SamlIdpError } from './errors.js';
import { createPendingSamlStore, type PendingSamlRequest, type PendingSamlStore } from './pending.js';
import { renderPostForm } from './post-form.js';
import { buildSamlResponse, samlIdpEntity, samlIdpUrls, type SamlIdpSigning, type SamlIdpUrls } from './response.js';

/** Where the routes are added: the auth service's fastify instance (or any with `get`/`post`). */
export type RouteRegistrar = Pick<FastifyInstance, 'get' | 'post'>;

/** What the SAML IdP needs from the auth service. */
export interface SamlIdpDeps {
  /** Current config; called per request, so reloads apply at once. */
  config(): { readonly auth: AuthConfig | undefined; readonly saasApps: readonly SaasAppConfig[] };
  /** The IdP signing pair (from {@link loadSamlIdpSigning}); a function so a reload can swap it. */
  signing(): SamlIdpSigning;
  /**
   * The verified, unrevoked global session of a request, or undefined. The auth
   * service's own check (e.g. `readGlobalSession` of `web/oidc-provider/global-session.ts`).
   */
  readSession(headers: IncomingHttpHeaders, auth: AuthConfig, nowMs: number, log: FastifyRequest['log']): Promise<SessionClaims | undefined>;
  /** Milliseconds since epoch. */
  clock(): number;
  /** Public origin of the auth service (as in `AuthServerDeps`); default `https://<auth.domain>`. */
  publicBaseUrl?: string;
  /** Parked requests during login; default in memory. */
  pending?: PendingSamlStore;
}

/** Longest RelayState accepted. SAML bindings §3.4.3 says 80 bytes, but SPs (Salesforce, AWS) send deep links. */
export const MAX_RELAY_STATE = 1024;

/**
 * Adds `GET /saml/idp/:app/metadata`, `GET|POST /saml/idp/:app/sso` and
 * `GET /saml/idp/:app/init` to `app`. POST bodies must reach the handler as
 * `URLSearchParams` or a plain object (the auth service's form parser does the first).
 *
 * @example
 * registerSamlIdp(fastifyApp, {
 *   config: () => current, signing: () => signing, clock: Date.now,
 *   readSession: (headers, auth, now, log) => readGlobalSession(headers, auth, { keys, revocation }, now, log),
 * });
 */
export function registerSamlIdp(app: RouteRegistrar, deps: SamlIdpDeps): void {
  const pending = deps.pending ?? createPendingSamlStore();

  // ---- steps -------------------------------------------------------------

  function loadSamlApp(req: FastifyRequest): { auth: AuthConfig; app: SaasAppConfig; saml: SaasSamlConfig; urls: SamlIdpUrls } {
    const cfg = deps.config();
    if (cfg.auth === undefined) throw new SamlIdpError('saml_not_configured', 'no auth section');
    const name = (req.params as { app?: string }).app;
    const found = cfg.saasApps.find((a) => a.name === name);
    if (found?.saml === undefined) throw new SamlIdpError('saml_sp_unknown', `no SAML saas app named '${String(name).slice(0, 64)}'`);
    const base = (deps.publicBaseUrl ?? cfg.auth.publicUrl ?? `https://${cfg.auth.domain}`).replace(/\/+$/, '');
    return { auth: cfg.auth, app: found, saml: found.saml, urls: samlIdpUrls(base, found.name) };
  }

  /** A verified AuthnRequest from either binding, or the parked one named by `pending`. */
  function readRequest(req: FastifyRequest, ctx: ReturnType<typeof loadSamlApp>, nowMs: number): { parked: PendingSamlRequest; pendingId: string | undefined } {
    const query = req.query as Record<string, unknown>;
    if (req.method === 'GET' && typeof query.pending === 'string') {
      const parked = pending.get(query.pending, nowMs);
      if (parked === undefined || parked.app !== ctx.app.name) throw new SamlIdpError('saml_request_expired', 'no parked request for this id');
      // The link back from the login resumes only in the browser that parked the request.
      const unbound = checkLoginBinding(parked.bind, readCookie(req.headers.cookie, BIND_COOKIE));
      if (unbound !== undefined) throw new SamlIdpError('saml_request_unbound', `parked request resumed in another browser (${unbound})`);
      return { parked, pendingId: query.pending };
    }
    const expect = { entityId: ctx.saml.entityId, acsUrls: ctx.saml.acsUrls, ssoUrl: ctx.urls.ssoUrl, authnRequestsSigned: ctx.saml.authnRequestsSigned, spCertPem: ctx.saml.spCertPem };
    let info: AuthnRequestInfo;
    let relayState: string | undefined;
    if (req.method === 'POST') {
      const form = formParams(req.body);
      const samlRequest = form.get('SAMLRequest');
      if (samlRequest === null) throw new SamlIdpError('saml_request_missing', 'no SAMLRequest in the form');
      info = readAuthnRequest({ binding: 'post', samlRequest }, expect);
      relayState = checkRelayState(form.get('RelayState'));
    } else {
      const raw = req.raw.url ?? '';
      const q = raw.indexOf('?');
      const rawQuery = q < 0 ? '' : raw.slice(q + 1);
      info = readAuthnRequest({ binding: 'redirect', rawQuery }, expect);
      relayState = checkRelayState(new URLSearchParams(rawQuery).get('RelayState'));
    }
    return { parked: { app: ctx.app.name, requestId: info.id, acsUrl: info.acsUrl, relayState, createdMs: nowMs }, pendingId: undefined };
  }

  /** The session, or a redirect to /login that returns to this endpoint with the request parked. */
  async function requireSession(
    req: FastifyRequest,
    reply: FastifyReply,
    ctx: ReturnType<typeof loadSamlApp>,
    parked: PendingSamlRequest,
    pendingId: string | undefined,
    nowMs: number,
  ): Promise<SessionClaims | FastifyReply> {
    const session = await deps.readSession(req.headers, ctx.auth, nowMs, req.log);
    // A session from an IdP this app does not accept is no session for it (as in /login).
    if (session !== undefined && ctx.app.idps.includes(session.idp)) return session;
    let id = pendingId;
    if (id === undefined) {
      // Bind the parked request to this browser, as ext_authz binds an app sign-in (a cookie kept if it has one).
      const held = readCookie(req.headers.cookie, BIND_COOKIE);
      const value = held !== undefined && LOGIN_BINDING_FORMAT.test(held) ? held : randomBytes(32).toString('base64url');
      id = pending.put({ ...parked, bind: hashLoginBinding(value) }, nowMs);
      reply.header('set-cookie', serializeCookie(BIND_COOKIE, value, { maxAgeSec: LOGIN_BINDING_TTL_SEC }));
    }
    // The return URL names the auth domain itself; /login accepts it for saas apps and redirects back by path.
    const rd = `https://${ctx.auth.domain}/saml/idp/${encodeURIComponent(ctx.app.name)}/sso?pending=${id}`;
    const login = `/login?${new URLSearchParams({ app: ctx.app.name, rd }).toString()}`;
    return reply.redirect(login, 302);
  }

  function checkPolicy(req: FastifyRequest, ctx: ReturnType<typeof loadSamlApp>, identity: Identity, nowMs: number): { denied: false } | { denied: true; code: string; message: string; policy: string | undefined } {
    const countryHeader = ctx.auth.countryHeader !== undefined ? req.headers[ctx.auth.countryHeader] : undefined;
    const rc: RequestContext = {
      nowMs,
      host: ctx.auth.domain,
      path: `/saml/idp/${ctx.app.name}/sso`,
      method: 'GET',
      sourceIp: req.ip,
      country: typeof countryHeader === 'string' && /^[A-Za-z]{2}$/.test(countryHeader) ? countryHeader.toUpperCase() : undefined,
      // The auth domain sees no client certificate; certificate selectors cannot match here.
      certificate: undefined,
      serviceToken: undefined,
    };
    const verdict = evaluatePolicies(ctx.app.policies, identity, rc);
    req.log.info({ app: ctx.app.name, sub: identity.sub, email: identity.email ?? null, idp: identity.idp.id, outcome: verdict.outcome, reason: verdict.reason, policy: verdict.policy ?? null }, 'saml idp policy');
    if (verdict.outcome === 'allow' || verdict.outcome === 'bypass') return { denied: false };
    return { denied: true, code: verdict.reason === 'login_required' ? 'policy_no_match' : verdict.reason, message: `Access denied. ${verdict.detail}`, policy: verdict.policy };
  }

  async function issueResponse(reply: FastifyReply, req: FastifyRequest, ctx: ReturnType<typeof loadSamlApp>, parked: PendingSamlRequest, session: SessionClaims, nowMs: number): Promise<FastifyReply> {
    const identity = identityFromClaims(session);
    const { samlResponse, assertionId } = await buildSamlResponse({
      app: ctx.app,
      saml: ctx.saml,
      urls: ctx.urls,
      signing: ctx.saml.signing ?? deps.signing(),
      identity,
      acsUrl: parked.acsUrl,
      inResponseTo: parked.requestId,
      sessionIndex: session.sid,
      sessionNotOnOrAfterMs: Math.min(session.exp * 1000, nowMs + ctx.app.sessionDurationSec * 1000),
      nowMs,
    });
    req.log.info({ app: ctx.app.name, sub: identity.sub, sid: session.sid, acs: parked.acsUrl, in_response_to: parked.requestId ?? null, assertion_id: assertionId }, 'saml assertion issued');
    const page = renderPostForm({ action: parked.acsUrl, fields: { SAMLResponse: samlResponse, RelayState: parked.relayState }, appName: ctx.app.displayName });
    return reply.header('content-security-policy', page.contentSecurityPolicy).type('text/html; charset=utf-8').send(page.html);
  }

  // ---- pipeline ------------------------------------------------------------

  async function sso(req: FastifyRequest, reply: FastifyReply, start: (ctx: ReturnType<typeof loadSamlApp>, nowMs: number) => { parked: PendingSamlRequest; pendingId: string | undefined }): Promise<FastifyReply> {
    try {
      const nowMs = deps.clock();
      const ctx = loadSamlApp(req);
      const { parked, pendingId } = start(ctx, nowMs);
      const session = await requireSession(req, reply, ctx, parked, pendingId, nowMs);
      if (!('sid' in session)) return session;
      // Single use from here on: whatever the outcome, this parked request is spent.
      if (pendingId !== undefined) pending.remove(pendingId);
      const identity = identityFromClaims(session);
      const verdict = checkPolicy(req, ctx, identity, nowMs);
      if (verdict.denied) {
        return renderPage(req, reply, POLICY_DENIED_STATUS, 'Access denied', verdict.message, verdict.code, verdict.policy, ctx.app.name, identity.email ?? identity.sub);
      }
      return await issueResponse(reply, req, ctx, parked, session, nowMs);
    } catch (err) {
      if (!(err instanceof SamlIdpError)) throw err;
      req.log.warn({ reason: err.code, detail: err.detail, app: (req.params as { app?: string }).app }, 'saml idp request refused');
      const status = WEB_ERROR_STATUS[err.code];
      const text = SAML_IDP_TEXT[err.code];
      return renderPage(req, reply, status, status >= 500 ? 'Sign-in unavailable' : 'Sign-in refused', text, err.code, undefined, undefined, undefined);
    }
  }

  // ---- routes --------------------------------------------------------------

  app.get('/saml/idp/:app/metadata', async (req, reply) => {
    try {
      const ctx = loadSamlApp(req);
      const xml = samlIdpEntity(ctx.app, ctx.saml, ctx.urls, ctx.saml.signing ?? deps.signing()).getMetadata();
      reply.header('cache-control', 'public, max-age=300');
      return reply.type('application/samlmetadata+xml; charset=utf-8').send(xml);
    } catch (err) {
      if (!(err instanceof SamlIdpError)) throw err;
      return renderPage(req, reply, WEB_ERROR_STATUS[err.code], 'Not found', SAML_IDP_TEXT[err.code], err.code, undefined, undefined, undefined);
    }
  });

  app.get('/saml/idp/:app/sso', async (req, reply) => sso(req, reply, (ctx, nowMs) => readRequest(req, ctx, nowMs)));
  app.post('/saml/idp/:app/sso', async (req, reply) => sso(req, reply, (ctx, nowMs) => readRequest(req, ctx, nowMs)));

  // IdP-initiated (SAML profiles §4.1.5): no request, so no InResponseTo; the default ACS.
  app.get('/saml/idp/:app/init', async (req, reply) =>
    sso(req, reply, (ctx, nowMs) => {
      const q = req.query as Record<string, unknown>;
      const relayState = checkRelayState(typeof q.RelayState === 'string' ? q.RelayState : null);
      const acsUrl = ctx.saml.acsUrls[0];
      if (acsUrl === undefined) throw new SamlIdpError('saml_acs_not_registered', 'no ACS URL is registered');
      return { parked: { app: ctx.app.name, requestId: undefined, acsUrl, relayState, createdMs: nowMs }, pendingId: undefined };
    }),
  );
}

/** RelayState is opaque to us (SAML bindings §3.4.3) but is echoed into a page: bounded, printable. */
function checkRelayState(value: string | null): string | undefined {
  if (value === null || value === '') return undefined;
  if (value.length > MAX_RELAY_STATE || /\p{Cc}/u.test(value)) throw new SamlIdpError('saml_relay_state_invalid', `RelayState of ${value.length} characters or with control characters`);
  return value;
}

function formParams(body: unknown): URLSearchParams {
  if (body instanceof URLSearchParams) return body;
  if (body !== null && typeof body === 'object') {
    const out = new URLSearchParams();
    for (const [k, v] of Object.entries(body as Record<string, unknown>)) if (typeof v === 'string') out.set(k, v);
    return out;
  }
  throw new SamlIdpError('saml_request_missing', 'POST body is not a form');
}

function renderPage(
  req: FastifyRequest,
  reply: FastifyReply,
  status: number,
  title: string,
  message: string,
  reason: string,
  policy: string | undefined,
  app: string | undefined,
  user: string | undefined,
): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .send(renderDenyPage({ title, message, reason, policy, requestId: req.id, app, user }));
}

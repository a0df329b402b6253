/**
 * bouncer as the OpenID Provider of SaaS apps: oidc-provider mounted under
 * `/oidc` on the auth domain (issuer `<publicBaseUrl>/oidc`).
 *
 * Every authorization request goes through one interaction, answered by
 * {@link SaasOidcProvider.interaction}: no global session → the login service;
 * a session → the SaaS app's policies → the deny page, or login and consent
 * granted at once (the operator registered the client, so there is no consent
 * screen). The provider's own session is never trusted on its own: a forced
 * check makes every authorization re-read the global session, so logout and
 * revocation apply to the next login at every SaaS app.
 *
 * Decisions, with why:
 * - Signing keys are separate from the session keys (ID tokens go to third
 *   parties; session keys only ever sign tokens bouncer itself reads) and RS256,
 *   the algorithm every RP must support (OIDC Core §15.1). Pass `signingJwks` to
 *   keep them across restarts; by default an RSA-2048 key is generated in memory.
 * - Storage is the bounded in-memory adapter: one replica.
 * - Only the code flow, PKCE S256 required, exact redirect URIs (the request
 *   must name one: no omission even with a single URI).
 * - Each client authenticates at the token endpoint only the way it is
 *   registered (`client_secret_basic` by default, or `client_secret_post`);
 *   oidc-provider takes either for either, so {@link checkClientAuthMethod}
 *   refuses the other before the request reaches it. Discovery advertises only
 *   the methods some client is registered with.
 * - Tokens are only as good as the sign-in behind them: a code redeemed, or an
 *   access token used, after that sign-in was revoked (sign-out) is refused.
 */
import { createHash, generateKeyPair, randomBytes, type JsonWebKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { AuthConfig, SaasAppConfig } from '../../config/types.js';
import type { RequestContext } from '../../core/identity.js';
import { evaluatePolicies } from '../../core/policy/index.js';
import { identityFromClaims, type SessionClaims } from '../../core/session-token.js';
import { CONTENT_SECURITY_POLICY, renderDenyPage } from '../auth/pages.js';
import { createBoundedAdapter, type OidcAdapterFactory } from './adapter.js';
import { readGlobalSession, type GlobalSessionDeps } from './global-session.js';
import { loadOidcProvider, type OidcAccount, type OidcCtx, type OidcProviderInstance, type OidcProviderModule, type OidcTokenLike } from './lib.js';

/** Path prefix of the provider on the auth domain. */
export const OIDC_MOUNT = '/oidc';

/** Scopes offered, and the claims each releases (ID token and userinfo). */
export const OIDC_SCOPE_CLAIMS: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub', 'idp', 'amr'],
  email: ['email', 'email_verified'],
  profile: ['name'],
  groups: ['groups'],
};

/** Token lifetimes in seconds. Codes are redeemed by a server at once; access tokens only reach userinfo. */
export const OIDC_TTL = { AuthorizationCode: 60, AccessToken: 600, IdToken: 3600, Interaction: 600 } as const;

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

/** The mounted provider. */
export interface SaasOidcProvider {
  /** Serve a request under `/oidc` (except interactions): rewrites the URL and hands it to oidc-provider. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** `GET /oidc/interaction/:uid`. */
  interaction(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  close(): Promise<void>;
}

/** Identity facts remembered between the interaction and the token request (a server-to-server call without the user's cookies). */
interface AccountSnapshot {
  readonly sub: string;
  readonly email: string | undefined;
  readonly name: string | undefined;
  readonly groups: readonly string[];
  readonly idp: string;
  readonly amr: readonly string[];
  /** The sign-in the tokens derive from: a revocation of it (sign-out) ends them. */
  readonly sid: string;
  readonly iat: number;
}

const INTERACTION_PATH = /^\/oidc\/interaction\/([A-Za-z0-9_-]{1,64})$/;

/**
 * Build the provider (oidc-provider itself is loaded and configured on first use).
 *
 * @example
 * ```ts
 * const oidc = createSaasOidcProvider({ config: () => current, keys, revocation, logger, clock: Date.now });
 * app.get('/oidc/interaction/:uid', (req, reply) => oidc.interaction(req, reply));
 * ```
 */
export function createSaasOidcProvider(deps: SaasOidcDeps): SaasOidcProvider {
  const adapter: OidcAdapterFactory = createBoundedAdapter({ ...(deps.maxStoredEntries !== undefined ? { maxEntries: deps.maxStoredEntries } : {}), clock: deps.clock });
  // Cookie keys live as long as the process, so a provider rebuilt on reload still reads the cookies of logins in flight.
  const cookieKeys = [randomBytes(32).toString('base64url')];
  const snapshots = new LRUCache<string, AccountSnapshot>({ max: 20_000, ttl: (OIDC_TTL.AccessToken + 60) * 1000, perf: { now: deps.clock }, ttlResolution: 0 });
  const callbacks = new WeakMap<OidcProviderInstance, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  let signingKeys: Promise<JWK[]> | undefined;
  let built: { fingerprint: string; provider: Promise<OidcProviderInstance> } | undefined;

  function baseUrl(auth: AuthConfig): string {
    return (deps.publicBaseUrl ?? `https://${auth.domain}`).replace(/\/+$/, '');
  }

  function oidcApps(): SaasAppConfig[] {
    const seen = new Set<string>();
    const out: SaasAppConfig[] = [];
    for (const a of deps.config().saasApps) {
      if (a.oidc === undefined) continue;
      // The config loader rejects duplicate client ids; this guards a hand-built config in tests or embedding.
      if (seen.has(a.oidc.clientId)) {
        deps.logger.error({ app: a.name }, 'duplicate OIDC client id; the app is skipped');
        continue;
      }
      seen.add(a.oidc.clientId);
      out.push(a);
    }
    return out;
  }

  function appForClient(clientId: unknown): SaasAppConfig | undefined {
    return typeof clientId === 'string' ? oidcApps().find((a) => a.oidc?.clientId === clientId) : undefined;
  }

  async function loadSigningKeys(): Promise<JWK[]> {
    const raw: JsonWebKey[] =
      deps.signingJwks !== undefined && deps.signingJwks.length > 0
        ? [...deps.signingJwks]
        : [(await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })).privateKey.export({ format: 'jwk' })];
    return Promise.all(
      raw.map(async (k) => {
        const jwk = { ...k } as JWK;
        if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string') throw new TypeError('OIDC provider signing keys must be private RSA JWKs');
        return { ...jwk, kid: jwk.kid ?? (await calculateJwkThumbprint(jwk, 'sha256')), alg: 'RS256', use: 'sig' };
      }),
    );
  }

  /** The provider for the current config, rebuilt when the issuer, lifetimes or clients change. */
  function current(auth: AuthConfig): Promise<OidcProviderInstance> {
    const issuer = `${baseUrl(auth)}${OIDC_MOUNT}`;
    const clients = oidcApps().map((a) => ({
      client_id: a.oidc!.clientId,
      client_secret: a.oidc!.clientSecret,
      redirect_uris: [...a.oidc!.redirectUris],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: a.oidc!.tokenEndpointAuthMethod ?? 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    }));
    const fingerprint = createHash('sha256').update(JSON.stringify({ issuer, session: auth.sessionDurationSec, clients })).digest('base64url');
    if (built?.fingerprint !== fingerprint) {
      signingKeys ??= loadSigningKeys();
      const provider = Promise.all([loadOidcProvider(), signingKeys]).then(([mod, keys]) => build(mod, issuer, auth, clients, keys));
      // A failed build is not cached: the next request tries again (and logs again).
      provider.catch(() => {
        if (built?.provider === provider) built = undefined;
      });
      built = { fingerprint, provider };
    }
    return built.provider;
  }

  function build(mod: OidcProviderModule, issuer: string, auth: AuthConfig, clients: Array<{ token_endpoint_auth_method: string }>, keys: JWK[]): OidcProviderInstance {
    const policy = mod.interactionPolicy.base();
    // The provider's own session would otherwise log users in again without asking bouncer; this check sends
    // every authorization through our interaction, which re-reads the global session and the policies.
    policy.get('login')?.checks.add(
      new mod.interactionPolicy.Check('bouncer_recheck', 'bouncer checks the global session and the app policy on every authorization', (ctx) => ctx.oidc.result?.login === undefined),
    );
    const provider = new mod.Provider(issuer, {
      adapter,
      clients,
      jwks: { keys },
      cookies: {
        keys: cookieKeys,
        names: { session: 'bouncer_oidc_session', interaction: 'bouncer_oidc_interaction', resume: 'bouncer_oidc_resume' },
      },
      features: {
        devInteractions: { enabled: false },
        // No logout page of its own: /logout on the auth domain ends the global session, which every authorization re-checks.
        rpInitiatedLogout: { enabled: false },
        userinfo: { enabled: true },
      },
      responseTypes: ['code'],
      // Only what some client is registered with: discovery's token_endpoint_auth_methods_supported says so.
      clientAuthMethods: clients.length === 0 ? ['client_secret_basic'] : [...new Set(clients.map((c) => c.token_endpoint_auth_method))],
      pkce: { required: () => true },
      allowOmittingSingleRegisteredRedirectUri: false,
      // Scope claims go into the ID token too: SaaS apps commonly read only the ID token.
      conformIdTokenClaims: false,
      scopes: Object.keys(OIDC_SCOPE_CLAIMS),
      claims: { ...OIDC_SCOPE_CLAIMS, acr: null, auth_time: null, sid: null, iss: null },
      clientBasedCORS: () => false,
      ttl: { ...OIDC_TTL, Session: auth.sessionDurationSec, Grant: auth.sessionDurationSec },
      interactions: { policy, url: (_ctx: unknown, interaction: { uid: string }) => `${OIDC_MOUNT}/interaction/${interaction.uid}` },
      findAccount: (ctx: OidcCtx, id: string, token: OidcTokenLike | undefined) => findAccount(ctx, id, token),
      renderError: (ctx: OidcCtx, out: { error?: unknown; error_description?: unknown }) => renderProviderError(ctx, out),
    });
    // Behind Envoy the request arrives as plain HTTP; `handle` sets the forwarded headers from our own config, never the client's.
    provider.proxy = true;
    provider.on('server_error', (_ctx, err) => deps.logger.error({ err }, 'oidc provider error'));
    for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
      provider.on(event, (_ctx, err) => deps.logger.info({ event, error: (err as { error?: unknown }).error, detail: (err as Error).message }, 'oidc request refused'));
    }
    return provider;
  }

  async function findAccount(ctx: OidcCtx, id: string, token: OidcTokenLike | undefined): Promise<OidcAccount | undefined> {
    const grantId = token?.grantId ?? ctx.oidc.result?.consent?.grantId ?? ctx.oidc.entities.Grant?.jti;
    const snap = (grantId !== undefined ? snapshots.get(`grant:${grantId}`) : undefined) ?? snapshots.get(`sub:${id}`);
    if (snap === undefined || snap.sub !== id) return undefined;
    // Signed out since: the code or access token dies with the sign-in (oidc-provider answers invalid_grant / invalid_token).
    if (deps.revocation.isRevoked({ sid: snap.sid, sub: snap.sub, iat: snap.iat }, deps.clock())) {
      deps.logger.info({ sub: snap.sub, sid: snap.sid, event: 'oidc.token_refused' }, 'oidc token of a revoked sign-in refused');
      return undefined;
    }
    return {
      accountId: id,
      async claims() {
        return {
          sub: snap.sub,
          ...(snap.email !== undefined ? { email: snap.email, email_verified: true } : {}),
          ...(snap.name !== undefined ? { name: snap.name } : {}),
          groups: [...snap.groups],
          idp: snap.idp,
          amr: [...snap.amr],
        };
      },
    };
  }

  function renderProviderError(ctx: OidcCtx, out: { error?: unknown; error_description?: unknown }): void {
    const code = typeof out.error === 'string' ? out.error : 'invalid_request';
    const detail = typeof out.error_description === 'string' ? out.error_description : 'The sign-in request was refused.';
    const requestId = ctx.get('x-request-id');
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('content-security-policy', CONTENT_SECURITY_POLICY);
    ctx.body = renderDenyPage({
      title: 'Sign-in failed',
      message: detail,
      reason: code,
      policy: undefined,
      requestId: requestId === '' ? 'unknown' : requestId,
      app: undefined,
      user: undefined,
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = deps.config().auth;
    if (auth === undefined) {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'auth_not_configured' }));
      return;
    }
    let provider: OidcProviderInstance;
    try {
      provider = await current(auth);
    } catch (err) {
      deps.logger.error({ err }, 'oidc provider could not start');
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    const original = req.url ?? '/';
    if (req.method === 'POST' && original.split('?')[0] === `${OIDC_MOUNT}/token`) {
      const checked = await checkClientAuthMethod(req, res);
      if (checked === undefined) return;
      req = checked;
    }
    // Express-style mount: oidc-provider derives its mount path from `originalUrl` minus `url`.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = original;
    req.url = original.slice(OIDC_MOUNT.length) || '/';
    const pub = new URL(baseUrl(auth));
    // Koa (proxy = true) builds absolute URLs and the Secure cookie flag from these; they come from config, so a
    // client-supplied Host or X-Forwarded-* can never change the URLs the provider emits.
    req.headers['x-forwarded-proto'] = pub.protocol.slice(0, -1);
    req.headers['x-forwarded-host'] = pub.host;
    delete req.headers['x-forwarded-for'];
    res.setHeader('x-content-type-options', 'nosniff');
    res.setHeader('x-frame-options', 'DENY');
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader('strict-transport-security', 'max-age=31536000');
    // The authorization endpoint may answer with a form_post page carrying its own inline script; every
    // other page here is ours (renderProviderError sets the full policy) or JSON.
    res.setHeader('content-security-policy', "frame-ancestors 'none'; base-uri 'none'");
    let callback = callbacks.get(provider);
    if (callback === undefined) {
      callback = provider.callback();
      callbacks.set(provider, callback);
    }
    await callback(req, res);
  }

  /**
   * Refuse a token request whose client authenticates otherwise than registered
   * (RFC 6749 §2.3.1; OIDC Core §9). Basic is the Authorization header; post is
   * `client_secret` in the body, which is read here (at most 56 KB, oidc-provider's
   * own limit) and handed on to oidc-provider as if unread.
   *
   * @returns the request to hand on, or undefined when answered here.
   */
  async function checkClientAuthMethod(req: IncomingMessage, res: ServerResponse): Promise<IncomingMessage | undefined> {
    const refuse = (description: string): undefined => {
      deps.logger.info({ event: 'oidc.client_auth_refused', detail: description }, 'oidc request refused');
      res.writeHead(401, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify({ error: 'invalid_client', error_description: description }));
      return undefined;
    };
    const authorization = req.headers.authorization;
    if (authorization !== undefined) {
      const m = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(authorization);
      // Malformed headers are oidc-provider's to refuse (invalid_request).
      const decoded = m === null ? undefined : Buffer.from(m[1]!, 'base64').toString('utf8');
      const colon = decoded?.indexOf(':') ?? -1;
      if (decoded === undefined || colon < 0) return req;
      let clientId: string;
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
      } catch {
        return req;
      }
      const method = appForClient(clientId)?.oidc?.tokenEndpointAuthMethod ?? 'client_secret_basic';
      return method === 'client_secret_basic' ? req : refuse(`client ${clientId} is registered for ${method}, not client_secret_basic`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > 56 * 1024) return refuse('request body too large');
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    const params = new URLSearchParams(body.toString('utf8'));
    const clientId = params.get('client_id');
    const app = clientId === null ? undefined : appForClient(clientId);
    if (app !== undefined && params.has('client_secret')) {
      const method = app.oidc?.tokenEndpointAuthMethod ?? 'client_secret_basic';
      if (method !== 'client_secret_post') return refuse(`client ${clientId} is registered for ${method}, not client_secret_post`);
    }
    // The same request, its body readable once more, for oidc-provider's parser.
    return Object.create(req, {
      readable: { value: true },
      readableEncoding: { value: null },
      iterator: { value: () => Readable.from([body]).iterator() },
    }) as IncomingMessage;
  }

  function requestContext(req: FastifyRequest, auth: AuthConfig, nowMs: number): RequestContext {
    const header = auth.countryHeader !== undefined ? req.headers[auth.countryHeader] : undefined;
    const country = typeof header === 'string' && /^[A-Za-z]{2}$/.test(header) ? header.toUpperCase() : undefined;
    // The policy is decided on the auth domain, where the SaaS login happens; no client certificate is seen here.
    return { nowMs, host: auth.domain, path: `${OIDC_MOUNT}/auth`, method: 'GET', sourceIp: req.ip, country, certificate: undefined, serviceToken: undefined };
  }

  function page(reply: FastifyReply, status: number, html: string): FastifyReply {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    reply.header('cache-control', 'no-store');
    return reply.code(status).type('text/html; charset=utf-8').send(html);
  }

  function refuse(req: FastifyRequest, reply: FastifyReply, status: number, reason: string, message: string, extra: { app?: string; user?: string; policy?: string } = {}): FastifyReply {
    return page(
      reply,
      status,
      renderDenyPage({
        title: reason.startsWith('policy_') ? 'Access denied' : 'Sign-in failed',
        message,
        reason,
        policy: extra.policy,
        requestId: req.id,
        app: extra.app,
        user: extra.user,
      }),
    );
  }

  async function interaction(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const auth = deps.config().auth;
    if (auth === undefined) return refuse(req, reply, 503, 'auth_not_configured', 'Sign-in is not configured.');
    const m = INTERACTION_PATH.exec(new URL(req.url, 'http://x').pathname);
    const provider = await current(auth);
    let details;
    try {
      details = await provider.interactionDetails(req.raw, reply.raw);
    } catch (err) {
      req.log.info({ detail: (err as Error).message }, 'oidc interaction not found');
      return refuse(req, reply, 400, 'oidc_interaction_expired', 'This sign-in expired or was started in another browser. Go back to the application and start again.');
    }
    if (m === null || details.uid !== m[1]) {
      return refuse(req, reply, 400, 'oidc_interaction_expired', 'This sign-in expired or was started in another browser. Go back to the application and start again.');
    }
    const saas = appForClient(details.params['client_id']);
    if (saas === undefined || saas.oidc === undefined) return refuse(req, reply, 400, 'app_unknown', 'This sign-in names no known application.');

    const nowMs = deps.clock();
    const session = await readGlobalSession(req.headers, auth, deps, nowMs, req.log);
    const fresh = freshnessRequired(details, nowMs);
    if (session === undefined || !saas.idps.includes(session.idp) || (fresh !== undefined && session.auth_time < fresh.authAfterSec)) {
      if (session !== undefined && fresh !== undefined && new URL(req.url, 'http://x').searchParams.get('reauth') === '1') {
        // We already sent the user to sign in again and the IdP still reports an old sign-in:
        // tell the RP so (OIDC Core §3.1.2.6) rather than loop or answer with the old auth_time.
        req.log.info({ app: saas.name, sub: session.sub, idp: session.idp, auth_time: session.auth_time, required_after: fresh.authAfterSec }, 'saas oidc: fresh sign-in not obtained');
        const to = await provider.interactionResult(req.raw, reply.raw, { error: 'login_required', error_description: 'the identity provider did not authenticate the user again' }, { mergeWithLastSubmission: false });
        reply.header('cache-control', 'no-store');
        return reply.redirect(to, 303);
      }
      const rd = `${baseUrl(auth)}${OIDC_MOUNT}/interaction/${details.uid}${fresh !== undefined ? '?reauth=1' : ''}`;
      const params: Record<string, string> = { app: saas.name, rd };
      // The login service then skips the global session and asks the IdP for a fresh sign-in.
      if (fresh !== undefined) Object.assign(params, fresh.params);
      return reply.redirect(`/login?${new URLSearchParams(params)}`, 302);
    }

    const identity = identityFromClaims(session);
    const verdict = evaluatePolicies(saas.policies, identity, requestContext(req, auth, nowMs));
    req.log.info({ app: saas.name, sub: identity.sub, email: identity.email ?? null, idp: identity.idp.id, outcome: verdict.outcome, reason: verdict.reason, policy: verdict.policy ?? null }, 'saas oidc policy');
    if (verdict.outcome !== 'allow' && verdict.outcome !== 'bypass') {
      const reason = verdict.reason === 'login_required' ? 'policy_no_match' : verdict.reason;
      return refuse(req, reply, 403, reason, `Access denied. ${verdict.detail}`, {
        app: saas.name,
        user: identity.email ?? identity.sub,
        ...(verdict.policy !== undefined ? { policy: verdict.policy } : {}),
      });
    }

    const grantId = await grantRequestedScopes(provider, saas, session, details.params['scope']);
    remember(grantId, session);
    const returnTo = await provider.interactionResult(
      req.raw,
      reply.raw,
      // remember: false keeps the provider's session cookie to this browser session; it grants nothing on its own anyway.
      { login: { accountId: session.sub, amr: [...session.amr], ts: session.auth_time, remember: false }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    reply.header('cache-control', 'no-store');
    return reply.redirect(returnTo, 303);
  }

  /**
   * `prompt=login` or `max_age` (OIDC Core §3.1.2.1) of the authorization
   * request: the sign-in behind the answer must be newer than `authAfterSec`.
   * prompt=login counts from when the authorization request arrived.
   */
  function freshnessRequired(details: { iat?: unknown; params: Record<string, unknown> }, nowMs: number): { authAfterSec: number; params: Record<string, string> } | undefined {
    const prompt = typeof details.params['prompt'] === 'string' ? details.params['prompt'].split(' ') : [];
    const rawMaxAge = details.params['max_age'];
    const maxAge = typeof rawMaxAge === 'string' && /^\d{1,9}$/.test(rawMaxAge) ? Number(rawMaxAge) : typeof rawMaxAge === 'number' && Number.isSafeInteger(rawMaxAge) && rawMaxAge >= 0 ? rawMaxAge : undefined;
    const nowSec = Math.floor(nowMs / 1000);
    const bounds: number[] = [];
    if (prompt.includes('login')) bounds.push(typeof details.iat === 'number' ? details.iat : nowSec);
    if (maxAge !== undefined) bounds.push(nowSec - maxAge);
    if (bounds.length === 0) return undefined;
    return {
      authAfterSec: Math.max(...bounds),
      params: { prompt: 'login', ...(maxAge !== undefined ? { max_age: String(maxAge) } : {}) },
    };
  }

  /** Consent for a client the operator registered: every requested scope we offer is granted. */
  async function grantRequestedScopes(provider: OidcProviderInstance, saas: SaasAppConfig, session: SessionClaims, scope: unknown): Promise<string> {
    const requested = typeof scope === 'string' ? scope.split(' ') : [];
    const granted = requested.filter((s) => Object.hasOwn(OIDC_SCOPE_CLAIMS, s));
    const grant = new provider.Grant({ clientId: saas.oidc!.clientId, accountId: session.sub });
    grant.addOIDCScope(granted.join(' '));
    return grant.save();
  }

  function remember(grantId: string, s: SessionClaims): void {
    const snap: AccountSnapshot = { sub: s.sub, email: s.email, name: s.name, groups: [...s.groups], idp: s.idp, amr: [...s.amr], sid: s.sid, iat: s.iat };
    snapshots.set(`grant:${grantId}`, snap);
    snapshots.set(`sub:${s.sub}`, snap);
  }

  return {
    handle,
    interaction,
    async close() {
      snapshots.clear();
      built = undefined;
    },
  };
}

/**
 * Mount the provider on the login service's fastify instance: `GET /oidc/interaction/:uid`
 * and everything else under `/oidc/` (discovery, JWKS, authorize, token, userinfo).
 *
 * Requests under `/oidc/` are taken over in `onRequest`, before fastify reads
 * the body: oidc-provider parses token requests itself and cannot use a body
 * fastify already consumed.
 *
 * @example
 * ```ts
 * // inside createAuthServer, after the other routes:
 * registerSaasOidc(app, { config: deps.config, keys: deps.keys, revocation: deps.revocation,
 *   logger: deps.logger, clock: deps.clock, publicBaseUrl: deps.publicBaseUrl });
 * ```
 */
export function registerSaasOidc(app: FastifyInstance, deps: SaasOidcDeps): SaasOidcProvider {
  const oidc = createSaasOidcProvider(deps);
  app.get(`${OIDC_MOUNT}/interaction/:uid`, (req, reply) => oidc.interaction(req, reply));
  app.route({
    method: ['GET', 'POST', 'OPTIONS'],
    url: `${OIDC_MOUNT}/*`,
    onRequest: (req, reply, done) => {
      reply.hijack();
      req.raw.headers['x-request-id'] = req.id;
      reply.raw.setHeader('x-request-id', req.id);
      reply.raw.setHeader('cache-control', 'no-store');
      oidc.handle(req.raw, reply.raw).catch((err: unknown) => {
        req.log.error({ err }, 'oidc provider failed');
        if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(JSON.stringify({ error: 'server_error' }));
      });
      done();
    },
    // Never reached: the request is taken over in onRequest.
    handler: async () => undefined,
  });
  app.addHook('onClose', async () => oidc.close());
  return oidc;
}

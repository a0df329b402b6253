/**
 * The auth service ("auth domain"): login chooser, IdP round trips, the global
 * session cookie, the policy check at login, and the handoff to app hosts.
 *
 * This file builds the listener: body parsing, security headers, the error
 * renderer, and the routes. Each sign-in route runs its named steps from the
 * table in `endpoints.ts`; the SaaS routes (SAML IdP, OIDC provider, App
 * Launcher) register themselves.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify, LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../config/types.js';
import { isSafeRequestId } from '../../core/request-id.js';
import { createMemorySharedTransactionStore } from '../../stores/memory/transaction-store.js';
import { LoginError } from '../idp/connector.js';
import { registerLauncher } from '../launcher/routes.js';
import { readGlobalSession as readSessionFromHeaders } from '../oidc-provider/global-session.js';
import { registerSaasOidc } from '../oidc-provider/provider.js';
import { registerSamlIdp } from '../saml-idp/index.js';
import type { Endpoint, SignInServices } from './context.js';
import type { AuthServer, AuthServerDeps } from './deps.js';
import { runSteps, stepsFor } from './endpoints.js';
import { AuthHttpError, LOGIN_ERROR_TEXT, renderError, webError } from './errors.js';
import { CONTENT_SECURITY_POLICY } from './pages.js';

export type { AuthServer, AuthServerDeps } from './deps.js';

/** An ACME token is base64url (RFC 8555 §8.3); CAs use 43 characters. */
const ACME_TOKEN = /^[A-Za-z0-9_-]{16,128}$/;

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
  const services: SignInServices = { deps, transactions: deps.transactions ?? createMemorySharedTransactionStore({ clock: deps.clock }) };
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
      return renderError(req, reply, webError(err.code, LOGIN_ERROR_TEXT[err.code]));
    }
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      // fastify's own 4xx (413, 415, …) is more exact than the table's bad_request.
      return renderError(req, reply, new AuthHttpError(status, 'bad_request', 'The request was malformed.'));
    }
    req.log.error({ err }, 'auth service error');
    return renderError(req, reply, webError('internal_error', 'Something went wrong. Please try again.'));
  });

  app.setNotFoundHandler((req, reply) => renderError(req, reply, webError('not_found', 'There is nothing here.')));

  /** A route that runs an endpoint's steps (see endpoints.ts). */
  const endpoint = (name: Endpoint): ((req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>) => {
    const steps = stepsFor(name);
    return (req, reply) => runSteps({ endpoint: name, services, req, reply, nowMs: deps.clock() }, steps);
  };

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

  if (deps.acmeChallenge) {
    const answer = deps.acmeChallenge;
    app.get('/.well-known/acme-challenge/:token', async (req, reply) => {
      const { token } = req.params as { token: string };
      const keyAuthorization = ACME_TOKEN.test(token) ? await answer(token) : undefined;
      if (keyAuthorization === undefined) return renderError(req, reply, webError('not_found', 'There is no such ACME challenge.'));
      return reply.type('text/plain; charset=utf-8').send(keyAuthorization);
    });
  }

  app.get('/.well-known/jwks.json', async (_req, reply) => {
    // Public keys: caching is fine, but short, so rotations propagate.
    reply.header('cache-control', 'public, max-age=300');
    return reply.type('application/json').send(deps.keys.jwks());
  });

  app.get('/saml/:idp/metadata', endpoint('samlMetadata'));
  app.get('/login', endpoint('login'));
  app.get('/login/:idp', endpoint('loginAtIdp'));
  app.get('/callback/:idp', endpoint('callback'));
  app.post('/callback/:idp', endpoint('callback'));
  app.get('/me', endpoint('me'));
  app.get('/logout', endpoint('logout'));

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

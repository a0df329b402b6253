/**
 * bouncer as the OpenID Provider of SaaS apps: oidc-provider mounted under
 * `/oidc` on the auth domain (issuer `<publicBaseUrl>/oidc`).
 *
 * Every authorization request goes through one interaction (`interaction.ts`).
 * The provider's own session is never trusted on its own: a forced check makes
 * every authorization re-read the global session, so logout and revocation
 * apply to the next login at every SaaS app.
 *
 * Where each part lives:
 * - `configuration.ts`: what oidc-provider is told (code flow only, PKCE S256
 *   required, exact redirect URIs, the client authentication methods in use).
 * - `clients.ts`: which SaaS apps are clients, and their metadata.
 * - `client-auth.ts`: each client authenticates at the token endpoint only the
 *   way it is registered (oidc-provider takes either for either).
 * - `accounts.ts`: `findAccount`; tokens are only as good as the sign-in behind
 *   them, so a code redeemed or an access token used after sign-out is refused.
 * - `signing-keys.ts`: RS256 keys separate from the session keys; pass
 *   `signingJwks` to keep them across restarts.
 * - `adapter.ts`: storage, bounded and in memory (one replica).
 * - `error-pages.ts`: refusals on the login service's deny page.
 *
 * This file builds the provider for the current config (rebuilt when its
 * issuer, lifetimes or clients change), hands `/oidc/*` requests to it, and
 * mounts it on the login service.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { JWK } from 'jose';
import type { AuthConfig } from '../../config/types.js';
import { createOidcAccounts } from './accounts.js';
import { createBoundedAdapter, type OidcAdapterFactory } from './adapter.js';
import { checkClientAuthMethod } from './client-auth.js';
import { appForClient, clientMetadata, oidcApps } from './clients.js';
import { buildProvider } from './configuration.js';
import { providerBaseUrl, type SaasOidcDeps } from './deps.js';
import { renderProviderError } from './error-pages.js';
import { WEB_ERROR_STATUS } from '../http-status.js';
import { createInteractionHandler } from './interaction.js';
import { loadOidcProvider, type OidcProviderInstance } from './lib.js';
import { OIDC_MOUNT } from './settings.js';
import { loadSigningKeys } from './signing-keys.js';

/** The mounted provider. */
export interface SaasOidcProvider {
  /** Serve a request under `/oidc` (except interactions): rewrites the URL and hands it to oidc-provider. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** `GET /oidc/interaction/:uid`. */
  interaction(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  close(): Promise<void>;
}

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
  const accounts = createOidcAccounts(deps);
  const callbacks = new WeakMap<OidcProviderInstance, (req: IncomingMessage, res: ServerResponse) => Promise<void>>();
  let signingKeys: Promise<JWK[]> | undefined;
  let built: { fingerprint: string; provider: Promise<OidcProviderInstance> } | undefined;

  const clientApp = (clientId: unknown) => appForClient(oidcApps(deps.config().saasApps, deps.logger), clientId);

  /** The provider for the current config, rebuilt when the issuer, lifetimes or clients change. */
  function current(auth: AuthConfig): Promise<OidcProviderInstance> {
    const issuer = `${providerBaseUrl(deps, auth)}${OIDC_MOUNT}`;
    const clients = clientMetadata(oidcApps(deps.config().saasApps, deps.logger));
    const fingerprint = createHash('sha256').update(JSON.stringify({ issuer, session: auth.sessionDurationSec, clients })).digest('base64url');
    if (built?.fingerprint !== fingerprint) {
      signingKeys ??= loadSigningKeys(deps.signingJwks);
      const provider = Promise.all([loadOidcProvider(), signingKeys]).then(([mod, keys]) =>
        buildProvider(mod, issuer, auth, clients, keys, { adapter, cookieKeys, logger: deps.logger, findAccount: accounts.findAccount, renderError: renderProviderError }),
      );
      // A failed build is not cached: the next request tries again (and logs again).
      provider.catch(() => {
        if (built?.provider === provider) built = undefined;
      });
      built = { fingerprint, provider };
    }
    return built.provider;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const auth = deps.config().auth;
    if (auth === undefined) {
      res.writeHead(WEB_ERROR_STATUS.auth_not_configured, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'auth_not_configured' }));
      return;
    }
    let provider: OidcProviderInstance;
    try {
      provider = await current(auth);
    } catch (err) {
      deps.logger.error({ err }, 'oidc provider could not start');
      res.writeHead(WEB_ERROR_STATUS.temporarily_unavailable, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'temporarily_unavailable' }));
      return;
    }
    const original = req.url ?? '/';
    if (req.method === 'POST' && original.split('?')[0] === `${OIDC_MOUNT}/token`) {
      const checked = await checkClientAuthMethod(req, res, clientApp, deps.logger);
      if (checked === undefined) return;
      req = checked;
    }
    // Express-style mount: oidc-provider derives its mount path from `originalUrl` minus `url`.
    (req as IncomingMessage & { originalUrl?: string }).originalUrl = original;
    req.url = original.slice(OIDC_MOUNT.length) || '/';
    const pub = new URL(providerBaseUrl(deps, auth));
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

  return {
    handle,
    interaction: createInteractionHandler({ deps, provider: current, appForClient: clientApp, accounts }),
    async close() {
      accounts.clear();
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
        if (!reply.raw.headersSent) reply.raw.writeHead(WEB_ERROR_STATUS.server_error, { 'content-type': 'application/json' });
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

/**
 * `GET /` on the auth domain: the App Launcher.
 *
 * Signed in (valid, unrevoked global session) → the tiles the user may open.
 * Not signed in → `302 /login?launcher=1`, the login service's "sign in to the
 * launcher" mode, which offers every IdP and comes back to `/`.
 */
import { WEB_ERROR_STATUS } from '../http-status.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../config/types.js';
import { identityFromClaims } from '../../core/session-token.js';
import { CONTENT_SECURITY_POLICY, renderDenyPage } from '../auth/pages.js';
import { readGlobalSession, type GlobalSessionDeps } from '../oidc-provider/global-session.js';
import { renderLauncher } from './page.js';
import { listLauncherTiles } from './tiles.js';

/** Where the launcher sends a browser without a session. */
export const LAUNCHER_LOGIN_PATH = '/login?launcher=1';

/** What the launcher needs. */
export interface LauncherDeps extends GlobalSessionDeps {
  /** Current config; called per request, so reloads apply at once. */
  config(): { readonly auth: AuthConfig | undefined; readonly apps: readonly AppConfig[]; readonly saasApps: readonly SaasAppConfig[] };
  logger: Logger;
  /** Milliseconds since epoch. */
  clock(): number;
  /** Public origin of the auth service (for the OIDC issuer in tile links); default `https://<auth.domain>`. */
  publicBaseUrl?: string;
}

/**
 * Add `GET /` (and HEAD) to the login service.
 *
 * The page sets its own Content-Security-Policy (its stylesheet hash and logo
 * origins) in a route-level `onSend` hook, which fastify runs after the login
 * service's app-wide one, so the app-wide policy does not replace it.
 *
 * @example
 * ```ts
 * registerLauncher(app, { config: deps.config, keys: deps.keys, revocation: deps.revocation, logger: deps.logger, clock: deps.clock });
 * ```
 */
export function registerLauncher(app: FastifyInstance, deps: LauncherDeps): void {
  // The page's policy, from the handler to the onSend hook.
  const policies = new WeakMap<FastifyRequest, string>();
  app.get('/', {
    onSend: async (req, reply, payload) => {
      reply.header('content-security-policy', policies.get(req) ?? CONTENT_SECURITY_POLICY);
      return payload;
    },
    handler: (req, reply) => showLauncher(req, reply, deps, (csp) => policies.set(req, csp)),
  });
}

async function showLauncher(req: FastifyRequest, reply: FastifyReply, deps: LauncherDeps, setCsp: (csp: string) => void): Promise<FastifyReply> {
  reply.header('cache-control', 'no-store');
  reply.header('vary', 'cookie');
  const { auth, apps, saasApps } = deps.config();
  if (auth === undefined) {
    return reply
      .code(WEB_ERROR_STATUS.auth_not_configured)
      .type('text/html; charset=utf-8')
      .send(renderDenyPage({ title: 'Sign-in unavailable', message: 'Sign-in is not configured.', reason: 'auth_not_configured', policy: undefined, requestId: req.id, app: undefined, user: undefined }));
  }
  const nowMs = deps.clock();
  const session = await readGlobalSession(req.headers, auth, deps, nowMs, req.log);
  if (session === undefined) return reply.redirect(LAUNCHER_LOGIN_PATH, 302);

  const header = auth.countryHeader !== undefined ? req.headers[auth.countryHeader] : undefined;
  const country = typeof header === 'string' && /^[A-Za-z]{2}$/.test(header) ? header.toUpperCase() : undefined;
  const identity = identityFromClaims(session);
  const tiles = listLauncherTiles({
    apps,
    saasApps,
    identity,
    authDomain: auth.domain,
    oidcIssuer: `${(deps.publicBaseUrl ?? auth.publicUrl ?? `https://${auth.domain}`).replace(/\/+$/, '')}/oidc`,
    request: { nowMs, sourceIp: req.ip, country, certificate: undefined, serviceToken: undefined },
  });
  req.log.info({ sub: identity.sub, tiles: tiles.length }, 'launcher');
  const page = renderLauncher({ user: identity.email ?? identity.name ?? identity.sub, tiles });
  setCsp(page.contentSecurityPolicy);
  return reply.type('text/html; charset=utf-8').send(page.html);
}

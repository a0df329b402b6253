/**
 * `GET /oidc/interaction/:uid`: the one interaction every authorization goes
 * through. No global session (or one from an IdP the app does not take, or
 * too old for `prompt=login` / `max_age`) → the login service; a session → the
 * SaaS app's policies → the deny page, or login and consent granted at once
 * (the operator registered the client, so there is no consent screen).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthConfig, SaasAppConfig } from '../../config/types.js';
import type { RequestContext } from '../../core/identity.js';
import { evaluatePolicies } from '../../core/policy/index.js';
import { identityFromClaims, type SessionClaims } from '../../core/session-token.js';
import type { OidcAccounts } from './accounts.js';
import { providerBaseUrl, type SaasOidcDeps } from './deps.js';
import { refuseInteraction, refusePolicy } from './error-pages.js';
import { readGlobalSession } from './global-session.js';
import type { OidcProviderInstance } from './lib.js';
import { OIDC_MOUNT, OIDC_SCOPE_CLAIMS } from './settings.js';

const INTERACTION_PATH = /^\/oidc\/interaction\/([A-Za-z0-9_-]{1,64})$/;

const EXPIRED_TEXT = 'This sign-in expired or was started in another browser. Go back to the application and start again.';

export interface InteractionDeps {
  readonly deps: SaasOidcDeps;
  /** The provider for the current config. */
  provider(auth: AuthConfig): Promise<OidcProviderInstance>;
  appForClient(clientId: unknown): SaasAppConfig | undefined;
  readonly accounts: Pick<OidcAccounts, 'remember'>;
}

export function createInteractionHandler(x: InteractionDeps): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  const { deps } = x;
  return async function interaction(req, reply) {
    const auth = deps.config().auth;
    if (auth === undefined) return refuseInteraction(req, reply, 'auth_not_configured', 'Sign-in is not configured.');
    const m = INTERACTION_PATH.exec(new URL(req.url, 'http://x').pathname);
    const provider = await x.provider(auth);
    let details;
    try {
      details = await provider.interactionDetails(req.raw, reply.raw);
    } catch (err) {
      req.log.info({ detail: (err as Error).message }, 'oidc interaction not found');
      return refuseInteraction(req, reply, 'oidc_interaction_expired', EXPIRED_TEXT);
    }
    if (m === null || details.uid !== m[1]) return refuseInteraction(req, reply, 'oidc_interaction_expired', EXPIRED_TEXT);
    const saas = x.appForClient(details.params['client_id']);
    if (saas === undefined || saas.oidc === undefined) return refuseInteraction(req, reply, 'app_unknown', 'This sign-in names no known application.');

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
      const rd = `${providerBaseUrl(deps, auth)}${OIDC_MOUNT}/interaction/${details.uid}${fresh !== undefined ? '?reauth=1' : ''}`;
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
      return refusePolicy(req, reply, reason, `Access denied. ${verdict.detail}`, {
        app: saas.name,
        user: identity.email ?? identity.sub,
        ...(verdict.policy !== undefined ? { policy: verdict.policy } : {}),
      });
    }

    const grantId = await grantRequestedScopes(provider, saas, session, details.params['scope']);
    x.accounts.remember(grantId, session);
    const returnTo = await provider.interactionResult(
      req.raw,
      reply.raw,
      // remember: false keeps the provider's session cookie to this browser session; it grants nothing on its own anyway.
      { login: { accountId: session.sub, amr: [...session.amr], ts: session.auth_time, remember: false }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    reply.header('cache-control', 'no-store');
    return reply.redirect(returnTo, 303);
  };
}

function requestContext(req: FastifyRequest, auth: AuthConfig, nowMs: number): RequestContext {
  const header = auth.countryHeader !== undefined ? req.headers[auth.countryHeader] : undefined;
  const country = typeof header === 'string' && /^[A-Za-z]{2}$/.test(header) ? header.toUpperCase() : undefined;
  // The policy is decided on the auth domain, where the SaaS login happens; no client certificate is seen here.
  return { nowMs, host: auth.domain, path: `${OIDC_MOUNT}/auth`, method: 'GET', sourceIp: req.ip, country, certificate: undefined, serviceToken: undefined };
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

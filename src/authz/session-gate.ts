import type { App, SessionState, SessionView } from '../core/app.js';
import type { CheckInput, Decision } from '../core/decision.js';
import { checkLoginBinding } from '../core/login-binding.js';
import { validateReturnUrl } from '../core/return-url.js';
import { appSessionFromHandoff, signSession, verifyHandoff, type SessionClaims, type SigningKey, type VerifyKeys } from '../core/session-token.js';
import { statusFor } from '../core/reasons.js';
import { normalizeHost, resolveTenant, type HostIndex } from '../core/tenant-index.js';
import { APP_COOKIE, BIND_COOKIE, clearCookie, CookieReader, readCookie, serializeCookie } from '../sessions/cookies.js';
import { revokeSignIn, type RevocationStore } from '../sessions/revocation.js';
import type { TokenCache } from '../sessions/token-cache.js';
import { andThen, type SyncOrAsync } from './sync-or-async.js';

/** Paths bouncer answers itself on every app hostname. */
export const APP_PATHS = { handoff: '/.bouncer/handoff', logout: '/.bouncer/logout' } as const;

/** What the session gate needs; all injected, rebuilt on config reload. */
export interface SessionGateDeps {
  readonly apps: HostIndex<App>;
  /** `iss` of every session token: the auth domain. */
  readonly issuer: string;
  /** Public origin of the login service, for the logout redirect. */
  readonly authOrigin: string;
  keys(): { current(): SigningKey; verifyKeys(): VerifyKeys };
  readonly revocation: RevocationStore;
  /**
   * The longest session duration in the config, in ms: an app sign-out revokes
   * the whole sign-in (global session, every app session) this long, not only
   * until the app session's own expiry.
   */
  readonly longestSessionMs: number;
  /** Single use of handoff `jti`s: in memory, or the fleet's shared store (async; rejects when it cannot tell). */
  readonly handoffs: { consume(jti: string, expMs: number, nowMs: number, signal?: AbortSignal): boolean | Promise<boolean> };
  readonly tokens: TokenCache;
  /**
   * True while revocation state is unknown (shared store lost past its grace,
   * fail mode `closed`): sessions are refused with 503 `state_unavailable`
   * instead of sending users to a login that cannot help.
   */
  readonly revocationUnknown?: () => boolean;
  /** Wait until revocations made here are in the shared store, so the next request to any replica sees them. */
  readonly flushRevocations?: () => Promise<void>;
}

/** Either a finished answer (handoff, logout) or the session state to decide with. */
export type GateResult = { readonly kind: 'answer'; readonly decision: Decision } | { readonly kind: 'session'; readonly session: SessionState | undefined };

function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q >= 0 ? path.slice(0, q) : path;
}

function answer(app: App, reason: 'handoff_invalid' | 'handoff_browser_mismatch' | 'session_established' | 'signed_out' | 'state_unavailable', detail: string, extra: { location?: string; setCookies?: string[]; session?: SessionView | undefined } = {}): GateResult {
  return {
    kind: 'answer',
    decision: {
      allow: false,
      reason,
      status: statusFor(reason),
      detail,
      tenant: undefined,
      identity: undefined,
      cacheHit: false,
      app: app.name,
      ...extra,
    },
  };
}

/**
 * The session part of an app request, done before the pure decision: the app
 * session cookie is verified (signature via a bounded cache, then revocation
 * on every request), and bouncer's own paths on the app host are answered
 * here — the single-use handoff that turns a login into an app cookie, and the
 * app logout.
 *
 * Synchronous when the cookie's token is already in the cache (or there is
 * none): a warm check then allocates no promise and waits for no microtask.
 */
export function runSessionGate(input: CheckInput, cookieHeader: string | undefined, deps: SessionGateDeps, nowMs: number, call?: { readonly signal: AbortSignal }): SyncOrAsync<GateResult> {
  const host = normalizeHost(input.authority);
  const app = host === '' ? undefined : resolveTenant(deps.apps, host);
  if (!app) return NO_SESSION;
  const path = pathOnly(input.path);

  if (path === APP_PATHS.handoff) return completeHandoff(input, cookieHeader, app, host, deps, nowMs, call);
  if (path === APP_PATHS.logout) return logout(cookieHeader, app, deps, nowMs);
  return andThen(readSession(cookieHeader, app, deps, nowMs), (read) => sessionResult(read, app, deps));
}

const NO_SESSION: GateResult = Object.freeze({ kind: 'session', session: undefined });

function sessionResult(read: SessionRead, app: App, deps: SessionGateDeps): GateResult {
  if (read.state.status === 'invalid' && read.state.reason === 'session_revoked' && deps.revocationUnknown?.() === true) {
    return answer(app, 'state_unavailable', 'bouncer cannot reach its shared store to check whether this session was revoked; try again shortly', { session: read.state.session });
  }
  return { kind: 'session', session: read.state };
}

async function logout(cookieHeader: string | undefined, app: App, deps: SessionGateDeps, nowMs: number): Promise<GateResult> {
  const current = await readSession(cookieHeader, app, deps, nowMs);
  if (current.claims) {
    // The whole sign-in, not just this app's session: the global session and the other apps'
    // sessions share the sid and may outlive this one.
    revokeSignIn(deps.revocation, current.claims, nowMs, deps.longestSessionMs);
    // Queued and retried by the store if Redis is away; the sign-out itself must not fail.
    await deps.flushRevocations?.().catch(() => undefined);
  }
  return answer(app, 'signed_out', 'signed out of this application', {
    location: `${deps.authOrigin}/logout`,
    setCookies: [clearCookie(APP_COOKIE)],
    session: current.claims ? viewOf(current.claims) : undefined,
  });
}

interface SessionRead {
  readonly state: SessionState;
  readonly claims?: SessionClaims;
}

const ABSENT: SessionRead = Object.freeze({ state: Object.freeze({ status: 'absent' }) });

const appCookie = new CookieReader(APP_COOKIE);

/** The cookie's session: from the token cache at once, or after verifying the token. */
function readSession(cookieHeader: string | undefined, app: App, deps: SessionGateDeps, nowMs: number): SyncOrAsync<SessionRead> {
  const token = appCookie.read(cookieHeader);
  if (token === undefined) return ABSENT;
  const options = { keys: deps.keys().verifyKeys(), issuer: deps.issuer, audience: app.name, nowMs };
  const cached = deps.tokens.peek(token, options);
  if (cached !== undefined) return fromClaims(token, cached, deps, nowMs);
  return deps.tokens.verify(token, options).then((verified) =>
    verified.ok ? fromClaims(token, verified.claims, deps, nowMs) : { state: { status: 'invalid', reason: verified.reason, detail: verified.detail } },
  );
}

/**
 * The valid session of a cached token's claims, built once per claims object
 * (the token cache hands out the same frozen claims on every hit). Weakly
 * held: it goes when the cache drops the claims.
 */
const validReads = new WeakMap<SessionClaims, SessionRead>();

function fromClaims(token: string, c: SessionClaims, deps: SessionGateDeps, nowMs: number): SessionRead {
  // Revocation is never cached: checked on every request.
  if (deps.revocation.isRevoked(c, nowMs)) return { state: { status: 'invalid', reason: 'session_revoked', detail: 'this session was revoked', session: viewOf(c) } };
  let read = validReads.get(c);
  if (read === undefined || (read.state.status === 'valid' && read.state.token !== token)) {
    read = Object.freeze({
      claims: c,
      state: Object.freeze({
        status: 'valid',
        token,
        session: viewOf(c),
      }),
    });
    validReads.set(c, read);
  }
  return read;
}

/** The session view of verified claims, for the core and the decision log. */
function viewOf(c: SessionClaims): SessionView {
  return Object.freeze({
    sub: c.sub,
    sid: c.sid,
    email: c.email,
    name: c.name,
    groups: c.groups,
    idp: c.idp,
    idpType: c.idp_type,
    amr: c.amr,
    authTime: c.auth_time,
    exp: c.exp,
  });
}

async function completeHandoff(input: CheckInput, cookieHeader: string | undefined, app: App, host: string, deps: SessionGateDeps, nowMs: number, call: { readonly signal: AbortSignal } | undefined): Promise<GateResult> {
  const q = input.path.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? input.path.slice(q + 1) : '');
  const token = params.get('token');
  if (token === null || params.getAll('token').length !== 1) return answer(app, 'handoff_invalid', 'the sign-in link carries no single handoff token');
  const h = await verifyHandoff(token, { keys: deps.keys().verifyKeys(), issuer: deps.issuer, audience: app.name, nowMs });
  if (!h.ok) return answer(app, 'handoff_invalid', `the sign-in link is not valid here (${h.reason}); please sign in again`);
  const claims = h.claims;
  // The return URL must point back at this very host (and so this app), never
  // elsewhere; checked by the one validator, and the Location is built from what it returns.
  const target = validateReturnUrl(claims.rd, [host]);
  if (!target.ok) {
    return answer(app, 'handoff_invalid', target.problem === 'return_url_host_not_allowed' ? 'the sign-in link returns to another host' : `the sign-in link has an unusable return address (${target.problem})`);
  }
  // And to this very origin (port included): the browser lands where the handoff was served.
  if (target.target.origin !== originOf(input.authority)) return answer(app, 'handoff_invalid', 'the sign-in link returns to another origin');
  // Login CSRF: the link must come back to the browser that left this host to sign in.
  const unbound = checkLoginBinding(claims.bind, readCookie(cookieHeader, BIND_COOKIE));
  if (unbound !== undefined) {
    return answer(app, 'handoff_browser_mismatch', `this sign-in link was not started in this browser (${unbound}); open the app and sign in again`);
  }
  if (deps.revocation.isRevoked(claims, nowMs)) return answer(app, 'handoff_invalid', 'this session was revoked; please sign in again');
  let fresh: boolean;
  try {
    // The call's signal: once its deadline passes or its caller leaves, the store stops being waited for.
    fresh = await deps.handoffs.consume(claims.jti, claims.exp * 1000, nowMs, call?.signal);
  } catch (err) {
    if (call?.signal.aborted === true) throw err;
    return answer(app, 'state_unavailable', `cannot check that this sign-in link is unused: ${(err as Error).message}; try again shortly`);
  }
  if (!fresh) {
    return answer(app, 'handoff_invalid', 'this sign-in link was already used; please sign in again');
  }
  const session = await signSession(appSessionFromHandoff(claims), deps.keys().current(), nowMs);
  const maxAge = Math.max(1, claims.session_exp - Math.floor(nowMs / 1000));
  return answer(app, 'session_established', 'signed in', {
    // Absolute, from the validated origin and path: a path alone could read as `//host` to a browser.
    location: target.target.href,
    // The binding cookie stays until it expires: another tab's sign-in, started
    // with the same cookie, may still be on its way back.
    setCookies: [serializeCookie(APP_COOKIE, session, { maxAgeSec: maxAge })],
    session: viewOf(claims),
  });
}

/** `https://<authority>` as `validateReturnUrl` writes an origin (default port and trailing dot dropped), or '' when it does not parse. */
function originOf(authority: string): string {
  try {
    const u = new URL(`https://${authority}`);
    return `https://${u.hostname.replace(/\.$/, '')}${u.port !== '' ? `:${u.port}` : ''}`;
  } catch {
    return '';
  }
}

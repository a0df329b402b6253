import { runSessionGate, type SessionGateDeps } from '../../src/authz/session-gate.js';
import type { App } from '../../src/core/app.js';
import type { CheckInput, Decision } from '../../src/core/decision.js';
import { signHandoff, signSession, verifySession, type HandoffClaimsInput } from '../../src/core/session-token.js';
import { buildHostIndex } from '../../src/core/tenant-index.js';
import { bindLoginRedirect } from '../../src/authz/login-binding.js';
import { hashLoginBinding } from '../../src/core/login-binding.js';
import { APP_COOKIE, BIND_COOKIE } from '../../src/sessions/cookies.js';
import { handoffStoreOver } from '../../src/sessions/handoff-store.js';
import { createMemoryOnceStore } from '../../src/stores/memory/once-store.js';
import { openKeyStore, type KeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createTokenCache } from '../../src/sessions/token-cache.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const S = Math.floor(NOW / 1000);
const app = (name: string, host: string): App => ({ name, hostnames: [host], idps: ['okta'], sessionDurationSec: 3600, apiPaths: [], policies: [] });

let keys: KeyStore;
let foreignKeys: KeyStore;
beforeAll(async () => {
  keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: 3_600_000, nowMs: NOW });
  foreignKeys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: 3_600_000, nowMs: NOW });
});

function deps(): SessionGateDeps {
  return {
    apps: buildHostIndex([app('wiki', 'wiki.acme.test'), app('admin', 'admin.acme.test')]),
    issuer: 'auth.acme.test',
    authOrigin: 'https://auth.acme.test',
    keys: () => keys,
    revocation: createMemoryRevocationStore(),
    longestSessionMs: 8 * 3_600_000,
    handoffs: handoffStoreOver(createMemoryOnceStore()),
    tokens: createTokenCache(),
  };
}

function handoffClaims(over: Partial<HandoffClaimsInput> = {}): HandoffClaimsInput {
  return {
    iss: 'auth.acme.test',
    sub: 'okta:alice',
    aud: 'wiki',
    email: 'alice@acme.test',
    groups: ['staff'],
    idp: 'okta',
    idp_type: 'oidc',
    amr: ['pwd'],
    auth_time: S - 10,
    sid: 'sid-1',
    rd: 'https://wiki.acme.test:8443/docs?x=1',
    session_exp: S + 3600,
    bind: hashLoginBinding(BROWSER),
    ...over,
  };
}

/** The binding cookie of the browser that started the sign-in, and its Cookie header. */
const BROWSER = 'A'.repeat(43);
const BOUND = `${BIND_COOKIE}=${BROWSER}`;

function req(path: string, host = 'wiki.acme.test:8443'): CheckInput {
  return { requestId: 'r', authority: host, sni: undefined, method: 'GET', path, peerCertificate: undefined, xfcc: undefined, sourceAddress: undefined };
}

function answer(r: Awaited<ReturnType<typeof runSessionGate>>): Extract<Decision, { allow: false }> {
  if (r.kind !== 'answer' || r.decision.allow) throw new Error('expected an answer');
  return r.decision;
}

describe('session gate', () => {
  test('a valid handoff sets the app cookie once and returns to the original path', async () => {
    const d = deps();
    const token = await signHandoff(handoffClaims(), keys.current(), NOW);
    const first = answer(await runSessionGate(req(`/.bouncer/handoff?token=${token}`), BOUND, d, NOW));
    // Absolute, from the validated return URL: a bare path could read as `//host` to a browser.
    expect(first).toMatchObject({ reason: 'session_established', status: 302, location: 'https://wiki.acme.test:8443/docs?x=1' });
    const cookie = first.setCookies?.[0] ?? '';
    expect(cookie).toMatch(/^__Host-bouncer_session=[^;]+; .*Secure/);
    expect(cookie).toContain('HttpOnly');
    const jwt = /^__Host-bouncer_session=([^;]+)/.exec(cookie)?.[1] ?? '';
    const v = await verifySession(jwt, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'wiki', nowMs: NOW });
    expect(v.ok && v.claims.email).toBe('alice@acme.test');

    const replay = answer(await runSessionGate(req(`/.bouncer/handoff?token=${token}`), BOUND, d, NOW));
    expect(replay.reason).toBe('handoff_invalid');
    expect(replay.detail).toMatch(/already used/);
  });

  test("the handoff's single-use store is given the call's signal; its abort ends the wait with the abort's reason, not a denial", async () => {
    const seen: Array<AbortSignal | undefined> = [];
    // A store that never answers on its own, as a stopped Redis.
    const d = { ...deps(), handoffs: { consume: (_j: string, _e: number, _n: number, signal?: AbortSignal) => new Promise<boolean>((_resolve, reject) => {
      seen.push(signal);
      signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    }) } };
    const controller = new AbortController();
    const token = await signHandoff(handoffClaims(), keys.current(), NOW);
    const gate = runSessionGate(req(`/.bouncer/handoff?token=${token}`), BOUND, d, NOW, { signal: controller.signal });
    // The token is verified first (WebCrypto, on libuv's thread pool: its time follows the machine's load); then the store is asked.
    for (const end = Date.now() + 10_000; seen.length === 0 && Date.now() < end; ) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).toEqual([controller.signal]);
    const why = new Error('the call deadline passed');
    controller.abort(why);
    await expect(gate).rejects.toBe(why);
  });

  test.each<[string, () => Promise<string>, string, RegExp]>([
    ['for another app', () => signHandoff(handoffClaims({ aud: 'admin' }), keys.current(), NOW), '/.bouncer/handoff?token=', /not valid here/],
    ['returning to another host', () => signHandoff(handoffClaims({ rd: 'https://evil.test/x' }), keys.current(), NOW), '/.bouncer/handoff?token=', /another host/],
    ['signed by a foreign key', () => signHandoff(handoffClaims(), foreignKeys.current(), NOW), '/.bouncer/handoff?token=', /not valid here/],
    ['expired', () => signHandoff(handoffClaims(), keys.current(), NOW - 5 * 60_000), '/.bouncer/handoff?token=', /not valid here/],
    ['a session token instead of a handoff', () => signSession({ ...handoffClaims(), exp: S + 600 }, keys.current(), NOW), '/.bouncer/handoff?token=', /not valid here/],
    ['missing', async () => '', '/.bouncer/handoff', /no single handoff token/],
  ])('a handoff %s is refused', async (_n, make, prefix, why) => {
    const t = await make();
    const d = answer(await runSessionGate(req(`${prefix}${t}`), BOUND, deps(), NOW));
    expect(d.reason).toBe('handoff_invalid');
    expect(d.detail).toMatch(why);
    expect(d.setCookies).toBeUndefined();
  });

  test.each([
    ['a path starting with //', 'https://wiki.acme.test:8443//evil.test/'],
    ['dot segments collapsing to //', 'https://wiki.acme.test:8443/a/..//evil.test/'],
    ['encoded dot segments collapsing to //', 'https://wiki.acme.test:8443/a/%2e%2e//evil.test/'],
    ['an encoded slash', 'https://wiki.acme.test:8443/%2F%2Fevil.test/'],
    ['another port on the same host', 'https://wiki.acme.test:9443/docs'],
  ])('a handoff whose return URL has %s is refused, whoever signed it', async (_n, rd) => {
    const t = await signHandoff(handoffClaims({ rd }), keys.current(), NOW);
    const d = answer(await runSessionGate(req(`/.bouncer/handoff?token=${t}`), BOUND, deps(), NOW));
    expect(d.reason).toBe('handoff_invalid');
    expect(d.location).toBeUndefined();
  });

  test.each([
    ['no binding cookie (another browser)', undefined, /binding_cookie_missing/],
    ['another browser\'s binding cookie', `${BIND_COOKIE}=${'B'.repeat(43)}`, /binding_mismatch/],
    ['a malformed binding cookie', `${BIND_COOKIE}=short`, /binding_cookie_missing/],
    ['the binding cookie twice (a planted duplicate)', `${BOUND}; ${BIND_COOKIE}=${'B'.repeat(43)}`, /binding_cookie_missing/],
  ])('a handoff opened with %s is refused as handoff_browser_mismatch, and stays unused', async (_n, cookie, why) => {
    const d = deps();
    const t = await signHandoff(handoffClaims(), keys.current(), NOW);
    const refused = answer(await runSessionGate(req(`/.bouncer/handoff?token=${t}`), cookie, d, NOW));
    expect(refused).toMatchObject({ reason: 'handoff_browser_mismatch', status: 400 });
    expect(refused.detail).toMatch(why);
    expect(refused.setCookies).toBeUndefined();
    // The browser that started the sign-in can still complete it.
    expect(answer(await runSessionGate(req(`/.bouncer/handoff?token=${t}`), BOUND, d, NOW)).reason).toBe('session_established');
  });

  test('two token parameters are refused', async () => {
    const t = await signHandoff(handoffClaims(), keys.current(), NOW);
    expect(answer(await runSessionGate(req(`/.bouncer/handoff?token=${t}&token=${t}`), undefined, deps(), NOW)).reason).toBe('handoff_invalid');
  });

  test('the app cookie is read, checked for this app, and revocation applies on every request', async () => {
    const d = deps();
    const jwt = await signSession({ ...handoffClaims(), exp: S + 600 }, keys.current(), NOW);
    const ok = await runSessionGate(req('/docs'), `a=1; ${APP_COOKIE}=${jwt}`, d, NOW);
    expect(ok).toMatchObject({ kind: 'session', session: { status: 'valid', session: { email: 'alice@acme.test' } } });
    const onAdmin = await runSessionGate(req('/', 'admin.acme.test'), `${APP_COOKIE}=${jwt}`, d, NOW);
    expect(onAdmin).toMatchObject({ kind: 'session', session: { status: 'invalid', reason: 'session_wrong_audience' } });
    d.revocation.revokeSession('sid-1', NOW + 600_000);
    expect(await runSessionGate(req('/docs'), `${APP_COOKIE}=${jwt}`, d, NOW)).toMatchObject({ session: { status: 'invalid', reason: 'session_revoked' } });
  });

  test('app logout clears the cookie, revokes the session and continues to the global logout', async () => {
    const d = deps();
    const jwt = await signSession({ ...handoffClaims(), exp: S + 600 }, keys.current(), NOW);
    const out = answer(await runSessionGate(req('/.bouncer/logout'), `${APP_COOKIE}=${jwt}`, d, NOW));
    expect(out).toMatchObject({ reason: 'signed_out', status: 302, location: 'https://auth.acme.test/logout' });
    expect(out.setCookies?.[0]).toMatch(/^__Host-bouncer_session=; /);
    expect(await runSessionGate(req('/docs'), `${APP_COOKIE}=${jwt}`, d, NOW)).toMatchObject({ session: { status: 'invalid', reason: 'session_revoked' } });
  });

  test('attack: after an app-only sign-out, sessions of the same sign-in that outlive the app session stay refused', async () => {
    const d = deps();
    // One sign-in: an app session for 10 minutes, another app's session and the global session for 8 hours.
    const short = await signSession({ ...handoffClaims(), exp: S + 600 }, keys.current(), NOW);
    const long = await signSession({ ...handoffClaims({ aud: 'admin' }), exp: S + 8 * 3600 }, keys.current(), NOW);
    const global = await signSession({ ...handoffClaims({ aud: 'auth.acme.test' }), exp: S + 8 * 3600 }, keys.current(), NOW);
    answer(await runSessionGate(req('/.bouncer/logout'), `${APP_COOKIE}=${short}`, d, NOW));
    // Past the signed-out app session's own expiry, and up to the last second of the longest session.
    for (const at of [NOW + 601_000, NOW + 4 * 3_600_000, NOW + 8 * 3_600_000 - 1000]) {
      expect(await runSessionGate(req('/', 'admin.acme.test'), `${APP_COOKIE}=${long}`, d, at)).toMatchObject({ session: { status: 'invalid', reason: 'session_revoked' } });
      const g = await verifySession(global, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'auth.acme.test', nowMs: at });
      expect(g.ok && d.revocation.isRevoked(g.claims, at)).toBe(true);
    }
  });

  test('a cached session is read synchronously, and revocation still applies to it', async () => {
    const d = deps();
    const jwt = await signSession({ ...handoffClaims(), exp: S + 600 }, keys.current(), NOW);
    const cookie = `${APP_COOKIE}=${jwt}`;
    const first = runSessionGate(req('/docs'), cookie, d, NOW);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ session: { status: 'valid' } });
    const warm = runSessionGate(req('/docs'), cookie, d, NOW + 1000);
    expect(warm).not.toBeInstanceOf(Promise);
    expect(warm).toMatchObject({ kind: 'session', session: { status: 'valid', token: jwt, session: { sid: 'sid-1' } } });
    expect(runSessionGate(req('/docs'), undefined, d, NOW)).toEqual({ kind: 'session', session: { status: 'absent' } });
    d.revocation.revokeSession('sid-1', NOW + 600_000);
    expect(runSessionGate(req('/docs'), cookie, d, NOW + 2000)).toMatchObject({ session: { status: 'invalid', reason: 'session_revoked' } });
    // Past exp (and the verifier's clock tolerance) the cache has nothing; full verification gives the reason.
    expect(await runSessionGate(req('/docs'), cookie, d, NOW + 900_000)).toMatchObject({ session: { status: 'invalid', reason: 'session_expired' } });
  });

  test('hosts without an app pass through untouched', async () => {
    expect(await runSessionGate(req('/.bouncer/handoff?token=x', 'pay.tenant.test'), undefined, deps(), NOW)).toEqual({ kind: 'session', session: undefined });
  });
});

describe('binding the redirect to sign in', () => {
  const loginRequired: Decision = {
    allow: false,
    reason: 'login_required',
    status: 302,
    detail: 'sign in',
    tenant: undefined,
    identity: undefined,
    cacheHit: false,
    app: 'wiki',
    location: 'https://auth.acme.test/login?app=wiki&rd=https%3A%2F%2Fwiki.acme.test%2Fx',
  };

  test('a fresh binding: cookie on the app host, its hash in the login URL', () => {
    const d = bindLoginRedirect(loginRequired, undefined, (n) => Buffer.alloc(n, 7));
    if (d.allow) throw new Error('expected a denial');
    const value = Buffer.alloc(32, 7).toString('base64url');
    expect(d.location).toBe(`${loginRequired.location}&bind=${hashLoginBinding(value)}`);
    expect(d.setCookies).toEqual([`${BIND_COOKIE}=${value}; Max-Age=600; Path=/; Secure; HttpOnly; SameSite=Lax`]);
  });

  test('a binding the browser holds is kept, so two tabs signing in both complete', () => {
    const d = bindLoginRedirect(loginRequired, `x=1; ${BOUND}`, () => {
      throw new Error('no new value expected');
    });
    if (d.allow) throw new Error('expected a denial');
    expect(d.location).toBe(`${loginRequired.location}&bind=${hashLoginBinding(BROWSER)}`);
    expect(d.setCookies?.[0]).toMatch(new RegExp(`^${BIND_COOKIE}=${BROWSER}; Max-Age=600`));
  });

  test('other decisions pass through untouched', () => {
    const api: Decision = { ...loginRequired, status: 401, location: undefined };
    expect(bindLoginRedirect(api, undefined)).toBe(api);
    const denied: Decision = { ...loginRequired, reason: 'policy_deny', status: 403, location: undefined };
    expect(bindLoginRedirect(denied, undefined)).toBe(denied);
  });
});

// The auth service against real oidc-provider processes, driven with plain
// fetch. The server's public origin is https://auth.acme.test (cookies are
// __Host-/Secure), while the tests talk HTTP to 127.0.0.1: `Browser` maps the
// public origin to the local port and keeps cookies by hand.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { AppConfig, AuthConfig } from '../../src/config/types.js';
import { compilePolicies, type CompiledPolicy } from '../../src/core/policy/index.js';
import { hashLoginBinding } from '../../src/core/login-binding.js';
import { verifyHandoff } from '../../src/core/session-token.js';
import { AUTH_COOKIE } from '../../src/sessions/cookies.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createAuthServer, type AuthServer } from '../../src/web/auth/server.js';
import { TX_COOKIE } from '../../src/web/auth/tx-cookie.js';
import { createMemorySharedTransactionStore } from '../../src/stores/memory/transaction-store.js';
import type { SharedTransactionStore } from '../../src/stores/shared-state.js';
import type { IdpConnector } from '../../src/web/idp/connector.js';
import { IDP_JWKS_DEFAULTS } from '../../src/web/idp/id-token-signature.js';
import { createOidcConnector, type OidcConnectorOptions } from '../../src/web/idp/oidc.js';
import { CookieJar, startOidcIdp, type OidcIdp, type OidcIdpUser } from '../helpers/oidc-idp.js';

const AUTH_ORIGIN = 'https://auth.acme.test';
const CLIENT = { client_id: 'bouncer', client_secret: 'bouncer-secret' };
const REDIRECTS = ['okta', 'other', 'badnonce', 'keys', 'hs', 'hsok'].map((id) => `${AUTH_ORIGIN}/callback/${id}`);
const USERS: OidcIdpUser[] = [
  { username: 'alice', email: 'Alice@Acme.test', name: 'Alice <Admin>', groups: ['admins', 'staff'], amr: ['pwd', 'hwk'] },
  { username: 'bob', email: 'bob@acme.test', name: 'Bob', groups: [] },
  // Signed out everywhere by its test: a user of its own, since revoking a user also refuses
  // sessions issued later in the same second (iat is whole seconds), which other tests' alice would be.
  { username: 'erin', email: 'erin@acme.test', name: 'Erin', groups: ['admins', 'staff'], amr: ['pwd', 'hwk'] },
  { username: 'carol', email: 'carol@acme.test', email_verified: false, name: 'Carol' },
  { username: 'mallory', email: 'mallory@evil.test', name: 'Mallory' },
];

function policies(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

const auth: AuthConfig = { domain: 'auth.acme.test', sessionDurationSec: 3600, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined, samlIdp: undefined };
const staff = [
  { name: 'staff', action: 'allow', include: [{ email_domain: ['acme.test'] }] },
  { name: 'no-bob', action: 'deny', include: [{ email: ['bob@acme.test'] }] },
];
const apps: AppConfig[] = [
  { name: 'wiki', hostnames: ['wiki.acme.test'], idps: ['okta', 'other', 'badnonce', 'keys', 'hs', 'hsok'], sessionDurationSec: 1800, apiPaths: [], policies: policies(staff), launcher: { hidden: false, displayName: 'x', logo: undefined, url: undefined } },
  { name: 'docs', hostnames: ['docs.acme.test', '*.docs.acme.test'], idps: ['okta'], sessionDurationSec: 600, apiPaths: [], policies: policies(staff), launcher: { hidden: false, displayName: 'x', logo: undefined, url: undefined } },
];

let idpA: OidcIdp;
let idpB: OidcIdp;
let idpNonce: OidcIdp;
/** Rotates and forges its signing keys on demand. */
let idpKeys: OidcIdp;
/** Signs ID tokens with HS256 (the client secret). */
let idpHs: OidcIdp;
let keysConnector: IdpConnector;
/** The auth service's log lines, newest last. */
const logLines: string[] = [];
/** `detail` of the latest "login failed" line. */
function lastLoginFailure(): string {
  const line = logLines.filter((l) => l.includes('"login failed"')).at(-1);
  return line === undefined ? '' : String((JSON.parse(line) as { detail?: unknown }).detail);
}
let keys: KeyStore;
let server: AuthServer;
let port: number;
let now = Date.now();
let tamperNonce = false;

beforeAll(async () => {
  const opts = { clients: [{ ...CLIENT, redirect_uris: REDIRECTS }], users: USERS };
  [idpA, idpB, idpNonce, idpKeys, idpHs] = await Promise.all([
    startOidcIdp(opts),
    startOidcIdp(opts),
    startOidcIdp({ ...opts, nonceOverride: 'not-the-nonce-we-sent' }),
    startOidcIdp(opts),
    startOidcIdp({ clients: [{ ...CLIENT, redirect_uris: REDIRECTS, id_token_signed_response_alg: 'HS256' }], users: USERS }),
  ]);
  const oidc = (id: string, idp: OidcIdp, preset: string, extra: Partial<OidcConnectorOptions> = {}): IdpConnector =>
    createOidcConnector({ id, preset, issuer: idp.issuer, clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, allowInsecureRequests: true, ...extra });
  keysConnector = oidc('keys', idpKeys, 'generic');
  const connectors = new Map<string, IdpConnector>([
    ['okta', oidc('okta', idpA, 'okta')],
    ['other', oidc('other', idpB, 'keycloak')],
    ['badnonce', oidc('badnonce', idpNonce, 'generic')],
    ['keys', keysConnector],
    ['hs', oidc('hs', idpHs, 'generic')],
    ['hsok', oidc('hsok', idpHs, 'generic', { idTokenAlgorithms: ['HS256'] })],
  ]);
  keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: keyOverlapMs(3600), nowMs: Date.now() });
  // A store whose secrets the test can corrupt, standing in for a tampered server-side record.
  const inner = createMemorySharedTransactionStore({ clock: () => now });
  const transactions: SharedTransactionStore = {
    put: (tx, ttl) => inner.put(tx, ttl),
    async take(id) {
      const r = await inner.take(id);
      if (!r.ok || !tamperNonce) return r;
      return { ok: true, tx: { ...r.tx, secrets: { ...r.tx.secrets, nonce: 'tampered' } } };
    },
  };
  server = createAuthServer({
    config: () => ({ auth, apps }),
    keys,
    revocation: createMemoryRevocationStore(),
    connectors: () => connectors,
    logger: pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) }),
    clock: () => now,
    publicBaseUrl: AUTH_ORIGIN,
    transactions,
  });
  port = await server.listen('127.0.0.1', 0);
}, 30_000);

afterAll(async () => {
  await server?.close();
  await Promise.all([idpA?.close(), idpB?.close(), idpNonce?.close(), idpKeys?.close(), idpHs?.close()]);
});

beforeEach(() => {
  now = Date.now();
  tamperNonce = false;
});

/** The browser binding ext_authz names in the login URL when it sends a browser to sign in (hash of its app-host cookie). */
const TEST_BIND = hashLoginBinding('t'.repeat(43));

/** One browser: its own cookies for the auth domain. */
class Browser {
  readonly jar = new CookieJar();
  lastSetCookies: string[] = [];

  /** A sign-in for an app arrives as ext_authz sends it, with `bind`, unless `bind: false`. */
  async get(url: string | URL, headers: Record<string, string> = {}, o: { bind?: boolean } = {}): Promise<Response> {
    const u = new URL(url, AUTH_ORIGIN);
    if (u.origin !== AUTH_ORIGIN) throw new Error(`not the auth origin: ${u.href}`);
    if (o.bind !== false && /^\/login(\/|$)/.test(u.pathname) && u.searchParams.has('app') && !u.searchParams.has('bind')) u.searchParams.set('bind', TEST_BIND);
    const local = new URL(u.pathname + u.search, `http://127.0.0.1:${port}`);
    const h = new Headers(headers);
    const cookie = this.jar.header();
    if (cookie !== '') h.set('cookie', cookie);
    const res = await fetch(local, { headers: h, redirect: 'manual' });
    this.lastSetCookies = res.headers.getSetCookie();
    this.jar.take(res);
    return res;
  }
}

function location(res: Response): URL {
  const l = res.headers.get('location');
  if (l === null) throw new Error(`expected a redirect, got ${res.status}`);
  return new URL(l, AUTH_ORIGIN);
}

/** GET /login/<idp> and return the IdP authorize URL. */
async function startLogin(b: Browser, idp: string, app = 'wiki', rd = 'https://wiki.acme.test/page?x=1'): Promise<URL> {
  const res = await b.get(`/login/${idp}?${new URLSearchParams({ app, rd })}`);
  expect(res.status).toBe(302);
  return location(res);
}

/** Full IdP round trip; returns the callback URL the IdP redirected to. */
async function idpRoundTrip(b: Browser, idp: OidcIdp, idpId: string, user = 'alice', app?: string, rd?: string): Promise<URL> {
  const authorize = await startLogin(b, idpId, app, rd);
  expect(authorize.origin).toBe(idp.issuer);
  return idp.signIn(authorize.href, user);
}

async function expectLoginError(res: Response, code: string, status = 400): Promise<void> {
  const body = (await res.json()) as { error: string; request_id: string };
  expect({ status: res.status, error: body.error }).toEqual({ status, error: code });
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.getSetCookie().some((c) => c.startsWith(`${AUTH_COOKIE}=`) && !/Max-Age=0/.test(c))).toBe(false);
}

const JSON_ACCEPT = { accept: 'application/json' };

describe('auth service with OIDC', () => {
  it('happy path: login, global session cookie, handoff to the app, /me, /logout', async () => {
    const b = new Browser();
    const chooser = await b.get('/login?app=wiki&rd=' + encodeURIComponent('https://wiki.acme.test/page?x=1'));
    expect(chooser.status).toBe(200);
    const html = await chooser.text();
    expect(html).toContain('/login/okta?app=wiki&amp;rd=https%3A%2F%2Fwiki.acme.test%2Fpage%3Fx%3D1');
    expect(html).toContain('Sign in with Okta');
    expect(chooser.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(chooser.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(chooser.headers.get('cache-control')).toBe('no-store');

    const authorize = await startLogin(b, 'okta');
    expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorize.searchParams.get('state')).toBe(b.jar.get(TX_COOKIE));
    expect(authorize.searchParams.get('nonce')).toBeTruthy();
    expect(b.lastSetCookies.find((c) => c.startsWith(`${TX_COOKIE}=`))).toMatch(/; Path=\/; Secure; HttpOnly; SameSite=None$/);

    const cb = await idpA.signIn(authorize.href, 'alice');
    expect(cb.href.startsWith(`${AUTH_ORIGIN}/callback/okta?`)).toBe(true);
    expect(cb.searchParams.get('iss')).toBe(idpA.issuer);
    const res = await b.get(cb);
    expect(res.status).toBe(302);
    const handoff = location(res);
    expect(handoff.origin + handoff.pathname).toBe('https://wiki.acme.test/.bouncer/handoff');

    const authCookie = b.lastSetCookies.find((c) => c.startsWith(`${AUTH_COOKIE}=`));
    expect(authCookie).toBeDefined();
    expect(authCookie).toMatch(/; Secure/);
    expect(authCookie).toMatch(/; HttpOnly/);
    expect(authCookie).toMatch(/; Path=\//);
    expect(authCookie).not.toMatch(/Domain=/i);
    expect(b.jar.get(TX_COOKIE)).toBeUndefined();

    const h = await verifyHandoff(handoff.searchParams.get('token')!, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'wiki', nowMs: Date.now() });
    if (!h.ok) throw new Error(h.detail);
    expect(h.claims).toMatchObject({ sub: 'okta:alice', email: 'alice@acme.test', groups: ['admins', 'staff'], idp: 'okta', idp_type: 'oidc', amr: ['pwd', 'hwk'], rd: 'https://wiki.acme.test/page?x=1', bind: TEST_BIND });
    // A handoff for wiki is not one for docs.
    const other = await verifyHandoff(handoff.searchParams.get('token')!, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'docs', nowMs: Date.now() });
    expect(other.ok).toBe(false);

    const me = await b.get('/me');
    expect(me.status).toBe(200);
    const identity = (await me.json()) as Record<string, unknown>;
    expect(identity).toMatchObject({ sub: 'okta:alice', email: 'alice@acme.test', name: 'Alice <Admin>', idp: { id: 'okta', type: 'oidc' }, amr: ['pwd', 'hwk'] });

    // A login link without the browser binding goes back to the app, whose redirect to sign in binds the browser.
    const unbound = await b.get('/login?app=docs&rd=' + encodeURIComponent('https://x.docs.acme.test/a/../b?c=1'), {}, { bind: false });
    expect({ status: unbound.status, location: unbound.headers.get('location') }).toEqual({ status: 302, location: 'https://x.docs.acme.test/b?c=1' });

    // With a global session, another app gets a handoff straight away, sharing the session id.
    const again = await b.get('/login?app=docs&rd=' + encodeURIComponent('https://x.docs.acme.test/'));
    expect(again.status).toBe(302);
    const h2 = await verifyHandoff(location(again).searchParams.get('token')!, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'docs', nowMs: Date.now() });
    if (!h2.ok) throw new Error(h2.detail);
    expect(h2.claims.sid).toBe(h.claims.sid);
    expect(h2.claims.session_exp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 600);

    const sessionCookie = b.jar.get(AUTH_COOKIE)!;
    const out = await b.get('/logout');
    expect(out.status).toBe(200);
    expect(await out.text()).toContain('signed out');
    expect(b.lastSetCookies.find((c) => c.startsWith(`${AUTH_COOKIE}=`))).toMatch(/Max-Age=0/);
    expect((await b.get('/me')).status).toBe(401);
    // The old cookie is revoked, not just forgotten by this browser.
    b.jar.set(AUTH_COOKIE, sessionCookie);
    const meAfter = await b.get('/me', JSON_ACCEPT);
    expect(meAfter.status).toBe(401);
    expect(await meAfter.json()).toMatchObject({ error: 'login_required' });
  });

  it('"sign out everywhere" revokes every session of the user, on every device', async () => {
    const login = async (): Promise<InstanceType<typeof Browser>> => {
      const b = new Browser();
      await b.get('/login?app=wiki&rd=' + encodeURIComponent('https://wiki.acme.test/'));
      const cb = await idpA.signIn((await startLogin(b, 'okta')).href, 'erin');
      expect((await b.get(cb)).status).toBe(302);
      expect((await b.get('/me', JSON_ACCEPT)).status).toBe(200);
      return b;
    };
    const laptop = await login();
    const phone = await login();
    // A plain logout on the laptop leaves the phone signed in.
    const other = await login();
    await other.get('/logout');
    expect((await phone.get('/me', JSON_ACCEPT)).status).toBe(200);
    // Everywhere: the phone's session, issued before, is refused too.
    expect((await laptop.get('/logout?everywhere=1')).status).toBe(200);
    expect((await phone.get('/me', JSON_ACCEPT)).status).toBe(401);
  });

  it('the device fingerprint ext_authz verified on the auth domain is recorded in the session', async () => {
    const fp = 'ab'.repeat(32);
    const b = new Browser();
    await b.get('/login?app=wiki&rd=' + encodeURIComponent('https://wiki.acme.test/'));
    const cb = await idpA.signIn((await startLogin(b, 'okta')).href, 'alice');
    const res = await b.get(cb, { 'x-bouncer-client-fingerprint-sha256': fp });
    const h = await verifyHandoff(location(res).searchParams.get('token')!, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'wiki', nowMs: Date.now() });
    if (!h.ok) throw new Error(h.detail);
    expect(h.claims.cert_fp).toBe(fp);
    // Anything that is not a SHA-256 hex digest is ignored.
    const b2 = new Browser();
    await b2.get('/login?app=wiki&rd=' + encodeURIComponent('https://wiki.acme.test/'));
    const cb2 = await idpA.signIn((await startLogin(b2, 'okta')).href, 'alice');
    const res2 = await b2.get(cb2, { 'x-bouncer-client-fingerprint-sha256': 'not-a-digest' });
    const h2 = await verifyHandoff(location(res2).searchParams.get('token')!, { keys: keys.verifyKeys(), issuer: 'auth.acme.test', audience: 'wiki', nowMs: Date.now() });
    expect(h2.ok && h2.claims.cert_fp).toBe(undefined);
  });

  it('a single-IdP app skips the chooser', async () => {
    const b = new Browser();
    const res = await b.get('/login?app=docs&rd=' + encodeURIComponent('https://docs.acme.test/'));
    expect(res.status).toBe(302);
    expect(location(res).origin).toBe(idpA.issuer);
  });

  it('a policy denial shows reason, policy and request id (HTML and JSON), escaped', async () => {
    const b = new Browser();
    const cb = await idpRoundTrip(b, idpA, 'okta', 'bob');
    const res = await b.get(cb, { 'x-request-id': 'req-42' });
    expect(res.status).toBe(403);
    const html = await res.text();
    expect(html).toContain('policy_deny');
    expect(html).toContain('no-bob');
    expect(html).toContain('req-42');
    expect(res.headers.get('x-request-id')).toBe('req-42');
    // The user authenticated, so the global session exists; the app just refuses.
    expect(b.jar.get(AUTH_COOKIE)).toBeDefined();

    const json = await b.get('/login?app=wiki&rd=' + encodeURIComponent('https://wiki.acme.test/'), { ...JSON_ACCEPT, 'x-request-id': '<script>' });
    expect(json.status).toBe(403);
    const body = (await json.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ error: 'policy_deny', policy: 'no-bob' });
    expect(body.request_id).not.toContain('<');
  });

  it('drops an unverified email, so email-based policies do not match it', async () => {
    const b = new Browser();
    const res = await b.get(await idpRoundTrip(b, idpA, 'okta', 'carol'), JSON_ACCEPT);
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({ error: 'policy_no_match' });
    expect(((await (await b.get('/me')).json()) as { email: unknown }).email).toBeNull();
  });

  describe('attacks that must fail', () => {
    it('missing state', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpA, 'okta');
      cb.searchParams.delete('state');
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_state_mismatch');
    });

    it('mismatched state', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpA, 'okta');
      cb.searchParams.set('state', 'A'.repeat(43));
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_state_mismatch');
    });

    it('replayed state (the same callback twice)', async () => {
      const b = new Browser();
      const txCookie = await (async () => {
        const authorize = await startLogin(b, 'okta');
        return { authorize, cookie: b.jar.get(TX_COOKIE)! };
      })();
      const cb = await idpA.signIn(txCookie.authorize.href, 'alice');
      expect((await b.get(cb)).status).toBe(302);
      b.jar.set(TX_COOKIE, txCookie.cookie);
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_replayed');
    });

    it('callback with the transaction cookie of another browser, or none', async () => {
      const victim = new Browser();
      const attacker = new Browser();
      const cb = await idpRoundTrip(attacker, idpA, 'okta', 'mallory');
      await startLogin(victim, 'okta');
      // Login CSRF: the attacker's callback delivered into the victim's browser.
      await expectLoginError(await victim.get(cb, JSON_ACCEPT), 'login_state_mismatch');
      // And the transaction is gone: single use, even when the attempt failed.
      await expectLoginError(await attacker.get(cb, JSON_ACCEPT), 'login_replayed');

      const nobody = new Browser();
      const cb2 = await idpRoundTrip(nobody, idpA, 'okta');
      nobody.jar.delete(TX_COOKIE);
      await expectLoginError(await nobody.get(cb2, JSON_ACCEPT), 'login_state_mismatch');
    });

    it('callback for a different IdP than the transaction', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpA, 'okta');
      const wrong = new URL(cb.href.replace('/callback/okta', '/callback/other'));
      await expectLoginError(await b.get(wrong, JSON_ACCEPT), 'login_state_mismatch');
    });

    it('wrong nonce echoed by the IdP', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpNonce, 'badnonce');
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_nonce_mismatch');
    });

    it('wrong nonce in the stored transaction', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpA, 'okta');
      tamperNonce = true;
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_nonce_mismatch');
    });

    it('authorization response from another issuer (IdP mix-up)', async () => {
      // The login starts at IdP A, but the code comes from IdP B (same client registration).
      const run = async (editIss: (cb: URL) => void): Promise<Response> => {
        const b = new Browser();
        const authorize = await startLogin(b, 'okta');
        const atB = new URL(authorize.pathname + authorize.search, idpB.issuer);
        const cb = await idpB.signIn(atB.href, 'alice');
        expect(cb.searchParams.get('iss')).toBe(idpB.issuer);
        editIss(cb);
        return b.get(cb, JSON_ACCEPT);
      };
      await expectLoginError(await run(() => undefined), 'login_issuer_mismatch');
      await expectLoginError(await run((cb) => cb.searchParams.delete('iss')), 'login_issuer_mismatch');
      // Forging `iss` gets past RFC 9207, but B's code is worthless at A's token endpoint.
      await expectLoginError(await run((cb) => cb.searchParams.set('iss', idpA.issuer)), 'login_idp_error', 502);
    });

    it.each([
      ['//evil.test/'],
      ['/\\evil.test/'],
      ['https:evil.test'],
      ['%2F%2Fevil.test'],
      ['javascript:alert(1)'],
      ['https://evil.test/'],
      ['https://docs.acme.test/'],
      ['https://wiki.acme.test@evil.test/'],
      ['http://wiki.acme.test/'],
    ])('open redirect via rd=%s', async (rd) => {
      const b = new Browser();
      for (const path of ['/login', '/login/okta']) {
        const res = await b.get(`${path}?app=wiki&rd=${encodeURIComponent(rd)}`, JSON_ACCEPT);
        await expectLoginError(res, 'return_url_invalid');
        expect(b.jar.get(TX_COOKIE)).toBeUndefined();
      }
      // Also raw (not encoded once more), so `%2F%2F` reaches the server as such.
      const raw = await b.get(`/login?app=wiki&rd=${rd.replace(/&/g, '%26')}`, JSON_ACCEPT);
      expect(raw.status).toBe(400);
    });

    it('open redirect with an existing session does not hand off either', async () => {
      const b = new Browser();
      expect((await b.get(await idpRoundTrip(b, idpA, 'okta'))).status).toBe(302);
      const res = await b.get('/login?app=wiki&rd=' + encodeURIComponent('https://evil.test/'), JSON_ACCEPT);
      await expectLoginError(res, 'return_url_invalid');
    });

    it('unknown app and IdP not allowed for the app', async () => {
      const b = new Browser();
      await expectLoginError(await b.get('/login?app=nope&rd=https://wiki.acme.test/', JSON_ACCEPT), 'app_unknown');
      await expectLoginError(await b.get('/login/other?app=docs&rd=https://docs.acme.test/', JSON_ACCEPT), 'idp_not_allowed');
    });

    it('expired transaction', async () => {
      const b = new Browser();
      const cb = await idpRoundTrip(b, idpA, 'okta');
      now += 11 * 60_000;
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_expired');
    });

    it('error from the IdP (user cancelled)', async () => {
      const b = new Browser();
      const authorize = await startLogin(b, 'okta');
      const cb = new URL(`${AUTH_ORIGIN}/callback/okta`);
      cb.searchParams.set('error', 'access_denied');
      cb.searchParams.set('state', authorize.searchParams.get('state')!);
      cb.searchParams.set('iss', idpA.issuer);
      await expectLoginError(await b.get(cb, JSON_ACCEPT), 'login_idp_error', 502);
    });
  });

  it('serves the JWKS and health', async () => {
    const b = new Browser();
    const jwks = (await (await b.get('/.well-known/jwks.json')).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThan(0);
    for (const k of jwks.keys) expect(k.d).toBeUndefined();
    expect((await b.get('/healthz')).status).toBe(200);
  });

  it('prompt=login / max_age (from the OIDC provider) skip the global session and ask the IdP to sign the user in again', async () => {
    const b = new Browser();
    expect((await b.get(await idpRoundTrip(b, idpA, 'okta'))).status).toBe(302);
    const first = (await (await b.get('/me', JSON_ACCEPT)).json()) as { auth_time: number; sid: string };
    const rd = 'https://docs.acme.test/';
    // A recent enough sign-in is used as is.
    const recent = await b.get(`/login?${new URLSearchParams({ app: 'docs', rd, max_age: '3600' })}`);
    if (location(recent).pathname !== '/.bouncer/handoff') {
      // Seen once under load and not reproduced: say what the server saw, for the next time.
      process.stdout.write(`auth-oidc max_age: /login went to ${location(recent).href}; /me said ${JSON.stringify(first)}; clock ${now}, real ${Date.now()}; last log lines:\n${logLines.slice(-6).join('')}\n`);
    }
    expect(location(recent).pathname).toBe('/.bouncer/handoff');
    // prompt=login: straight to the IdP, with prompt=login and max_age=0 (auth_time checked on return).
    const forced = await b.get(`/login?${new URLSearchParams({ app: 'docs', rd, prompt: 'login' })}`);
    const authorize = location(forced);
    expect(authorize.origin).toBe(idpA.issuer);
    expect(authorize.searchParams.get('prompt')).toBe('login');
    expect(authorize.searchParams.get('max_age')).toBe('0');
    now += 2_000;
    const done = await b.get(await idpA.signIn(authorize.href, 'alice'));
    expect(location(done).pathname).toBe('/.bouncer/handoff');
    const second = (await (await b.get('/me', JSON_ACCEPT)).json()) as { auth_time: number; sid: string };
    expect(second.sid).not.toBe(first.sid);
    expect(second.auth_time).toBeGreaterThanOrEqual(first.auth_time);
  });

  describe('ID token signatures, verified against the IdP JWKS on every login', () => {
    const login = async (idp: OidcIdp, idpId: string): Promise<Response> => {
      const b = new Browser();
      return b.get(await idpRoundTrip(b, idp, idpId), JSON_ACCEPT);
    };

    it('attack: an ID token signed by a key the IdP does not publish (same kid) is refused; no JWKS refetch', async () => {
      expect((await login(idpKeys, 'keys')).status).toBe(302);
      const fetched = await idpKeys.jwksFetches();
      expect(fetched).toBeGreaterThanOrEqual(1);
      await idpKeys.keys('forge');
      const res = await login(idpKeys, 'keys');
      const body = (await res.json()) as { error: string };
      expect({ status: res.status, error: body.error }).toEqual({ status: 400, error: 'login_token_invalid' });
      expect(lastLoginFailure()).toMatch(/signature of keys does not verify/);
      // A known kid whose signature fails is not a rotation: nothing to fetch.
      expect(await idpKeys.jwksFetches()).toBe(fetched);
      // Put things right for the next tests: a fresh key, published.
      await idpKeys.keys('rotate');
    });

    it('key rotation at the IdP keeps working: an unknown kid refetches the JWKS, at most once per cooldown', async () => {
      now += IDP_JWKS_DEFAULTS.cooldownMs;
      expect((await login(idpKeys, 'keys')).status).toBe(302);
      const before = await idpKeys.jwksFetches();
      const kid = await idpKeys.keys('rotate');
      expect(kid).toMatch(/-\d+$/);
      // Within the cooldown of the last fetch: the new kid is not fetched for.
      now += 1_000;
      const early = await login(idpKeys, 'keys');
      expect(early.status).toBe(400);
      expect(lastLoginFailure()).toMatch(/rate-limited/);
      expect(await idpKeys.jwksFetches()).toBe(before);
      // Past the cooldown: one refetch, and the rotated key signs people in.
      now += IDP_JWKS_DEFAULTS.cooldownMs;
      expect((await login(idpKeys, 'keys')).status).toBe(302);
      expect(await idpKeys.jwksFetches()).toBe(before + 1);
      expect((await login(idpKeys, 'keys')).status).toBe(302);
      expect(await idpKeys.jwksFetches()).toBe(before + 1);
    });

    it('attack: an HS256 ID token (keyed with the client secret) is refused unless the IdP is configured to allow it', async () => {
      const refused = await login(idpHs, 'hs');
      const body = (await refused.json()) as { error: string };
      expect({ status: refused.status, error: body.error }).toEqual({ status: 400, error: 'login_token_invalid' });
      expect(lastLoginFailure()).toMatch(/signed with HS256, not one of RS256, PS256, ES256, EdDSA/);
      expect((await login(idpHs, 'hsok')).status).toBe(302);
    });
  });
});

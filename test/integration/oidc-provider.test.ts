// bouncer's OIDC provider for SaaS apps, with openid-client 6 as the SaaS app
// (relying party) in-process. The provider's public origin is
// https://auth.acme.test (issuer https://auth.acme.test/oidc) while the test
// talks HTTP to 127.0.0.1: `Browser` and the RP's customFetch map the public
// origin to the local port. The global session cookie is minted with the real
// signSession and an in-memory key store, standing in for a finished login.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fastify, type FastifyInstance } from 'fastify';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as client from 'openid-client';
import { pino } from 'pino';
import type { AuthConfig, SaasAppConfig } from '../../src/config/types.js';
import { compilePolicies, type CompiledPolicy } from '../../src/core/policy/index.js';
import { signSession } from '../../src/core/session-token.js';
import { AUTH_COOKIE } from '../../src/sessions/cookies.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore, revokeSignIn, type RevocationStore } from '../../src/sessions/revocation.js';
import { createBoundedAdapter } from '../../src/web/oidc-provider/adapter.js';
import { registerSaasOidc } from '../../src/web/oidc-provider/provider.js';
import { CookieJar } from '../helpers/oidc-idp.js';

const AUTH_ORIGIN = 'https://auth.acme.test';
const ISSUER = `${AUTH_ORIGIN}/oidc`;
const REDIRECT = 'https://crm.example/cb';
const CRM = { clientId: 'crm-client', clientSecret: 'crm-secret-0123456789' };

function policies(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

const auth: AuthConfig = { domain: 'auth.acme.test', sessionDurationSec: 3600, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined, samlIdp: undefined };
const saasApps: SaasAppConfig[] = [
  {
    name: 'crm',
    displayName: 'CRM',
    logo: undefined,
    hidden: false,
    idps: ['okta'],
    sessionDurationSec: 3600,
    policies: policies([
      { name: 'sales', action: 'allow', include: [{ group: ['sales'] }] },
      { name: 'no-bob', action: 'deny', include: [{ email: ['bob@acme.test'] }] },
    ]),
    saml: undefined,
    oidc: { ...CRM, redirectUris: [REDIRECT, 'https://crm.example/other-cb'] },
  },
];

let keys: KeyStore;
let revocation: RevocationStore;
let app: FastifyInstance;
let port: number;
let rp: client.Configuration;

/** fetch() for the public origin, sent to the local listener. */
function toLocal(url: string | URL): URL {
  const u = new URL(url);
  if (u.origin !== AUTH_ORIGIN) throw new Error(`not the auth origin: ${u.href}`);
  return new URL(u.pathname + u.search, `http://127.0.0.1:${port}`);
}

const rpFetch: client.CustomFetch = (url, options) => fetch(toLocal(url), options as RequestInit);

/** One browser: cookies for the auth domain, redirects followed by hand. */
class Browser {
  readonly jar = new CookieJar();
  /** Every Set-Cookie line received. */
  readonly setCookies: string[] = [];

  async get(url: string | URL): Promise<Response> {
    const h = new Headers();
    const cookie = this.jar.header();
    if (cookie !== '') h.set('cookie', cookie);
    const res = await fetch(toLocal(new URL(url, AUTH_ORIGIN)), { headers: h, redirect: 'manual' });
    this.setCookies.push(...res.headers.getSetCookie());
    this.jar.take(res);
    return res;
  }

  /** Follow redirects on the auth origin; return the first response that is not one, or that leaves the origin. */
  async follow(url: string | URL): Promise<{ res: Response; url: URL }> {
    let current = new URL(url, AUTH_ORIGIN);
    for (let hop = 0; hop < 10; hop++) {
      const res = await this.get(current);
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || location === null) return { res, url: current };
      const next = new URL(location, current);
      if (next.origin !== AUTH_ORIGIN || next.pathname === '/login') return { res, url: next };
      await res.arrayBuffer();
      current = next;
    }
    throw new Error('too many redirects');
  }

  async signIn(user: { sub: string; email: string; name: string; groups: string[] }, authAgeSec = 60): Promise<string> {
    const nowMs = Date.now();
    const token = await signSession(
      {
        iss: auth.domain,
        aud: auth.domain,
        sub: user.sub,
        email: user.email,
        name: user.name,
        groups: user.groups,
        idp: 'okta',
        idp_type: 'oidc',
        amr: ['pwd', 'mfa'],
        auth_time: Math.floor(nowMs / 1000) - authAgeSec,
        sid: randomUUID(),
        exp: Math.floor(nowMs / 1000) + 3600,
      },
      keys.current(),
      nowMs,
    );
    this.jar.set(AUTH_COOKIE, token);
    return token;
  }
}

const ALICE = { sub: 'okta:alice', email: 'alice@acme.test', name: 'Alice <Sales>', groups: ['sales', 'staff'] };
const BOB = { sub: 'okta:bob', email: 'bob@acme.test', name: 'Bob', groups: ['sales'] };

interface Authorization {
  url: URL;
  verifier: string;
  nonce: string;
  state: string;
}

async function authorization(params: Record<string, string> = {}, pkce = true): Promise<Authorization> {
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(rp, {
    redirect_uri: REDIRECT,
    scope: 'openid email profile groups',
    nonce,
    state,
    ...(pkce ? { code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } : {}),
    ...params,
  });
  return { url, verifier, nonce, state };
}

/** The OAuth error code a token request was refused with (body `error`, or the WWW-Authenticate challenge's). */
async function oauthError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof client.ResponseBodyError) return err.error;
    if (err instanceof client.WWWAuthenticateChallengeError) return String(err.cause[0]?.parameters.error);
    throw err;
  }
  throw new Error('the token request succeeded');
}

beforeAll(async () => {
  keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: keyOverlapMs(3600), nowMs: Date.now() });
  revocation = createMemoryRevocationStore();
  app = fastify({ logger: false });
  registerSaasOidc(app, {
    config: () => ({ auth, saasApps }),
    keys,
    revocation,
    logger: pino({ level: 'silent' }),
    clock: () => Date.now(),
    publicBaseUrl: AUTH_ORIGIN,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as { port: number }).port;
  rp = await client.discovery(new URL(ISSUER), CRM.clientId, undefined, client.ClientSecretBasic(CRM.clientSecret), { [client.customFetch]: rpFetch });
  rp[client.customFetch] = rpFetch;
}, 30_000);

afterAll(async () => {
  await app?.close();
});

describe('OIDC provider for SaaS apps', () => {
  it('publishes discovery under /oidc with the public issuer, code flow only, PKCE S256', () => {
    const m = rp.serverMetadata();
    expect(m.issuer).toBe(ISSUER);
    expect(m.authorization_endpoint).toBe(`${ISSUER}/auth`);
    expect(m.token_endpoint).toBe(`${ISSUER}/token`);
    expect(m.jwks_uri).toBe(`${ISSUER}/jwks`);
    expect(m.response_types_supported).toEqual(['code']);
    expect(m.code_challenge_methods_supported).toEqual(['S256']);
    // Only what the registered clients use: every one of them is client_secret_basic.
    expect(m.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic']);
    expect(m.scopes_supported).toEqual(expect.arrayContaining(['openid', 'email', 'profile', 'groups']));
  });

  it('completes code + PKCE for a permitted user; the ID token verifies against our JWKS and carries the session identity', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const a = await authorization();
    const { res, url: callback } = await b.follow(a.url);
    expect(res.status).toBe(303);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('code')).toBeTruthy();
    expect(callback.searchParams.get('iss')).toBe(ISSUER);
    // The provider's own cookies: Secure (the public origin is https even though this hop is not), HttpOnly, Lax.
    expect(b.setCookies.length).toBeGreaterThan(0);
    for (const c of b.setCookies) {
      const attrs = c.toLowerCase().split(/;\s*/).slice(1);
      expect({ c, name: /^bouncer_oidc_\w+(\.sig)?=/.test(c), secure: attrs.includes('secure'), httpOnly: attrs.includes('httponly'), lax: attrs.includes('samesite=lax') }).toEqual({ c, name: true, secure: true, httpOnly: true, lax: true });
    }

    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true });
    const idToken = tokens.id_token!;
    const jwks = (await (await fetch(toLocal(`${ISSUER}/jwks`))).json()) as JSONWebKeySet;
    expect(jwks.keys.every((k) => !('d' in k) && !('p' in k))).toBe(true);
    expect(decodeProtectedHeader(idToken).alg).toBe('RS256');
    const { payload } = await jwtVerify(idToken, createLocalJWKSet(jwks), { issuer: ISSUER, audience: CRM.clientId, algorithms: ['RS256'] });
    expect(payload).toMatchObject({
      sub: 'okta:alice',
      nonce: a.nonce,
      email: 'alice@acme.test',
      email_verified: true,
      name: 'Alice <Sales>',
      groups: ['sales', 'staff'],
      idp: 'okta',
      amr: ['pwd', 'mfa'],
    });
    // A key from somewhere else does not verify it.
    const other = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: 0, nowMs: Date.now() });
    await expect(jwtVerify(idToken, createLocalJWKSet(other.jwks() as JSONWebKeySet))).rejects.toThrow();

    const info = await client.fetchUserInfo(rp, tokens.access_token, 'okta:alice');
    expect(info).toMatchObject({ sub: 'okta:alice', groups: ['sales', 'staff'], idp: 'okta' });

    // A code is single-use.
    expect(await oauthError(client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state }))).toBe('invalid_grant');
  });

  it('refuses a redirect URI that is not registered exactly, without redirecting', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    for (const redirect_uri of ['https://evil.example/cb', `${REDIRECT}/`, `${REDIRECT}?x=1`, 'https://crm.example/']) {
      const a = await authorization({ redirect_uri });
      const res = await b.get(a.url);
      const body = await res.text();
      expect({ redirect_uri, status: res.status, location: res.headers.get('location') }).toEqual({ redirect_uri, status: 400, location: null });
      expect(body).toContain('redirect_uri');
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
  });

  it('refuses a request without PKCE and never issues a code', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const a = await authorization({}, false);
    const { url } = await b.follow(a.url);
    expect(url.origin + url.pathname).toBe(REDIRECT);
    expect(url.searchParams.get('error')).toBe('invalid_request');
    expect(url.searchParams.get('code')).toBeNull();
  });

  it('without a global session sends the browser to /login for the app and resumes there after sign-in', async () => {
    const b = new Browser();
    const a = await authorization();
    const { res, url: login } = await b.follow(a.url);
    expect(res.status).toBe(302);
    expect(login.origin + login.pathname).toBe(`${AUTH_ORIGIN}/login`);
    expect(login.searchParams.get('app')).toBe('crm');
    const rd = new URL(login.searchParams.get('rd')!);
    expect(rd.origin).toBe(AUTH_ORIGIN);
    expect(rd.pathname).toMatch(/^\/oidc\/interaction\/[A-Za-z0-9_-]+$/);

    await b.signIn(ALICE);
    const { url: callback } = await b.follow(rd);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true });
    expect(tokens.claims()?.sub).toBe('okta:alice');
  });

  it('shows the deny page and issues no code to a user the policy excludes', async () => {
    const b = new Browser();
    await b.signIn(BOB);
    const a = await authorization();
    const { res, url } = await b.follow(a.url);
    expect(res.status).toBe(403);
    expect(url.pathname).toMatch(/^\/oidc\/interaction\//);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Access denied');
    expect(html).toContain('policy_deny');
    expect(html).toContain('no-bob');
    expect(html).not.toContain('code=');
  });

  it('re-checks the global session on every authorization: after logout the provider session alone gets no code', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const first = await b.follow((await authorization()).url);
    expect(first.url.searchParams.get('code')).toBeTruthy();
    expect(b.jar.header()).toContain('bouncer_oidc_session');
    b.jar.delete(AUTH_COOKIE);
    const again = await b.follow((await authorization()).url);
    expect(again.url.pathname).toBe('/login');
    expect(again.url.searchParams.get('code')).toBeNull();
  });

  it('refuses a revoked global session', async () => {
    const b = new Browser();
    const token = await b.signIn(ALICE);
    const sid = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string };
    revocation.revokeSession(sid.sid, Date.now() + 3_600_000);
    const { url } = await b.follow((await authorization()).url);
    expect(url.pathname).toBe('/login');
  });

  it('refuses the token request with a wrong client secret', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const a = await authorization();
    const { url: callback } = await b.follow(a.url);
    const wrong = new client.Configuration(rp.serverMetadata(), CRM.clientId, undefined, client.ClientSecretBasic('not-the-secret'));
    wrong[client.customFetch] = rpFetch;
    expect(await oauthError(client.authorizationCodeGrant(wrong, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state }))).toBe('invalid_client');
    // Client authentication comes first, so the refused attempt did not spend the code.
    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true });
    expect(tokens.claims()?.aud).toBe(CRM.clientId);

  });
});

/** The claims of the global session cookie `b` holds. */
function sessionOf(token: string): { sid: string; exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { sid: string; exp: number };
}

describe('the provider keeps its word', () => {
  const LEDGER = { clientId: 'ledger-client', clientSecret: 'ledger-secret-0123456789' };
  const LEDGER_REDIRECT = 'https://ledger.example/cb';
  let ledger: client.Configuration;

  beforeAll(async () => {
    saasApps.push({
      ...saasApps[0]!,
      name: 'ledger',
      oidc: { ...LEDGER, redirectUris: [LEDGER_REDIRECT], tokenEndpointAuthMethod: 'client_secret_post' },
    });
    ledger = await client.discovery(new URL(ISSUER), LEDGER.clientId, undefined, client.ClientSecretPost(LEDGER.clientSecret), { [client.customFetch]: rpFetch });
    ledger[client.customFetch] = rpFetch;
  });

  async function codeFor(b: Browser, conf: client.Configuration, redirect: string): Promise<{ callback: URL; a: Authorization }> {
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(conf, {
      redirect_uri: redirect,
      scope: 'openid email',
      nonce,
      state,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    });
    const { url: callback } = await b.follow(url);
    expect(callback.searchParams.get('code')).toBeTruthy();
    return { callback, a: { url, verifier, nonce, state } };
  }

  const redeem = (conf: client.Configuration, callback: URL, a: Authorization) =>
    client.authorizationCodeGrant(conf, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true });

  it('discovery advertises exactly the client authentication methods the clients are registered with', async () => {
    const m = (await (await fetch(toLocal(`${ISSUER}/.well-known/openid-configuration`))).json()) as { token_endpoint_auth_methods_supported: string[] };
    expect([...m.token_endpoint_auth_methods_supported].sort()).toEqual(['client_secret_basic', 'client_secret_post']);
  });

  it('attack: a client_secret_basic client authenticating with client_secret_post is refused, and the code is not spent', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const { callback, a } = await codeFor(b, rp, REDIRECT);
    const post = new client.Configuration(rp.serverMetadata(), CRM.clientId, undefined, client.ClientSecretPost(CRM.clientSecret));
    post[client.customFetch] = rpFetch;
    expect(await oauthError(redeem(post, callback, a))).toBe('invalid_client');
    expect((await redeem(rp, callback, a)).claims()?.aud).toBe(CRM.clientId);
  });

  it('attack: a client_secret_post client authenticating with client_secret_basic is refused; its own method works', async () => {
    const b = new Browser();
    await b.signIn(ALICE);
    const { callback, a } = await codeFor(b, ledger, LEDGER_REDIRECT);
    const basic = new client.Configuration(ledger.serverMetadata(), LEDGER.clientId, undefined, client.ClientSecretBasic(LEDGER.clientSecret));
    basic[client.customFetch] = rpFetch;
    expect(await oauthError(redeem(basic, callback, a))).toBe('invalid_client');
    expect((await redeem(ledger, callback, a)).claims()?.aud).toBe(LEDGER.clientId);
  });

  it('attack: an access token issued before a sign-out stops working at the sign-out, not at its expiry', async () => {
    const b = new Browser();
    const session = sessionOf(await b.signIn(ALICE));
    const { callback, a } = await codeFor(b, rp, REDIRECT);
    const tokens = await redeem(rp, callback, a);
    expect(await client.fetchUserInfo(rp, tokens.access_token, 'okta:alice')).toMatchObject({ sub: 'okta:alice' });
    // The code of a second authorization, not yet redeemed when the user signs out.
    const pending = await codeFor(b, rp, REDIRECT);
    revokeSignIn(revocation, session, Date.now(), auth.sessionDurationSec * 1000);
    const refused = await client.fetchUserInfo(rp, tokens.access_token, 'okta:alice').then(
      () => 'accepted',
      (err: unknown) => (err instanceof client.WWWAuthenticateChallengeError ? String(err.cause[0]?.parameters.error) : String(err)),
    );
    expect(refused).toBe('invalid_token');
    expect(await oauthError(redeem(rp, pending.callback, pending.a))).toBe('invalid_grant');
  });
});

describe('prompt=login and max_age force a fresh sign-in upstream', () => {
  it('attack: prompt=login is not answered from the existing session; the code comes after a fresh sign-in, with its auth_time', async () => {
    const b = new Browser();
    await b.signIn(ALICE, 600);
    const a = await authorization({ prompt: 'login' });
    const { res, url: login } = await b.follow(a.url);
    expect(res.status).toBe(302);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('prompt')).toBe('login');
    const rd = new URL(login.searchParams.get('rd')!);
    expect(rd.searchParams.get('reauth')).toBe('1');
    // The login service signs the user in again at the IdP (a new global session, auth_time now).
    const before = Math.floor(Date.now() / 1000);
    await b.signIn(ALICE, 0);
    const { url: callback } = await b.follow(rd);
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, idTokenExpected: true });
    expect(tokens.claims()?.auth_time).toBeGreaterThanOrEqual(before - 1);
  });

  it('attack: when the IdP still reports the old sign-in, the RP gets login_required, not the old auth_time', async () => {
    const b = new Browser();
    await b.signIn(ALICE, 600);
    const a = await authorization({ prompt: 'login' });
    const { url: login } = await b.follow(a.url);
    // Back from "signing in again" with the same old session.
    const { url: callback } = await b.follow(new URL(login.searchParams.get('rd')!));
    expect(callback.origin + callback.pathname).toBe(REDIRECT);
    expect(callback.searchParams.get('error')).toBe('login_required');
    expect(callback.searchParams.get('code')).toBeNull();
  });

  it('max_age: a sign-in older than max_age is refreshed upstream, a recent one is used', async () => {
    const b = new Browser();
    await b.signIn(ALICE, 600);
    const old = await b.follow((await authorization({ max_age: '300' })).url);
    expect(old.url.pathname).toBe('/login');
    expect(old.url.searchParams.get('max_age')).toBe('300');
    expect(old.url.searchParams.get('prompt')).toBe('login');
    const recent = new Browser();
    await recent.signIn(ALICE, 10);
    const a = await authorization({ max_age: '300' });
    const { url: callback } = await recent.follow(a.url);
    expect(callback.searchParams.get('code')).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(rp, callback, { pkceCodeVerifier: a.verifier, expectedNonce: a.nonce, expectedState: a.state, maxAge: 300, idTokenExpected: true });
    expect(tokens.claims()?.auth_time).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) - 300);
  });
});

describe('bounded provider storage', () => {
  it('keeps at most maxEntries, expires entries after their TTL, and revokes by grant', async () => {
    let now = 1_700_000_000_000;
    const adapter = createBoundedAdapter({ maxEntries: 10, clock: () => now });
    const codes = adapter('AuthorizationCode');
    for (let i = 0; i < 30; i++) await codes.upsert(`c${i}`, { grantId: `g${i % 3}` }, 60);
    const kept = (await Promise.all(Array.from({ length: 30 }, (_, i) => codes.find(`c${i}`)))).filter((p) => p !== undefined);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThanOrEqual(10);
    expect(await codes.find('c0')).toBeUndefined();

    const sessions = adapter('Session');
    await sessions.upsert('s1', { uid: 'u1' }, 30);
    expect(await sessions.findByUid('u1')).toEqual({ uid: 'u1' });
    await codes.consume('c29');
    expect((await codes.find('c29'))?.consumed).toBe(Math.floor(now / 1000));
    now += 31_000;
    expect(await sessions.find('s1')).toBeUndefined();
    expect(await sessions.findByUid('u1')).toBeUndefined();

    const fresh = createBoundedAdapter({ maxEntries: 100, clock: () => now });
    const tokens = fresh('AccessToken');
    await tokens.upsert('a1', { grantId: 'g' }, 600);
    await tokens.upsert('a2', { grantId: 'g' }, 600);
    await tokens.upsert('a3', { grantId: 'other' }, 600);
    await tokens.revokeByGrantId('g');
    expect([await tokens.find('a1'), await tokens.find('a2'), await tokens.find('a3')]).toEqual([undefined, undefined, { grantId: 'other' }]);
  });
});

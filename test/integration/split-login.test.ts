/**
 * The login service in its own process: `bouncer serve --only http` and
 * `bouncer serve --only authz` (built CLI, separate processes) behind one real
 * Envoy, sharing state through a private Redis and keys through keys_dir.
 * A browser signs in through the http process and is let in by the authz
 * process; a sign-out on either side is honoured by the other.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { IDENTITY_HEADERS } from '../../src/authz/check-response.js';
import { createRedisClient } from '../../src/stores/redis/client.js';
import { waitForRedisReady } from '../../src/stores/redis/wait-ready.js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { startBrowser, type TestBrowser } from '../helpers/browser.js';
import { contextPerTest, prepareEdge, startEdgeEnvoy } from '../helpers/browser-edge.js';
import type { RunningEnvoy } from '../helpers/envoy.js';
import { startOidcIdp, type OidcIdp } from '../helpers/oidc-idp.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';
import { tlsRequest } from '../helpers/tls-client.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let dir: string;
let idp: OidcIdp;
let redis: PrivateRedis;
let upstream: Upstream;
let authzProc: BouncerProcess;
let httpProc: BouncerProcess;
let envoy: RunningEnvoy;
let browser: TestBrowser;
let port: number;
let edgeCa: string;
let authzOpsPort: number;
let httpPort: number;
let configPath: string;
let env: NodeJS.ProcessEnv;

const users = [{ username: 'alice', email: 'alice@acme.test', name: 'Alice', groups: ['staff'] }];

beforeAll(async () => {
  const edge = await prepareEdge('split');
  ({ dir, port, edgeCaPem: edgeCa } = edge);
  const origin = edge.origin;
  [idp, redis, upstream] = await Promise.all([
    startOidcIdp({ clients: [{ client_id: 'bouncer', client_secret: 'secret', redirect_uris: [`${origin}/callback/okta`] }], users }),
    startPrivateRedis(),
    startUpstream(),
  ]);
  const authzPort = await freePort();
  httpPort = await freePort();
  authzOpsPort = await freePort();
  configPath = join(dir, 'bouncer.yaml');
  writeFileSync(
    configPath,
    `
listen: { authz: 127.0.0.1:${authzPort}, http: 127.0.0.1:${httpPort} }
store:
  redis: { url: "${redis.url}", key_prefix: "split-test:" }
auth:
  domain: auth.acme.test
  session: { duration: 1h, keys_dir: ./keys }
idps:
  - { id: okta, type: oidc, issuer: "${idp.issuer}", client_id: bouncer, client_secret_env: IDP_SECRET, scopes: [openid, email, profile, groups] }
apps:
  - name: wiki
    hostnames: [wiki.acme.test]
    idps: [okta]
    policies:
      - { name: staff, action: allow, include: [ { group: [staff] } ] }
  - name: notes
    hostnames: [notes.acme.test]
    idps: [okta]
    session_duration: 1m
    policies:
      - { name: staff, action: allow, include: [ { group: [staff] } ] }
saas_apps:
  - name: crm
    idps: [okta]
    policies: [ { name: staff, action: allow, include: [ { group: [staff] } ] } ]
    oidc: { client_id: crm, client_secret_env: CRM_SECRET, redirect_uris: ["https://crm.example/cb"] }
`,
  );
  env = { IDP_SECRET: 'secret', CRM_SECRET: 'crm-secret', BOUNCER_AUTH_PUBLIC_URL: origin, BOUNCER_LOG_LEVEL: 'info' };
  // The http process starts first and creates the signing key; the authz process reads it from keys_dir.
  httpProc = await startBouncerProcess({ configPath, args: ['--only', 'http'], env, readyUrl: `http://127.0.0.1:${httpPort}/readyz` });
  // The authz process serves /metrics and /readyz on its own port (listen.http is the login service's).
  authzProc = await startBouncerProcess({
    configPath,
    args: ['--only', 'authz'],
    env: { ...env, BOUNCER_LISTEN_HTTP: `127.0.0.1:${authzOpsPort}` },
    readyUrl: `http://127.0.0.1:${authzOpsPort}/readyz`,
  });
  envoy = await startEdgeEnvoy(edge, { authzPort, authHttpPort: httpPort, upstreamPort: upstream.port });
  browser = await startBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await envoy?.stop();
  await Promise.all([authzProc?.stop(), httpProc?.stop()]);
  await Promise.all([upstream?.close(), idp?.close(), redis?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const app = (path = '/'): string => `https://wiki.acme.test:${port}${path}`;

async function signIn(page: Page, path: string): Promise<void> {
  // One IdP for the app: the login service skips its chooser and goes straight to the IdP.
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 500) failed.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(app(path)).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nfailed responses: ${failed.join(', ')}\n--- http ---\n${httpProc.output().slice(-3000)}\n--- authz ---\n${authzProc.output().slice(-3000)}`);
  });
  expect(new URL(page.url()).hostname).toBe('127.0.0.1');
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', 'alice');
  await Promise.all([page.waitForURL(app(path)), page.click('#submit')]);
}

test('each process runs only its half', async () => {
  // The authz process has no login service on its HTTP port, only operations endpoints.
  expect((await fetch(`http://127.0.0.1:${authzOpsPort}/login`)).status).toBe(404);
  expect(await (await fetch(`http://127.0.0.1:${authzOpsPort}/readyz`)).json()).toMatchObject({ status: 'ready', role: 'authz', stores: { redis: 'up' } });
  expect(await (await fetch(`http://127.0.0.1:${authzOpsPort}/metrics`)).text()).toContain('bouncer_store_up{store="redis"} 1');
  // The http process answers logins and has no gRPC listener.
  expect(await (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).json()).toMatchObject({ status: 'ready', role: 'http' });
  expect(httpProc.output()).toContain('"role":"http"');
  expect(httpProc.output()).not.toMatch(/"authz":"127\.0\.0\.1/);
  // Operators read startup output: no deprecation or other runtime warning in either process.
  expect(httpProc.output()).not.toMatch(/Warning|FSTDEP/);
  expect(authzProc.output()).not.toMatch(/Warning|FSTDEP/);
});

describe('a browser through Envoy, login service and ext_authz in separate processes', () => {
  const ctx = contextPerTest(() => browser);

  test('signs in on the http process and is let in by the authz process', async () => {
    const page = await ctx().newPage();
    await signIn(page, '/docs?x=1');
    const seen = JSON.parse((await page.textContent('body')) ?? '{}') as { path: string; headers: Record<string, string> };
    expect(seen.path).toBe('/docs?x=1');
    expect(seen.headers[IDENTITY_HEADERS.userEmail]).toBe('alice@acme.test');
    expect(seen.headers[IDENTITY_HEADERS.app]).toBe('wiki');
    // The handoff was completed (and its jti consumed) by the authz process.
    await waitFor('the handoff in the authz audit log', async () => authzProc.decisions().some((d) => d.reason === 'session_established'), 3_000);
    // Who, in every identity decision: user, IdP, app and the deciding policy.
    const who = { user_sub: 'okta:alice', user_email: 'alice@acme.test', idp: 'okta', app: 'wiki' };
    expect(authzProc.decisions().find((d) => d.reason === 'session_established')).toMatchObject(who);
    await waitFor('the allow in the authz audit log', async () => authzProc.decisions().some((d) => d.reason === 'policy_allow' && d.path === '/docs'), 3_000);
    expect(authzProc.decisions().find((d) => d.reason === 'policy_allow' && d.path === '/docs')).toMatchObject({ ...who, policy: 'staff' });
    // And the login service's policy decision at sign-in.
    const loginLine = httpProc
      .output()
      .split('\n')
      .filter((l) => l.includes('"login policy"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .at(-1);
    expect(loginLine).toMatchObject({ app: 'wiki', sub: 'okta:alice', email: 'alice@acme.test', idp: 'okta', outcome: 'allow', policy: 'staff' });
  });

  test('a global sign-out on the http process is refused by the authz process', async () => {
    const page = await ctx().newPage();
    await signIn(page, '/a');
    const session = (await ctx().cookies(app('/'))).find((c) => c.name === '__Host-bouncer_session')?.value ?? '';
    expect(session).not.toBe('');
    await page.goto(`https://auth.acme.test:${port}/logout`);
    expect((await page.textContent('body')) ?? '').toMatch(/signed out/i);
    // The app cookie itself is still in the browser; only the shared revocation can stop it.
    const replay = await tlsRequest({ port, ca: edgeCa, servername: 'wiki.acme.test', path: '/after', headers: { cookie: `__Host-bouncer_session=${session}`, accept: 'application/json' } });
    expect(replay.status).toBe(401);
    expect(replay.json()).toMatchObject({ error: 'login_required' });
    // The refusal of a revoked session still names whose it was.
    await waitFor('the refusal in the audit log', async () => authzProc.decisions().some((d) => d.path === '/after'), 3_000);
    expect(authzProc.decisions().find((d) => d.path === '/after')).toMatchObject({ outcome: 'deny', reason: 'login_required', app: 'wiki', user_sub: 'okta:alice', user_email: 'alice@acme.test', idp: 'okta' });
  });

  test('an app sign-out on the authz process ends the login on the http process', async () => {
    const page = await ctx().newPage();
    await signIn(page, '/b');
    const me = async (): Promise<number | undefined> => (await page.goto(`https://auth.acme.test:${port}/me`))?.status();
    expect(await me()).toBe(200);
    await page.goto(app('/.bouncer/logout'));
    expect(await me()).toBe(401);
  });

  test('attack: an app-only sign-out on the authz process revokes the whole sign-in for as long as its longest session, in Redis too', async () => {
    const page = await ctx().newPage();
    await signIn(page, '/d');
    const me = await page.goto(`https://auth.acme.test:${port}/me`);
    const { sid, exp } = (await me?.json()) as { sid: string; exp: number };
    // A second app with a 1-minute session, minted from the same sign-in.
    await page.goto(`https://notes.acme.test:${port}/n`);
    expect(new URL(page.url()).hostname).toBe('notes.acme.test');
    const cookieOf = async (host: string): Promise<string> => (await ctx().cookies(`https://${host}:${port}/`)).find((c) => c.name === '__Host-bouncer_session')?.value ?? '';
    const notes = await cookieOf('notes.acme.test');
    const wiki = await cookieOf('wiki.acme.test');
    // Sign out of notes only, without following the redirect to the global sign-out.
    const out = await tlsRequest({ port, ca: edgeCa, servername: 'notes.acme.test', path: '/.bouncer/logout', headers: { cookie: `__Host-bouncer_session=${notes}` } });
    expect(out.status).toBe(302);
    // The global session and the wiki session (one hour each) are refused by both processes.
    expect((await page.goto(`https://auth.acme.test:${port}/me`))?.status()).toBe(401);
    const replay = await tlsRequest({ port, ca: edgeCa, servername: 'wiki.acme.test', path: '/after', headers: { cookie: `__Host-bouncer_session=${wiki}`, accept: 'application/json' } });
    expect(replay.status).toBe(401);
    // And the shared revocation outlives the signed-out 1-minute session: it lasts until the
    // longest session of the sign-in could have expired (here the global one, an hour).
    const r = createRedisClient({ url: redis.url });
    try {
      await waitForRedisReady(r, 5_000);
      const keys = (await r.keys(`split-test:*`)).filter((k) => k.endsWith(`s:${sid}`));
      expect(keys).toHaveLength(1);
      const until = Number(await r.get(keys[0] as string));
      expect(until).toBeGreaterThanOrEqual(exp * 1000);
      expect(await r.pttl(keys[0] as string)).toBeGreaterThan(50 * 60_000);
    } finally {
      r.disconnect();
    }
  });

  test('attack: prompt=login at bouncer as OIDC provider is not answered from the session: the IdP signs the user in again', async () => {
    let page = await ctx().newPage();
    await signIn(page, '/f');
    const before = (await (await page.goto(`https://auth.acme.test:${port}/me`))?.json()) as { auth_time: number };
    // The test plays the SaaS app: it reads the code off the browser's request to the callback.
    const verifier = randomBytes(32).toString('base64url');
    const authorize = (extra: Record<string, string>): string =>
      `https://auth.acme.test:${port}/oidc/auth?${new URLSearchParams({
        client_id: 'crm',
        redirect_uri: 'https://crm.example/cb',
        response_type: 'code',
        scope: 'openid email',
        state: randomBytes(8).toString('hex'),
        nonce: randomBytes(8).toString('hex'),
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        ...extra,
      })}`;
    // Without prompt=login the global session answers at once.
    const first = page.waitForRequest((r) => r.url().startsWith('https://crm.example/cb'));
    // The callback host does not exist: the navigation ends in an error once the request is seen.
    await page.goto(authorize({})).catch(() => undefined);
    expect(new URL((await first).url()).searchParams.get('code')).toBeTruthy();
    // With it, the IdP's login form comes back, although the IdP and bouncer both have a session.
    // A page of its own (same browser context, same cookies): the first page's error
    // page for the missing callback host may commit late and cut a new navigation short.
    await page.close();
    page = await ctx().newPage();
    await page.goto(authorize({ prompt: 'login' }));
    expect(new URL(page.url()).hostname).toBe('127.0.0.1');
    await page.waitForSelector('input[name=login]');
    const signedInAt = Math.floor(Date.now() / 1000);
    await page.fill('input[name=login]', 'alice');
    const [callback] = await Promise.all([page.waitForRequest((r) => r.url().startsWith('https://crm.example/cb')), page.click('#submit')]);
    const code = new URL(callback.url()).searchParams.get('code');
    expect(code).toBeTruthy();
    // Redeem it as the SaaS app does (client_secret_basic, its registered method): the ID token has the fresh auth_time.
    const token = async (headers: Record<string, string>, extra: Record<string, string>): Promise<Response> =>
      fetch(`http://127.0.0.1:${httpPort}/oidc/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: 'https://crm.example/cb', code_verifier: verifier, ...extra }),
      });
    // client_secret_post for a client_secret_basic client: refused, and the code survives.
    const post = await token({}, { client_id: 'crm', client_secret: 'crm-secret' });
    expect(post.status).toBe(401);
    expect(await post.json()).toMatchObject({ error: 'invalid_client' });
    const res = await token({ authorization: `Basic ${Buffer.from('crm:crm-secret').toString('base64')}` }, {});
    expect(res.status).toBe(200);
    const idToken = ((await res.json()) as { id_token: string }).id_token;
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as { auth_time: number; sub: string };
    expect(claims.sub).toBe('okta:alice');
    expect(claims.auth_time).toBeGreaterThanOrEqual(signedInAt - 1);
    expect(claims.auth_time).toBeGreaterThan(before.auth_time - 1);
  });

  test('a replayed handoff link is refused', async () => {
    const page = await ctx().newPage();
    let handoff: string | undefined;
    page.on('request', (r) => {
      if (r.url().includes('/.bouncer/handoff')) handoff = r.url();
    });
    await signIn(page, '/c');
    expect(handoff).toBeDefined();
    const u = new URL(handoff as string);
    const again = await tlsRequest({ port, ca: edgeCa, servername: 'wiki.acme.test', path: `${u.pathname}${u.search}` });
    expect(again.status).toBe(400);
    expect(again.json()).toMatchObject({ error: 'handoff_invalid' });
  });
});

test('a split process without a shared store refuses to start, saying why', async () => {
  const bare = join(dir, 'no-redis.yaml');
  writeFileSync(
    bare,
    `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }
auth: { domain: auth.acme.test, session: { keys_dir: ./keys } }
idps:
  - { id: okta, type: oidc, issuer: "${idp.issuer}", client_id: bouncer, client_secret_env: IDP_SECRET }
apps:
  - { name: wiki, hostnames: [wiki.acme.test], idps: [okta], policies: [ { name: all, action: allow, include: [ { everyone: true } ] } ] }
`,
  );
  const p = await startBouncerProcess({ configPath: bare, args: ['--only', 'authz'], env });
  expect(await p.exited()).not.toBe(0);
  expect(p.output()).toContain('serve --only authz needs store.redis');
});

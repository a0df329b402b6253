import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { IDENTITY_HEADERS } from '../../src/authz/check-response.js';
import { contextPerTest, prepareEdge, startEdgeStack, type EdgeStack } from '../helpers/browser-edge.js';
import { startOidcIdp, type OidcIdp } from '../helpers/oidc-idp.js';
import { startSamlIdp, type SamlIdp } from '../helpers/saml-idp.js';
import { tlsRequest } from '../helpers/tls-client.js';

// Three real IdPs in their own processes (two oidc-provider instances and a
// samlify IdP), bouncer in-process, a real Envoy in front, and Debian's Chromium.
let dir: string;
let idpA: OidcIdp;
let idpB: OidcIdp;
let saml: SamlIdp;
let stack: EdgeStack;
let port: number;
let edgeCa: string;

const users = [
  { username: 'alice', email: 'alice@acme.test', name: 'Alice', groups: ['staff'], amr: ['pwd', 'mfa'] },
  { username: 'intern', email: 'intern@acme.test', name: 'Intern', groups: ['interns'] },
];

beforeAll(async () => {
  const edge = await prepareEdge('login');
  ({ dir, port, edgeCaPem: edgeCa } = edge);
  const origin = edge.origin;
  [idpA, idpB, saml] = await Promise.all([
    startOidcIdp({ clients: [{ client_id: 'bouncer-a', client_secret: 'secret-a', redirect_uris: [`${origin}/callback/okta`] }], users }),
    startOidcIdp({ clients: [{ client_id: 'bouncer-b', client_secret: 'secret-b', redirect_uris: [`${origin}/callback/keycloak`] }], users: [{ username: 'bob', email: 'bob@acme.test', name: 'Bob', groups: ['staff'] }] }),
    startSamlIdp(),
  ]);
  writeFileSync(join(dir, 'saml-idp.xml'), saml.metadataXml);

  const config = `auth:
  domain: auth.acme.test
  session: { duration: 1h }
idps:
  - { id: okta, type: oidc, issuer: "${idpA.issuer}", client_id: bouncer-a, client_secret_env: IDP_A_SECRET, scopes: [openid, email, profile, groups] }
  - { id: keycloak, type: oidc, preset: keycloak, issuer: "${idpB.issuer}", client_id: bouncer-b, client_secret_env: IDP_B_SECRET }
  - { id: corp, type: saml, metadata_file: ./saml-idp.xml }
apps:
  - name: wiki
    hostnames: [wiki.acme.test]
    idps: [okta, keycloak, corp]
    api_paths: ["/api/*"]
    policies:
      - name: staff
        action: allow
        include: [ { email_domain: [acme.test] } ]
        exclude: [ { email: [intern@acme.test] } ]
  - name: admin
    hostnames: [admin.acme.test]
    idps: [okta]
    policies:
      - { name: admins-only, action: allow, include: [ { group: [admins] } ] }
`;
  const env = { IDP_A_SECRET: 'secret-a', IDP_B_SECRET: 'secret-b' };
  stack = await startEdgeStack(edge, config, env, { authPublicOrigin: origin });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([idpA?.close(), idpB?.close(), saml?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const app = (path = '/'): string => `https://wiki.acme.test:${port}${path}`;

/** The JSON the test upstream echoes: which path and headers reached it. */
async function upstreamView(page: Page): Promise<{ path: string; headers: Record<string, string> }> {
  return JSON.parse((await page.textContent('body')) ?? '{}') as { path: string; headers: Record<string, string> };
}

async function signInWithOidc(page: Page, idpLabel: RegExp, username: string): Promise<void> {
  await page.getByRole('link', { name: idpLabel }).click();
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', username);
  const failed: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 500) failed.push(`${r.status()} ${r.url()}`);
  });
  await Promise.all([page.waitForURL((u) => u.hostname !== '127.0.0.1'), page.click('#submit')]).catch((err: unknown) => {
    throw new Error(`${(err as Error).message}\nresponses that failed: ${failed.join(', ') || 'none'}`);
  });
}

describe('signing in through Envoy with a real browser', () => {
  const ctx = contextPerTest(() => stack.browser);

  test('IdP chooser → first OIDC IdP → back on the original URL with identity at the upstream', async () => {
    const page = await ctx().newPage();
    await page.goto(app('/docs/page?x=1'));
    expect(new URL(page.url()).hostname).toBe('auth.acme.test');
    expect(await page.getByRole('link').count()).toBe(3);
    await signInWithOidc(page, /okta/i, 'alice');
    await page.waitForURL(app('/docs/page?x=1'));
    const seen = await upstreamView(page);
    expect(seen.path).toBe('/docs/page?x=1');
    expect(seen.headers[IDENTITY_HEADERS.userEmail]).toBe('alice@acme.test');
    expect(seen.headers[IDENTITY_HEADERS.userIdp]).toBe('okta');
    expect(seen.headers[IDENTITY_HEADERS.userGroups]).toBe('staff');
    expect(seen.headers[IDENTITY_HEADERS.app]).toBe('wiki');
    expect(seen.headers[IDENTITY_HEADERS.jwt]).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+$/);
    // The app cookie carries on without any call to the IdP.
    await page.goto(app('/again'));
    expect((await upstreamView(page)).path).toBe('/again');
  });

  test('the second OIDC IdP works the same', async () => {
    const page = await ctx().newPage();
    await page.goto(app('/from-b'));
    await signInWithOidc(page, /keycloak/i, 'bob');
    await page.waitForURL(app('/from-b'));
    expect((await upstreamView(page)).headers[IDENTITY_HEADERS.userEmail]).toBe('bob@acme.test');
  });

  test('the SAML IdP works the same', async () => {
    const page = await ctx().newPage();
    await page.goto(app('/from-saml'));
    await page.getByRole('link', { name: /corp/i }).click();
    await page.waitForSelector('#login');
    await Promise.all([page.waitForURL(app('/from-saml'), { timeout: 20_000 }), page.click('#login')]);
    const seen = await upstreamView(page);
    expect(seen.headers[IDENTITY_HEADERS.userIdp]).toBe('corp');
    expect(seen.headers[IDENTITY_HEADERS.userEmail]).toMatch(/@acme\.test$/);
  });

  test('a user the policy excludes sees the deny page with the rule and a request id', async () => {
    const page = await ctx().newPage();
    await page.goto(app('/'));
    await signInWithOidc(page, /okta/i, 'intern');
    const text = (await page.textContent('body')) ?? '';
    expect(text).toMatch(/denied/i);
    expect(text).toMatch(/[0-9a-f-]{36}/);
    const before = stack.upstream.seen.length;
    await page.goto(app('/still-no'));
    expect(stack.upstream.seen.length).toBe(before);
  });

  test('logout ends access, and a revoked session is refused', async () => {
    const page = await ctx().newPage();
    await page.goto(app('/x'));
    await signInWithOidc(page, /okta/i, 'alice');
    await page.waitForURL(app('/x'));
    const cookies = await ctx().cookies(app('/'));
    const session = cookies.find((c) => c.name === '__Host-bouncer_session');
    expect(session).toMatchObject({ secure: true, httpOnly: true });

    await page.goto(app('/.bouncer/logout'));
    // Back to the app: a login page again, not the upstream.
    const before = stack.upstream.seen.length;
    await page.goto(app('/after-logout'));
    expect(new URL(page.url()).hostname).toBe('auth.acme.test');
    expect(stack.upstream.seen.length).toBe(before);

    // The old cookie, replayed by another client after logout, is refused too.
    const replay = await tlsRequest({
      port,
      ca: edgeCa,
      servername: 'wiki.acme.test',
      path: '/api/data',
      headers: { cookie: `__Host-bouncer_session=${session?.value ?? ''}` },
    });
    expect(replay.status).toBe(401);
    expect(replay.json()).toMatchObject({ error: 'login_required' });
  });

  test('API clients get 401 JSON, and a session for one app does not open another', async () => {
    const api = await tlsRequest({ port, ca: edgeCa, servername: 'wiki.acme.test', path: '/api/data' });
    expect(api.status).toBe(401);
    expect(api.json()).toMatchObject({ error: 'login_required' });

    const page = await ctx().newPage();
    await page.goto(app('/'));
    await signInWithOidc(page, /okta/i, 'alice');
    await page.waitForURL(app('/'));
    const wikiCookie = (await ctx().cookies(app('/'))).find((c) => c.name === '__Host-bouncer_session')?.value ?? '';
    const onAdmin = await tlsRequest({
      port,
      ca: edgeCa,
      servername: 'admin.acme.test',
      path: '/api',
      headers: { cookie: `__Host-bouncer_session=${wikiCookie}`, accept: 'application/json' },
    });
    expect(onAdmin.status).toBe(401);
  });

  test('identity headers forged by the client never reach the upstream', async () => {
    await ctx().setExtraHTTPHeaders({ [IDENTITY_HEADERS.userEmail]: 'ceo@acme.test', [IDENTITY_HEADERS.jwt]: 'forged' });
    const page = await ctx().newPage();
    await page.goto(app('/forged'));
    await signInWithOidc(page, /okta/i, 'alice');
    await page.waitForURL(app('/forged'));
    const seen = await upstreamView(page);
    expect(seen.headers[IDENTITY_HEADERS.userEmail]).toBe('alice@acme.test');
    expect(seen.headers[IDENTITY_HEADERS.jwt]).not.toBe('forged');
  });
});

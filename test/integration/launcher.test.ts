// The App Launcher (GET / on the auth domain). The page is fetched over plain
// HTTP with a minted global session cookie (real signSession, in-memory key
// store), then served to headless Chromium for the public URL through
// page.route, headers included, so the DOM, the CSP and the layout are the
// browser's own. The fastify instance carries an app-wide onSend hook like the
// login service's, to show the launcher's own CSP wins.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fastify, type FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../src/config/types.js';
import { compilePolicies, type CompiledPolicy } from '../../src/core/policy/index.js';
import { signSession } from '../../src/core/session-token.js';
import { AUTH_COOKIE } from '../../src/sessions/cookies.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore, type RevocationStore } from '../../src/sessions/revocation.js';
import { CONTENT_SECURITY_POLICY } from '../../src/web/auth/pages.js';
import { registerLauncher } from '../../src/web/launcher/routes.js';
import { startBrowser, type TestBrowser } from '../helpers/browser.js';

const AUTH_ORIGIN = 'https://auth.acme.test';
const XSS_NAME = '<img src=x onerror="alert(1)">&amp;';

function policies(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}
const allowGroup = (g: string): CompiledPolicy[] => policies([{ name: `group-${g}`, action: 'allow', include: [{ group: [g] }] }]);
const everyone = policies([{ name: 'everyone', action: 'allow', include: [{ everyone: true }] }]);

const auth: AuthConfig = { domain: 'auth.acme.test', sessionDurationSec: 3600, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined, samlIdp: undefined };

function app(name: string, hostnames: string[], p: CompiledPolicy[], launcher: Partial<AppConfig['launcher']> = {}, idps = ['okta']): AppConfig {
  return { name, hostnames, idps, sessionDurationSec: 3600, apiPaths: [], policies: p, launcher: { hidden: false, displayName: name, logo: undefined, url: undefined, ...launcher } };
}

function saas(name: string, kind: 'saml' | 'oidc', p: CompiledPolicy[], extra: Partial<SaasAppConfig> = {}): SaasAppConfig {
  return {
    name,
    displayName: name,
    logo: undefined,
    hidden: false,
    idps: ['okta'],
    sessionDurationSec: 3600,
    policies: p,
    saml:
      kind === 'saml'
        ? { entityId: `https://${name}.example/sp`, acsUrls: [`https://${name}.example/acs`], nameIdFormat: 'emailAddress', nameIdSource: 'email', attributes: [], sign: 'both', signatureAlgorithm: 'rsa-sha256', authnRequestsSigned: false, spCertPem: undefined }
        : undefined,
    oidc: kind === 'oidc' ? { clientId: `${name}-client`, clientSecret: 's3cret', redirectUris: [`https://${name}.example/auth/cb`, 'https://other.example/cb'] } : undefined,
    ...extra,
  };
}

const apps: AppConfig[] = [
  app('wiki', ['wiki.acme.test'], allowGroup('staff'), { displayName: 'Team Wiki' }),
  app('grafana', ['*.grafana.acme.test', 'grafana.acme.test'], allowGroup('eng'), { displayName: 'Grafana', url: 'https://grafana.acme.test/d/home' }),
  app('status', ['status.acme.test'], policies([{ name: 'public', action: 'bypass', include: [{ everyone: true }] }]), { displayName: 'Status' }),
  app('hidden-admin', ['admin.acme.test'], everyone, { hidden: true }),
  app('gh-only', ['gh.acme.test'], everyone, {}, ['github']),
  app('previews', ['*.preview.acme.test'], everyone),
  app('certs', ['certs.acme.test'], policies([{ name: 'devices', action: 'allow', include: [{ certificate: true }] }])),
];

const saasApps: SaasAppConfig[] = [
  saas('salesforce', 'saml', allowGroup('sales'), { displayName: 'Salesforce', logo: 'https://cdn.example/sf.png' }),
  saas('crm', 'oidc', policies([
    { name: 'staff', action: 'allow', include: [{ email_domain: ['acme.test'] }] },
    { name: 'no-bob', action: 'deny', include: [{ email: ['bob@acme.test'] }] },
  ]), { displayName: 'CRM', logo: 'data:image/svg+xml;base64,PHN2Zy8+' }),
  saas('payroll', 'saml', everyone, { hidden: true }),
  saas('odd', 'oidc', allowGroup('eng'), { displayName: XSS_NAME, logo: 'javascript:alert(1)' }),
];

const ALICE = { sub: 'okta:alice', email: 'alice@acme.test', name: 'Alice', groups: ['staff', 'sales'] };
const BOB = { sub: 'okta:bob', email: 'bob@acme.test', name: 'Bob', groups: ['eng'] };

let keys: KeyStore;
let revocation: RevocationStore;
let server: FastifyInstance;
let port: number;
let browser: TestBrowser;

async function sessionCookie(user: typeof ALICE, sid = randomUUID()): Promise<string> {
  const nowMs = Date.now();
  const nowSec = Math.floor(nowMs / 1000);
  const token = await signSession(
    { iss: auth.domain, aud: auth.domain, ...user, idp: 'okta', idp_type: 'oidc', amr: ['pwd'], auth_time: nowSec - 10, sid, exp: nowSec + 3600 },
    keys.current(),
    nowMs,
  );
  return `${AUTH_COOKIE}=${token}`;
}

function get(cookie?: string): Promise<Response> {
  return fetch(`http://127.0.0.1:${port}/`, { headers: cookie === undefined ? {} : { cookie }, redirect: 'manual' });
}

interface TileView {
  app: string | null;
  href: string | null;
  name: string;
  img: string | null;
}

/** Serve `res` to Chromium as https://auth.acme.test/ and return the page, plus CSP complaints it logged. */
async function openInBrowser(res: Response, viewport = { width: 1280, height: 800 }): Promise<{ page: Page; cspErrors: string[]; close(): Promise<void> }> {
  const body = await res.text();
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => {
    headers[k] = v;
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.setViewportSize(viewport);
  const cspErrors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  await page.route('**/*', (route) =>
    route.request().url() === `${AUTH_ORIGIN}/` ? route.fulfill({ status: res.status, headers, body }) : route.abort(),
  );
  await page.goto(`${AUTH_ORIGIN}/`);
  return { page, cspErrors, close: () => context.close() };
}

function tilesIn(page: Page): Promise<TileView[]> {
  return page.$$eval('main ul.tiles > li > a.tile', (links) =>
    links.map((a) => ({
      app: a.getAttribute('data-app'),
      href: a.getAttribute('href'),
      name: a.querySelector('.name')?.textContent ?? '',
      img: a.querySelector('img')?.getAttribute('src') ?? null,
    })),
  );
}

beforeAll(async () => {
  keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: keyOverlapMs(3600), nowMs: Date.now() });
  revocation = createMemoryRevocationStore();
  server = fastify({ logger: false });
  // Like the login service: every response gets the app-wide CSP.
  server.addHook('onSend', async (_req, reply, payload) => {
    reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
    return payload;
  });
  registerLauncher(server, { config: () => ({ auth, apps, saasApps }), keys, revocation, logger: pino({ level: 'silent' }), clock: () => Date.now() });
  await server.listen({ host: '127.0.0.1', port: 0 });
  port = (server.server.address() as { port: number }).port;
  browser = await startBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('App Launcher', () => {
  it('sends a browser without a (valid, unrevoked) session to the launcher sign-in', async () => {
    const none = await get();
    expect(none.status).toBe(302);
    expect(none.headers.get('location')).toBe('/login?launcher=1');

    const forged = await get(`${AUTH_COOKIE}=eyJhbGciOiJub25lIn0.e30.`);
    expect(forged.headers.get('location')).toBe('/login?launcher=1');

    const sid = randomUUID();
    const cookie = await sessionCookie(ALICE, sid);
    expect((await get(cookie)).status).toBe(200);
    revocation.revokeSession(sid, Date.now() + 3_600_000);
    const revoked = await get(cookie);
    expect(revoked.status).toBe(302);
    expect(revoked.headers.get('location')).toBe('/login?launcher=1');
  });

  it('shows two users exactly the tiles their policies permit', async () => {
    const expected: [typeof ALICE, TileView[]][] = [
      [
        ALICE,
        [
          { app: 'crm', href: 'https://crm.example/', name: 'CRM', img: 'data:image/svg+xml;base64,PHN2Zy8+' },
          { app: 'salesforce', href: '/saml/idp/salesforce/init', name: 'Salesforce', img: 'https://cdn.example/sf.png' },
          { app: 'status', href: 'https://status.acme.test/', name: 'Status', img: null },
          { app: 'wiki', href: 'https://wiki.acme.test/', name: 'Team Wiki', img: null },
        ],
      ],
      [
        BOB,
        [
          // Sorted by label: '<' sorts before letters. The unsafe logo is dropped, the label shown as text.
          { app: 'odd', href: 'https://odd.example/', name: XSS_NAME, img: null },
          { app: 'grafana', href: 'https://grafana.acme.test/d/home', name: 'Grafana', img: null },
          { app: 'status', href: 'https://status.acme.test/', name: 'Status', img: null },
        ],
      ],
    ];
    for (const [user, tiles] of expected) {
      const res = await get(await sessionCookie(user));
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const view = await openInBrowser(res);
      try {
        expect(await tilesIn(view.page)).toEqual(tiles);
        expect(await view.page.textContent('header strong')).toBe(user.email);
        // Nothing the escaping should have neutralised made it into the DOM.
        expect(await view.page.$$eval('img[src="x"], script', (n) => n.length)).toBe(0);
        expect(view.cspErrors).toEqual([]);
      } finally {
        await view.close();
      }
    }
  }, 60_000);

  it('sends its own CSP: default-src none, its stylesheet by hash, images only from the logo origins', async () => {
    const res = await get(await sessionCookie(ALICE));
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).not.toBe(CONTENT_SECURITY_POLICY);
    const directives = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    expect(directives['default-src']).toEqual(["'none'"]);
    expect(directives['style-src']).toHaveLength(1);
    expect(directives['style-src']![0]).toMatch(/^'sha256-[A-Za-z0-9+/]+=*'$/);
    expect(directives['img-src']).toEqual(['data:', 'https://cdn.example']);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['script-src']).toBeUndefined();
    // Bob's page shows no logo, so it allows no images at all.
    const bob = await get(await sessionCookie(BOB));
    expect(bob.headers.get('content-security-policy')).not.toContain('img-src');
  });

  it('is usable by keyboard, has landmarks, and reflows from phone to desktop', async () => {
    const res = await get(await sessionCookie(ALICE));
    const view = await openInBrowser(res, { width: 360, height: 740 });
    try {
      const { page } = view;
      expect(await page.$$eval('header, main, footer', (n) => n.map((e) => e.tagName.toLowerCase()))).toEqual(['header', 'main', 'footer']);
      expect(await page.$$eval('h1', (n) => n.map((e) => e.textContent))).toEqual(['Your apps']);
      expect(await page.getAttribute('html', 'lang')).toBe('en');
      // The stylesheet applied (so the CSP hash is right) and the grid is one column on a phone.
      // Expressions as strings: they run in the page, and the project's type-check has no DOM library.
      const columns = async (): Promise<number> => String(await page.evaluate("getComputedStyle(document.querySelector('ul.tiles')).gridTemplateColumns")).split(' ').length;
      expect(await page.evaluate("getComputedStyle(document.querySelector('ul.tiles')).display")).toBe('grid');
      expect(await columns()).toBeLessThanOrEqual(2);
      await page.setViewportSize({ width: 1280, height: 800 });
      expect(await columns()).toBeGreaterThanOrEqual(4);

      // Tab order: skip link, sign out, then every tile in order; each focused tile shows a focus ring.
      const order: string[] = [];
      for (let i = 0; i < 6; i++) {
        await page.keyboard.press('Tab');
        order.push(String(await page.evaluate("document.activeElement.getAttribute('data-app') ?? document.activeElement.textContent")));
        const outline = await page.evaluate('getComputedStyle(document.activeElement).outlineStyle');
        expect(outline).not.toBe('none');
      }
      expect(order).toEqual(['Skip to your apps', 'Sign out', 'crm', 'salesforce', 'status', 'wiki']);
      // Enter on the focused tile follows its link (the browser leaves for the app; the route aborts it).
      const request = page.waitForRequest((r) => r.url() === 'https://wiki.acme.test/');
      await page.keyboard.press('Enter');
      await request;
      expect(view.cspErrors).toEqual([]);
    } finally {
      await view.close();
    }
  }, 60_000);
});

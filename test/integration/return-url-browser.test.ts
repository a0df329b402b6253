import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { BrowserContext } from 'playwright-core';
import { locationOnOrigin, validateReturnUrl } from '../../src/core/return-url.js';
import { createRootCa, issueServerCert } from '../../src/pki/generate.js';
import { startBrowser, type TestBrowser } from '../helpers/browser.js';

// Where does Chromium actually land? A page on the app origin answers
// `/go?to=<candidate>` the way bouncer answers after a sign-in: the validator
// decides, and an accepted URL becomes a Location built from the validated
// origin and path. Every other path on every host answers 200, so a browser
// that escapes is seen landing on the other origin. `/raw` emits the old
// path-only Location, to show the harness sees an escape when there is one.

let server: Server;
let browser: TestBrowser;
let ctx: BrowserContext;
let port: number;
let appOrigin: string;
const landings: string[] = [];

beforeAll(async () => {
  const ca = await createRootCa({ commonName: 'landing test CA', validDays: 2 });
  const cert = await issueServerCert({ issuer: ca, commonName: 'landing', dns: ['app.test', 'evil.test', '*.evil.test', '*.app.test'], validDays: 2 });
  server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'unknown'}`);
    const to = url.searchParams.get('to') ?? '';
    if (url.pathname === '/go' || url.pathname === '/go-own') {
      const r = validateReturnUrl(to, ['app.test']);
      if (!r.ok) return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`refused ${r.problem}`);
      const location = url.pathname === '/go' ? r.target.href : locationOnOrigin(`https://app.test:${port}`, r.target);
      return void res.writeHead(302, { location }).end();
    }
    if (url.pathname === '/raw') {
      const u = new URL(to);
      return void res.writeHead(302, { location: `${u.pathname}${u.search}` }).end();
    }
    if (url.pathname !== '/favicon.ico') landings.push(`${req.headers.host ?? ''}${req.url ?? ''}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`landed on ${req.headers.host ?? ''}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  appOrigin = `https://app.test:${port}`;
  browser = await startBrowser();
  ctx = await browser.newContext();
}, 60_000);

afterAll(async () => {
  await ctx?.close();
  await browser?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/** Candidates with `{P}` for the test port: every escape in the validator table, and some only a browser tells apart. */
const CANDIDATES = [
  // Should stay on the app.
  'https://app.test:{P}/',
  'https://app.test:{P}',
  'https://APP.test:{P}/x',
  'https://app.test:{P}/a/b/../c?d=e',
  'https://app.test:{P}/../../x',
  'https://app.test:{P}/search?q=//evil.test:{P}/',
  'https://app.test:{P}/search?next=%2F%2Fevil.test:{P}%2F',
  'https://app.test:{P}/caf\u00e9',
  'https://app.test.:{P}/x',
  // Full-width look-alikes: IDNA maps U+FF0E to a dot in a host; in a path U+FF0F is no slash.
  'https://app\uff0etest:{P}/',
  'https://app.test:{P}/\uff0f\uff0fevil.test:{P}/',
  // Paths a browser reads as another origin.
  'https://app.test:{P}//evil.test:{P}/',
  'https://app.test:{P}///evil.test:{P}/',
  'https://app.test:{P}/.//evil.test:{P}/',
  'https://app.test:{P}/..//evil.test:{P}/',
  'https://app.test:{P}/a/..//evil.test:{P}/',
  'https://app.test:{P}/x/../../..//evil.test:{P}/',
  'https://app.test:{P}/%2e%2e//evil.test:{P}/',
  'https://app.test:{P}/a/%2E%2E//evil.test:{P}/',
  'https://app.test:{P}/a/.%2e//evil.test:{P}/',
  'https://app.test:{P}/%2e//evil.test:{P}/',
  'https://app.test:{P}/%2F%2Fevil.test:{P}/',
  'https://app.test:{P}/%2f/evil.test:{P}/',
  'https://app.test:{P}/%5C%5Cevil.test:{P}/',
  'https://app.test:{P}/%5c/evil.test:{P}/',
  'https://app.test:{P}/%252F%252Fevil.test:{P}/',
  'https://app.test:{P}/\\evil.test:{P}/',
  'https://app.test:{P}/\\\\evil.test:{P}/',
  'https://app.test:{P}/\\/evil.test:{P}/',
  'https://app.test:{P}/\t/evil.test:{P}/',
  'https://app.test:{P}/\n/evil.test:{P}/',
  'https://app.test:{P}/\r\n/evil.test:{P}/',
  'https://app.test:{P}/ /evil.test:{P}/',
  'https://app.test:{P}/\u0000/evil.test:{P}/',
  'https://app.test:{P}/\u00a0/evil.test:{P}/',
  'https://app.test:{P}/%0d%0aLocation:%20https://evil.test:{P}/',
  // Another host, by userinfo, encoding or look-alikes.
  'https://evil.test:{P}/',
  'https://app.test.evil.test:{P}/',
  'https://evil.app.test:{P}/',
  'https://app.test:{P}@evil.test:{P}/',
  'https://app.test@evil.test:{P}/',
  'https://app.test:{P}\\@evil.test:{P}/',
  'https://app.test:{P}%2F@evil.test:{P}/',
  'https://app.test%40evil.test:{P}/',
  'https://evil.test:{P}#@app.test:{P}/',
  'https://evil.test:{P}?@app.test:{P}/',
  'https://evil.test:{P}\\app.test:{P}/',
  'https://evil.test:{P}\u3002app.test/',
  'https://app.test\u3002evil.test:{P}/',
  'https://%61pp.test:{P}/',
  'https://[::1]:{P}/',
  'https://127.0.0.1:{P}/',
  // Not https with an authority at all.
  '//evil.test:{P}/',
  '///evil.test:{P}/',
  '/\\evil.test:{P}/',
  '\\\\evil.test:{P}/',
  '\\/evil.test:{P}/',
  '%2F%2Fevil.test:{P}/',
  'https:evil.test:{P}/',
  'https:/evil.test:{P}/',
  'https:\\\\evil.test:{P}/',
  ' https://evil.test:{P}/',
  '\thttps://evil.test:{P}/',
  'http://app.test:{P}/',
  'javascript:alert(1)',
  'JaVaScRiPt:alert(1)//https://app.test:{P}/',
  'data:text/html,<script>alert(1)</script>',
  'vbscript:msgbox(1)',
  'blob:https://app.test:{P}/x',
  'ftp://app.test:{P}/',
];

test('the harness sees an escape: the old path-only Location lands off the app', async () => {
  const page = await ctx.newPage();
  await page.goto(`${appOrigin}/raw?to=${encodeURIComponent(`https://app.test:${port}//evil.test:${port}/`)}`);
  expect(new URL(page.url()).origin).toBe(`https://evil.test:${port}`);
  expect(landings).toContain(`evil.test:${port}/`);
  await page.close();
});

test.each([['/go'], ['/go-own']])('for every candidate, %s either refuses it or Chromium lands on the app origin', async (route) => {
  const page = await ctx.newPage();
  const outcomes: string[] = [];
  const seenBefore = landings.length;
  let accepted = 0;
  for (const template of CANDIDATES) {
    const candidate = template.replaceAll('{P}', String(port));
    const verdict = validateReturnUrl(candidate, ['app.test']);
    const response = await page.goto(`${appOrigin}${route}?to=${encodeURIComponent(candidate)}`);
    const landed = new URL(page.url());
    if (verdict.ok) {
      accepted++;
      // Chromium and the validator agree on where the URL goes.
      if (landed.origin !== appOrigin || page.url() !== `${appOrigin}${verdict.target.path}`) outcomes.push(`${JSON.stringify(candidate)} landed on ${page.url()}`);
    } else if (response?.status() !== 400 || landed.origin !== appOrigin) {
      outcomes.push(`${JSON.stringify(candidate)} refused (${verdict.problem}) but the browser is on ${page.url()}`);
    }
  }
  expect(outcomes).toEqual([]);
  // The table has both kinds; the first eleven candidates are meant to pass.
  expect(accepted).toBe(11);
  // No request reached another host.
  expect(landings.slice(seenBefore).filter((l) => !l.startsWith(`app.test:${port}`))).toEqual([]);
  await page.close();
}, 120_000);

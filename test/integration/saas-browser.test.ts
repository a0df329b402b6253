import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import type { Page } from 'playwright-core';
import { createRootCa } from '../../src/pki/generate.js';
import { contextPerTest, prepareEdge, startEdgeStack, type EdgeStack } from '../helpers/browser-edge.js';
import { startOidcIdp, type OidcIdp } from '../helpers/oidc-idp.js';
import { tlsRequest } from '../helpers/tls-client.js';

// A SaaS app (node-saml as its SP) trusts bouncer as its SAML IdP. The browser
// starts at the SaaS app, signs in through bouncer behind a real Envoy with an
// upstream OIDC IdP, and lands in the SaaS app; the App Launcher shows each user
// exactly the apps their policies allow.
let dir: string;
let idp: OidcIdp;
let stack: EdgeStack;
let sp: Server;
let spBase: string;
let port: number;
let origin: string;

const SP_ENTITY = 'https://crm.example/sp';
let sharedCertBody: string;
let hrCertBody: string;
let edgeCaPem: string;
const pemBody = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');

beforeAll(async () => {
  const edge = await prepareEdge('saas');
  ({ dir, port, origin, edgeCaPem } = edge);
  idp = await startOidcIdp({
    clients: [{ client_id: 'bouncer', client_secret: 'idp-secret', redirect_uris: [`${origin}/callback/okta`] }],
    users: [
      { username: 'alice', email: 'alice@acme.test', name: 'Alice', groups: ['staff'] },
      { username: 'intern', email: 'intern@acme.test', name: 'Intern', groups: ['interns'] },
    ],
  });

  // The SaaS app: node-saml validating bouncer's responses with every check on.
  const samlSigning = await createRootCa({ commonName: 'bouncer SAML IdP', keyAlgorithm: 'rsa-2048', validDays: 30 });
  writeFileSync(join(dir, 'idp-cert.pem'), samlSigning.certPem);
  writeFileSync(join(dir, 'idp-key.pem'), samlSigning.keyPem, { mode: 0o600 });
  const hrSigning = await createRootCa({ commonName: 'bouncer SAML IdP for hr', keyAlgorithm: 'rsa-2048', validDays: 30 });
  writeFileSync(join(dir, 'hr-cert.pem'), hrSigning.certPem);
  writeFileSync(join(dir, 'hr-key.pem'), hrSigning.keyPem, { mode: 0o600 });
  sharedCertBody = pemBody(samlSigning.certPem);
  hrCertBody = pemBody(hrSigning.certPem);
  // Listen first on an ephemeral port, so no other process can take it in between.
  let saml: SAML | undefined;
  sp = createServer((req, res) => spHandler(saml, req, res));
  await new Promise<void>((r) => sp.listen(0, '127.0.0.1', r));
  spBase = `http://127.0.0.1:${(sp.address() as AddressInfo).port}`;
  saml = new SAML({
    entryPoint: `${origin}/saml/idp/crm/sso`,
    issuer: SP_ENTITY,
    audience: SP_ENTITY,
    callbackUrl: `${spBase}/acs`,
    idpCert: samlSigning.certPem,
    idpIssuer: `${origin}/saml/idp/crm/metadata`,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    // IdP-initiated logins (launcher tiles) carry no InResponseTo; SP-initiated ones must match.
    validateInResponseTo: ValidateInResponseTo.ifPresent,
  });

  const config = `auth:
  domain: auth.acme.test
  saml_idp: { cert_file: ./idp-cert.pem, key_file: ./idp-key.pem }
idps:
  - { id: okta, type: oidc, issuer: "${idp.issuer}", client_id: bouncer, client_secret_env: IDP_SECRET, scopes: [openid, email, profile, groups] }
apps:
  - name: wiki
    hostnames: [wiki.acme.test]
    idps: [okta]
    launcher: { display_name: Wiki }
    policies: [ { name: everyone-at-acme, action: allow, include: [ { email_domain: [acme.test] } ] } ]
saas_apps:
  - name: crm
    display_name: CRM
    idps: [okta]
    policies: [ { name: staff, action: allow, include: [ { group: [staff] } ] } ]
    saml:
      entity_id: ${SP_ENTITY}
      acs_urls: [${spBase}/acs]
  - name: hr
    idps: [okta]
    policies: [ { name: staff, action: allow, include: [ { group: [staff] } ] } ]
    saml:
      entity_id: https://hr.example/sp
      acs_urls: [https://hr.example/acs]
      signing: { cert_file: ./hr-cert.pem, key_file: ./hr-key.pem }
`;
  const env = { IDP_SECRET: 'idp-secret' };
  stack = await startEdgeStack(edge, config, env, { authPublicOrigin: origin });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await idp?.close();
  await new Promise<void>((r) => (sp ? sp.close(() => r()) : r()));
  rmSync(dir, { recursive: true, force: true });
});

/** The SaaS app: node-saml validating bouncer's responses with every check on. */
function spHandler(saml: SAML | undefined, req: IncomingMessage, res: ServerResponse): void {
  if (!saml) {
    res.writeHead(503, { 'content-type': 'text/plain' }).end('sp not ready');
    return;
  }
  const url = new URL(req.url ?? '/', spBase);
  if (url.pathname === '/login') {
    saml.getAuthorizeUrlAsync('from-sp', undefined, {}).then(
      (to) => res.writeHead(302, { location: to }).end(),
      (err: unknown) => res.writeHead(500).end(String(err)),
    );
    return;
  }
  if (url.pathname === '/acs' && req.method === 'POST') {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const form = Object.fromEntries(new URLSearchParams(body));
      saml.validatePostResponseAsync(form).then(
        ({ profile }) => res.writeHead(200, { 'content-type': 'text/html' }).end(`<p id="who">signed in to crm as ${profile?.nameID ?? '?'} relay=${form.RelayState ?? ''}</p>`),
        (err: unknown) => res.writeHead(403, { 'content-type': 'text/html' }).end(`<p id="who">refused: ${String(err)}</p>`),
      );
    });
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end(`sp: no route for ${req.method ?? ''} ${url.pathname}`);
}

async function signIn(page: Page, username: string): Promise<void> {
  // One IdP is allowed, so bouncer goes straight to it (no chooser).
  await page.waitForSelector('input[name=login]');
  await page.fill('input[name=login]', username);
  await page.click('#submit');
}

async function tiles(page: Page): Promise<string[]> {
  return (await page.locator('a.tile').allTextContents()).map((t) => t.trim().replace(/\s+/g, ' '));
}

describe('SaaS apps and the App Launcher in a real browser', () => {
  const ctx = contextPerTest(() => stack.browser);

  test('start at the SaaS app, sign in through bouncer, land in the SaaS app signed in', async () => {
    const page = await ctx().newPage();
    await page.goto(`${spBase}/login`);
    expect(new URL(page.url()).hostname).toBe('127.0.0.1');
    await signIn(page, 'alice');
    await page.waitForURL(`${spBase}/acs`, { timeout: 20_000 });
    expect(await page.textContent('#who')).toBe('signed in to crm as alice@acme.test relay=from-sp');
  });

  test('the launcher shows exactly the permitted apps, per user, and a tile logs into the SaaS app', async () => {
    const alice = await ctx().newPage();
    await alice.goto(`${origin}/`);
    await signIn(alice, 'alice');
    await alice.waitForURL(`${origin}/`);
    const aliceTiles = await tiles(alice);
    expect(aliceTiles.some((t) => t.includes('Wiki'))).toBe(true);
    expect(aliceTiles.some((t) => t.includes('CRM'))).toBe(true);
    expect(aliceTiles.some((t) => t.includes('HR'))).toBe(true);
    expect(aliceTiles).toHaveLength(3);

    const other = await stack.browser.newContext();
    try {
      const intern = await other.newPage();
      await intern.goto(`${origin}/`);
      await signIn(intern, 'intern');
      await intern.waitForURL(`${origin}/`);
      const internTiles = await tiles(intern);
      expect(internTiles).toHaveLength(1);
      expect(internTiles[0]).toContain('Wiki');
    } finally {
      await other.close();
    }

    // The CRM tile starts an IdP-initiated login into the SaaS app.
    await alice.locator('a.tile', { hasText: 'CRM' }).click();
    await alice.waitForURL(`${spBase}/acs`, { timeout: 20_000 });
    expect(await alice.textContent('#who')).toMatch(/^signed in to crm as alice@acme\.test/);
  });

  test('a SaaS app can have its own signing key; others use the shared one', async () => {
    const meta = async (app: string): Promise<string> =>
      (await tlsRequest({ port, ca: edgeCaPem, servername: 'auth.acme.test', path: `/saml/idp/${app}/metadata` })).body.replace(/\s+/g, '');
    const hr = await meta('hr');
    const crm = await meta('crm');
    expect(hr).toContain(hrCertBody);
    expect(hr).not.toContain(sharedCertBody);
    expect(crm).toContain(sharedCertBody);
  });

  test('a user the SaaS app policy excludes gets no assertion', async () => {
    const page = await ctx().newPage();
    await page.goto(`${spBase}/login`);
    await signIn(page, 'intern');
    await page.waitForLoadState();
    expect(new URL(page.url()).hostname).toBe('auth.acme.test');
    expect((await page.textContent('body')) ?? '').toMatch(/denied/i);
  });
});

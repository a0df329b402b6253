// bouncer as a SAML IdP, with @node-saml/node-saml 5.1 as the SaaS app (SP)
// validating every response: signature (pinned IdP certificate), audience,
// InResponseTo (from its own request cache), validity window with no clock skew
// allowance; Destination and Recipient, which node-saml does not check, are
// checked here on the XML. The login in between is real: the auth service
// against an oidc-provider process, cookies kept by hand as in auth-oidc.test.ts.
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { SAML, ValidateInResponseTo, type SamlConfig } from '@node-saml/node-saml';
import { fastify, type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import type { AuthConfig, SaasAppConfig, SaasSamlConfig } from '../../src/config/types.js';
import { compilePolicies, type CompiledPolicy } from '../../src/core/policy/index.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createAuthServer, type AuthServer } from '../../src/web/auth/server.js';
import type { IdpConnector } from '../../src/web/idp/connector.js';
import { createOidcConnector } from '../../src/web/idp/oidc.js';
import { readGlobalSession } from '../../src/web/oidc-provider/global-session.js';
import { generateSigning, registerSamlIdp, type SamlIdpSigning } from '../../src/web/saml-idp/index.js';
import { CookieJar, startOidcIdp, type OidcIdp, type OidcIdpUser } from '../helpers/oidc-idp.js';

const AUTH_ORIGIN = 'https://auth.acme.test';
const CLIENT = { client_id: 'bouncer', client_secret: 'bouncer-secret' };
const INJECTION = '</saml:AttributeValue><saml:Attribute Name="role">';
const USERS: OidcIdpUser[] = [
  { username: 'alice', email: 'alice@acme.test', name: 'Alice', groups: ['admins', 'staff'], amr: ['pwd', 'hwk'] },
  { username: 'bob', email: 'bob@acme.test', name: 'Bob', groups: ['staff'] },
  { username: 'eve', email: 'eve@acme.test', name: `Eve${INJECTION}admin`, groups: [INJECTION] },
];

function policies(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

const auth: AuthConfig = { domain: 'auth.acme.test', sessionDurationSec: 3600, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined, samlIdp: undefined };
const staffNotBob = policies([
  { name: 'staff', action: 'allow', include: [{ email_domain: ['acme.test'] }] },
  { name: 'no-bob', action: 'deny', include: [{ email: ['bob@acme.test'] }] },
]);

const samlBase: SaasSamlConfig = {
  entityId: 'https://crm.example/saml/metadata',
  acsUrls: ['https://crm.example/saml/acs', 'https://eu.crm.example/saml/acs'],
  nameIdFormat: 'emailAddress',
  nameIdSource: 'email',
  attributes: [
    { name: 'email', from: 'email' },
    { name: 'name', from: 'name' },
    { name: 'groups', from: 'groups' },
    { name: 'plan', value: 'enterprise' },
  ],
  sign: 'both',
  signatureAlgorithm: 'rsa-sha256',
  authnRequestsSigned: false,
  spCertPem: undefined,
};

function saasApp(name: string, saml: Partial<SaasSamlConfig> = {}): SaasAppConfig {
  return { name, displayName: name.toUpperCase(), logo: undefined, hidden: false, idps: ['okta'], sessionDurationSec: 1800, policies: staffNotBob, saml: { ...samlBase, ...saml }, oidc: undefined };
}

let idp: OidcIdp;
let keys: KeyStore;
let authServer: AuthServer;
let authPort: number;
let samlApp: FastifyInstance;
let samlPort: number;
let signing: SamlIdpSigning;
let spSigning: SamlIdpSigning;
let otherSigning: SamlIdpSigning;
let saasApps: SaasAppConfig[];
let now = Date.now();

beforeAll(async () => {
  idp = await startOidcIdp({ clients: [{ ...CLIENT, redirect_uris: [`${AUTH_ORIGIN}/callback/okta`] }], users: USERS });
  const connectors = new Map<string, IdpConnector>([
    ['okta', createOidcConnector({ id: 'okta', preset: 'okta', issuer: idp.issuer, clientId: CLIENT.client_id, clientSecret: CLIENT.client_secret, allowInsecureRequests: true })],
  ]);
  [signing, spSigning, otherSigning] = await Promise.all([generateSigning(auth.domain, Date.now()), generateSigning('crm.example', Date.now()), generateSigning('evil.test', Date.now())]);
  saasApps = [
    saasApp('crm'),
    saasApp('crm-signed', { authnRequestsSigned: true, spCertPem: spSigning.certPem, sign: 'assertion', signatureAlgorithm: 'rsa-sha512' }),
    saasApp('crm-response', { sign: 'response', nameIdFormat: 'persistent', nameIdSource: 'sub' }),
  ];
  keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: keyOverlapMs(3600), nowMs: Date.now() });
  const revocation = createMemoryRevocationStore();
  const config = (): { auth: AuthConfig; apps: []; saasApps: SaasAppConfig[] } => ({ auth, apps: [], saasApps });
  authServer = createAuthServer({ config, keys, revocation, connectors: () => connectors, logger: pino({ level: 'silent' }), clock: () => now, publicBaseUrl: AUTH_ORIGIN });
  authPort = await authServer.listen('127.0.0.1', 0);

  // The SAML routes on a listener of their own, with the auth service's form parser, until the lead mounts them there.
  samlApp = fastify();
  samlApp.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => done(null, new URLSearchParams(body as string)));
  registerSamlIdp(samlApp, {
    config,
    signing: () => signing,
    readSession: (headers, a, nowMs, log) => readGlobalSession(headers, a, { keys, revocation }, nowMs, log),
    clock: () => now,
    publicBaseUrl: AUTH_ORIGIN,
  });
  await samlApp.listen({ host: '127.0.0.1', port: 0 });
  samlPort = (samlApp.server.address() as { port: number }).port;
}, 30_000);

afterAll(async () => {
  await authServer?.close();
  await samlApp?.close();
  await idp?.close();
});

beforeEach(() => {
  now = Date.now();
});

/** One browser on the auth origin; /saml/* goes to the SAML listener, the rest to the auth service. */
class Browser {
  readonly jar = new CookieJar();

  async send(url: string | URL, init: { method?: string; form?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(url, AUTH_ORIGIN);
    if (u.origin !== AUTH_ORIGIN) throw new Error(`not the auth origin: ${u.href}`);
    const port = u.pathname.startsWith('/saml/') ? samlPort : authPort;
    const headers = new Headers();
    const cookie = this.jar.header();
    if (cookie !== '') headers.set('cookie', cookie);
    let body: string | undefined;
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(new URL(u.pathname + u.search, `http://127.0.0.1:${port}`), { method: init.method ?? 'GET', headers, body, redirect: 'manual' });
    this.jar.take(res);
    return res;
  }

  /** Follows redirects on the auth origin; an IdP authorize redirect is signed in as `user`. */
  async follow(res: Response, user: string): Promise<Response> {
    let r = res;
    for (let i = 0; i < 10 && r.status >= 300 && r.status < 400; i++) {
      const next = new URL(r.headers.get('location') ?? '', AUTH_ORIGIN);
      r = next.origin === idp.issuer ? await this.send(await idp.signIn(next.href, user)) : await this.send(next);
    }
    return r;
  }
}

/** The hidden fields and action of the auto-posting form (values unescaped as a browser would). */
function readForm(html: string): { action: string; fields: Record<string, string> } {
  const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const action = /<form method="post" action="([^"]*)"/.exec(html)?.[1];
  if (action === undefined) throw new Error(`no form in: ${html.slice(0, 500)}`);
  const fields: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields[unescape(m[1]!)] = unescape(m[2]!);
  return { action: unescape(action), fields };
}

function sp(app: string, o: Partial<SamlConfig> = {}): SAML {
  return new SAML({
    entryPoint: `${AUTH_ORIGIN}/saml/idp/${app}/sso`,
    issuer: samlBase.entityId,
    audience: samlBase.entityId,
    callbackUrl: samlBase.acsUrls[0]!,
    idpCert: signing.certPem,
    idpIssuer: `${AUTH_ORIGIN}/saml/idp/${app}/metadata`,
    wantAssertionsSigned: true,
    wantAuthnResponseSigned: true,
    validateInResponseTo: ValidateInResponseTo.always,
    acceptedClockSkewMs: 0,
    ...o,
  });
}

/** What must hold in every response whatever the SP library checks: Destination, Recipient, bearer, unique IDs. */
function checkEnvelope(samlResponse: string, acs: string, inResponseTo: string | undefined): string {
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  expect(xml.match(/<samlp:Response [^>]*Destination="([^"]*)"/)?.[1]).toBe(acs);
  expect(xml.match(/<saml:SubjectConfirmationData [^>]*Recipient="([^"]*)"/)?.[1]).toBe(acs);
  expect(xml).toContain('<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">');
  expect(xml.match(/<samlp:Response [^>]*InResponseTo="([^"]*)"/)?.[1]).toBe(inResponseTo);
  expect(xml.match(/<saml:SubjectConfirmationData [^>]*InResponseTo="([^"]*)"/)?.[1]).toBe(inResponseTo);
  const responseId = xml.match(/<samlp:Response [^>]*ID="([^"]*)"/)?.[1];
  const assertionId = xml.match(/<saml:Assertion [^>]*ID="([^"]*)"/)?.[1];
  expect(responseId).toMatch(/^_[0-9a-f]{40}$/);
  expect(assertionId).toMatch(/^_[0-9a-f]{40}$/);
  expect(assertionId).not.toBe(responseId);
  return xml;
}

async function signedInBrowser(user: string): Promise<Browser> {
  const b = new Browser();
  const res = await b.follow(await b.send(`/login?${new URLSearchParams({ app: 'crm', rd: `${AUTH_ORIGIN}/saml/idp/crm/init` })}`), user);
  expect(res.status).toBe(200);
  return b;
}

describe('SAML IdP: SP-initiated', () => {
  it('HTTP-Redirect: no session → login at the IdP → signed response node-saml accepts, RelayState kept', async () => {
    const crm = sp('crm');
    const authorize = new URL(await crm.getAuthorizeUrlAsync('relay-42/with?odd&chars', undefined, {}));
    const requestId = /ID="([^"]+)"/.exec(deflatedRequest(authorize))?.[1];
    const b = new Browser();
    const first = await b.send(authorize);
    expect(first.status).toBe(302);
    const login = new URL(first.headers.get('location')!, AUTH_ORIGIN);
    expect(login.pathname).toBe('/login');
    expect(login.searchParams.get('app')).toBe('crm');
    expect(login.searchParams.get('rd')).toMatch(/^https:\/\/auth\.acme\.test\/saml\/idp\/crm\/sso\?pending=[A-Za-z0-9_-]{43}$/);

    const page = await b.follow(first, 'alice');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'nonce-[A-Za-z0-9+/=]+'/);
    const html = await page.text();
    expect(html).toContain(`<script nonce="${/nonce-([A-Za-z0-9+/=]+)/.exec(csp)?.[1]}">`);
    const { action, fields } = readForm(html);
    expect(action).toBe(samlBase.acsUrls[0]);
    expect(fields.RelayState).toBe('relay-42/with?odd&chars');

    const xml = checkEnvelope(fields.SAMLResponse!, samlBase.acsUrls[0]!, requestId);
    expect(xml).toContain('<saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef>');
    const { profile } = await crm.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse!, RelayState: fields.RelayState! });
    expect(profile).toMatchObject({
      issuer: `${AUTH_ORIGIN}/saml/idp/crm/metadata`,
      nameID: 'alice@acme.test',
      nameIDFormat: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
      inResponseTo: requestId,
      email: 'alice@acme.test',
      name: 'Alice',
      groups: ['admins', 'staff'],
      plan: 'enterprise',
    });
    // node-saml keeps request IDs single-use: the same response cannot be replayed to it.
    await expect(crm.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! })).rejects.toThrow(/InResponseTo/);
  });

  it('a parked request resumes only in the browser that parked it (the link back is no sign-in for anyone else)', async () => {
    const crm = sp('crm');
    const authorize = new URL(await crm.getAuthorizeUrlAsync('r', undefined, {}));
    const insider = new Browser();
    const first = await insider.send(authorize);
    expect(first.headers.getSetCookie().some((c) => /^__Host-bouncer_bind=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; Secure; HttpOnly; SameSite=Lax$/.test(c))).toBe(true);
    const rd = new URL(new URL(first.headers.get('location')!, AUTH_ORIGIN).searchParams.get('rd')!);
    // Another signed-in browser opening the link back is refused, and the request stays parked.
    const victim = await signedInBrowser('alice');
    const refused = await victim.send(rd);
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('saml_request_unbound');
    // The browser that parked it completes it.
    const page = await insider.follow(first, 'alice');
    expect({ status: page.status, body: page.status === 200 ? '' : await page.text() }).toEqual({ status: 200, body: '' });
    expect(readForm(await page.text()).action).toBe(samlBase.acsUrls[0]);
  });

  it('HTTP-POST with a signed AuthnRequest naming the second ACS; RSA-SHA512, assertion signed', async () => {
    const acs = samlBase.acsUrls[1]!;
    // skipRequestCompression: plain base64 as SAML bindings §3.5.4 has it (node-saml deflates by default; that is accepted too, below).
    const crm = sp('crm-signed', { callbackUrl: acs, authnRequestBinding: 'HTTP-POST', skipRequestCompression: true, privateKey: spSigning.keyPem, signatureAlgorithm: 'sha256', wantAuthnResponseSigned: false });
    const b = await signedInBrowser('alice');
    const msg = (await crm.getAuthorizeMessageAsync('rs', undefined, {})) as Record<string, string>;
    const requestId = /ID="([^"]+)"/.exec(Buffer.from(msg.SAMLRequest!, 'base64').toString())?.[1];
    const page = await b.send('/saml/idp/crm-signed/sso', { method: 'POST', form: { SAMLRequest: msg.SAMLRequest!, RelayState: 'rs' } });
    expect(page.status).toBe(200);
    const { action, fields } = readForm(await page.text());
    expect(action).toBe(acs);
    expect(fields.RelayState).toBe('rs');
    const xml = checkEnvelope(fields.SAMLResponse!, acs, requestId);
    expect(xml).toContain('http://www.w3.org/2001/04/xmldsig-more#rsa-sha512');
    // sign: assertion → exactly one signature, inside the assertion.
    expect(xml.match(/<ds:Signature /g)).toHaveLength(1);
    const { profile } = await crm.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    expect(profile?.nameID).toBe('alice@acme.test');
  });

  it('HTTP-Redirect with a signed request to a signing-required app; sign: response, persistent NameID from sub', async () => {
    const signed = sp('crm-signed', { privateKey: spSigning.keyPem, signatureAlgorithm: 'sha256', wantAuthnResponseSigned: false });
    const b = await signedInBrowser('alice');
    const ok = await b.send(await signed.getAuthorizeUrlAsync('', undefined, {}));
    expect(ok.status).toBe(200);
    await signed.validatePostResponseAsync({ SAMLResponse: readForm(await ok.text()).fields.SAMLResponse! });

    const persistent = sp('crm-response', { wantAssertionsSigned: false });
    const res = await b.send(await persistent.getAuthorizeUrlAsync('', undefined, {}));
    const { fields } = readForm(await res.text());
    const xml = Buffer.from(fields.SAMLResponse!, 'base64').toString();
    expect(xml.match(/<ds:Signature /g)).toHaveLength(1);
    const { profile } = await persistent.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    expect(profile).toMatchObject({ nameID: 'okta:alice', nameIDFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' });
    // An SP expecting a signed assertion refuses this one: the signing mode is what was configured.
    await expect(sp('crm-response').validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! })).rejects.toThrow();
  });
});

describe('SAML IdP: IdP-initiated', () => {
  it('/init posts an unsolicited response to the first ACS that node-saml accepts; RelayState kept', async () => {
    const b = await signedInBrowser('alice');
    const res = await b.send(`/saml/idp/crm/init?${new URLSearchParams({ RelayState: '/reports/7' })}`);
    expect(res.status).toBe(200);
    const { action, fields } = readForm(await res.text());
    expect(action).toBe(samlBase.acsUrls[0]);
    expect(fields.RelayState).toBe('/reports/7');
    checkEnvelope(fields.SAMLResponse!, samlBase.acsUrls[0]!, undefined);
    const { profile } = await sp('crm', { validateInResponseTo: ValidateInResponseTo.ifPresent }).validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    expect(profile?.nameID).toBe('alice@acme.test');
    // An SP that only accepts answers to its own requests refuses it.
    await expect(sp('crm').validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! })).rejects.toThrow(/InResponseTo/);
  });

  it('without a session, /init goes through login and then issues', async () => {
    const b = new Browser();
    const res = await b.follow(await b.send('/saml/idp/crm/init'), 'alice');
    expect(res.status).toBe(200);
    const { fields } = readForm(await res.text());
    await sp('crm', { validateInResponseTo: ValidateInResponseTo.ifPresent }).validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
  });

  it('a response issued 6 minutes ago fails the SP time check', async () => {
    now = Date.now() - 6 * 60_000;
    const b = await signedInBrowser('alice');
    const res = await b.send('/saml/idp/crm/init');
    now = Date.now();
    const { fields } = readForm(await res.text());
    await expect(sp('crm', { validateInResponseTo: ValidateInResponseTo.ifPresent }).validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! })).rejects.toThrow(/expired|NotOnOrAfter/i);
  });
});

describe('SAML IdP: what is refused', () => {
  async function expectRefused(res: Response, code: string, status = 400): Promise<void> {
    const html = await res.text();
    expect({ status: res.status, reason: /<dt>Reason<\/dt><dd><code>([^<]*)<\/code>/.exec(html)?.[1] }).toEqual({ status, reason: code });
    expect(html).not.toContain('SAMLResponse');
    expect(res.headers.get('location')).toBeNull();
  }

  it('an AuthnRequest naming an unregistered ACS URL gets an error page, not a response to the default ACS', async () => {
    const b = await signedInBrowser('alice');
    const evil = sp('crm', { callbackUrl: 'https://evil.test/saml/acs' });
    await expectRefused(await b.send(await evil.getAuthorizeUrlAsync('', undefined, {})), 'saml_acs_not_registered');
    // Same over POST, and before login too (no detour through the IdP for a request that can never be answered).
    const msg = (await sp('crm', { callbackUrl: 'https://crm.example/saml/acs/' }).getAuthorizeMessageAsync('', undefined, {})) as Record<string, string>;
    await expectRefused(await new Browser().send('/saml/idp/crm/sso', { method: 'POST', form: { SAMLRequest: msg.SAMLRequest! } }), 'saml_acs_not_registered');
  });

  it('a user the policy excludes sees the deny page and gets no assertion', async () => {
    const b = new Browser();
    const authorize = await sp('crm').getAuthorizeUrlAsync('', undefined, {});
    const res = await b.follow(await b.send(authorize), 'bob');
    // /login runs the policy first: bob is stopped there, before returning to the SSO endpoint.
    expect(res.status).toBe(403);
    const html = await res.text();
    expect(html).toContain('no-bob');
    expect(html).not.toContain('SAMLResponse');
    // With a session (made for another purpose), the SSO endpoint denies him itself.
    const direct = await b.send(authorize);
    expect(direct.status).toBe(403);
    const page = await direct.text();
    expect(page).toContain('<code>no-bob</code>');
    expect(page).not.toContain('SAMLResponse');
  });

  it('unknown SP names, unsigned or wrongly signed requests when signing is required, wrong issuers', async () => {
    const b = await signedInBrowser('alice');
    expect((await b.send('/saml/idp/nope/metadata')).status).toBe(404);
    await expectRefused(await b.send(await sp('nope').getAuthorizeUrlAsync('', undefined, {})), 'saml_sp_unknown', 404);
    await expectRefused(await b.send(await sp('crm-signed').getAuthorizeUrlAsync('', undefined, {})), 'saml_request_unsigned');
    const wrongKey = sp('crm-signed', { privateKey: otherSigning.keyPem, signatureAlgorithm: 'sha256' });
    await expectRefused(await b.send(await wrongKey.getAuthorizeUrlAsync('', undefined, {})), 'saml_signature_invalid');
    const wrongKeyPost = sp('crm-signed', { authnRequestBinding: 'HTTP-POST', privateKey: otherSigning.keyPem, signatureAlgorithm: 'sha256' });
    const msg = (await wrongKeyPost.getAuthorizeMessageAsync('', undefined, {})) as Record<string, string>;
    await expectRefused(await b.send('/saml/idp/crm-signed/sso', { method: 'POST', form: { SAMLRequest: msg.SAMLRequest! } }), 'saml_signature_invalid');
    // A correctly signed request whose signature was made for other bytes (RelayState swapped).
    const good = new URL(await sp('crm-signed', { privateKey: spSigning.keyPem, signatureAlgorithm: 'sha256' }).getAuthorizeUrlAsync('a', undefined, {}));
    good.searchParams.set('RelayState', 'b');
    await expectRefused(await b.send(good), 'saml_signature_invalid');
    // Another SP's request sent to this app's endpoint.
    await expectRefused(await b.send(await sp('crm', { issuer: 'https://other.example/sp', entryPoint: `${AUTH_ORIGIN}/saml/idp/crm/sso` }).getAuthorizeUrlAsync('', undefined, {})), 'saml_issuer_mismatch');
  });

  it('malformed, DOCTYPE and oversized requests', async () => {
    const b = await signedInBrowser('alice');
    const redirect = (xml: string | Buffer): string => `/saml/idp/crm/sso?SAMLRequest=${encodeURIComponent(deflateRawSync(xml).toString('base64'))}`;
    const request = (extra = '', id = '_abc'): string =>
      `<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${id}" Version="2.0" IssueInstant="2024-01-01T00:00:00Z"><saml:Issuer>${samlBase.entityId}</saml:Issuer>${extra}</samlp:AuthnRequest>`;
    // The well-formed baseline is answered, so the refusals below are about what was changed.
    expect((await b.send(redirect(request()))).status).toBe(200);
    await expectRefused(await b.send(redirect(`<!DOCTYPE r [<!ENTITY x "y">]>${request()}`)), 'saml_request_malformed');
    await expectRefused(await b.send(redirect(`${request()}<x/>`)), 'saml_request_malformed');
    await expectRefused(await b.send(redirect(request('', '1-not-an-id'))), 'saml_request_malformed');
    await expectRefused(await b.send(redirect(request(`<!--${'x'.repeat(70_000)}-->`))), 'saml_request_too_large');
    // A deflate bomb: 10 MB of zeros in a few KB.
    await expectRefused(await b.send(redirect(Buffer.alloc(10_000_000))), 'saml_request_too_large');
    await expectRefused(await b.send('/saml/idp/crm/sso?SAMLRequest=%%%'), 'saml_request_malformed');
    await expectRefused(await b.send('/saml/idp/crm/sso'), 'saml_request_missing');
  });
});

describe('SAML IdP: attribute values cannot change the assertion', () => {
  it(`a name and a group containing ${INJECTION} reach the SP as exactly that text`, async () => {
    const b = new Browser();
    const crm = sp('crm');
    const res = await b.follow(await b.send(await crm.getAuthorizeUrlAsync('', undefined, {})), 'eve');
    const { fields } = readForm(await res.text());
    const { profile } = await crm.validatePostResponseAsync({ SAMLResponse: fields.SAMLResponse! });
    expect(profile?.name).toBe(`Eve${INJECTION}admin`);
    expect(profile?.groups).toBe(INJECTION);
    expect(profile).not.toHaveProperty('role');
    const xml = Buffer.from(fields.SAMLResponse!, 'base64').toString();
    expect(xml.match(/<saml:Attribute /g)).toHaveLength(4);
  });
});

describe('/login for a SaaS app', () => {
  it('accepts return URLs on the auth domain only, and returns there from the validated path', async () => {
    const b = await signedInBrowser('alice');
    const login = (rd: string): Promise<Response> => b.send(`/login?${new URLSearchParams({ app: 'crm', rd })}`);
    expect((await login('https://crm.example/saml/acs')).status).toBe(400);
    expect((await login('https://wiki.acme.test/')).status).toBe(400);
    const back = await login(`${AUTH_ORIGIN}/saml/idp/crm/sso?pending=x`);
    expect({ status: back.status, location: back.headers.get('location') }).toEqual({ status: 302, location: `${AUTH_ORIGIN}/saml/idp/crm/sso?pending=x` });
    // A path that a browser would read as another origin (`//evil.test/`, also via dot segments) is refused,
    // by the same validator as apps use.
    for (const rd of [`${AUTH_ORIGIN}//evil.test/x`, `${AUTH_ORIGIN}/a/..//evil.test/x`, `${AUTH_ORIGIN}/%2e%2e//evil.test/x`]) {
      const refused = await login(rd);
      expect({ rd, status: refused.status, location: refused.headers.get('location') }).toEqual({ rd, status: 400, location: null });
    }
  });
});

describe('SAML IdP metadata', () => {
  it('names the per-app entity ID, both SSO bindings and the signing certificate', async () => {
    const res = await new Browser().send('/saml/idp/crm/metadata');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/samlmetadata\+xml/);
    const xml = await res.text();
    expect(xml).toContain(`entityID="${AUTH_ORIGIN}/saml/idp/crm/metadata"`);
    expect(xml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${AUTH_ORIGIN}/saml/idp/crm/sso"`);
    expect(xml).toContain(`Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${AUTH_ORIGIN}/saml/idp/crm/sso"`);
    const der = signing.certPem.replace(/-----[^-]+-----|\s/g, '');
    expect(xml.replace(/\s/g, '')).toContain(der);
  });
});

function deflatedRequest(url: URL): string {
  return inflateRawSync(Buffer.from(url.searchParams.get('SAMLRequest')!, 'base64')).toString('utf8');
}

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import type { AppConfig, AuthConfig, SaasAppConfig } from '../../src/config/types.js';
import { compilePolicies } from '../../src/core/policy/index.js';
import { openKeyStore } from '../../src/sessions/key-store.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import { createAuthServer, type AuthServer } from '../../src/web/auth/server.js';
import type { IdpConnector } from '../../src/web/idp/connector.js';
import { createSamlConnector } from '../../src/web/idp/saml-sp.js';
import { loadSamlIdpSigning } from '../../src/web/saml-idp/signing.js';
import { packageRoot } from '../../src/paths.js';
import { startSamlIdp, type SamlIdp } from '../helpers/saml-idp.js';

// Every login-service URL the docs name (`https://<auth.domain>/...`) must answer
// as the docs say. The login service runs in-process with a real upstream SAML
// IdP (its own process) as a connector and a SAML SaaS app; the public URL has a
// port, as behind Envoy on 8443. A URL the docs add without an entry here fails.

const PUBLIC_URL = 'https://auth.acme.test:8443';
const auth: AuthConfig = { domain: 'auth.acme.test', publicUrl: PUBLIC_URL, sessionDurationSec: 3600, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined, samlIdp: undefined };
const everyone = (() => {
  const r = compilePolicies([{ name: 'everyone', action: 'allow', include: [{ everyone: true }] }]);
  if (!r.ok) throw new Error('policy');
  return r.policies;
})();
const apps: AppConfig[] = [{ name: 'wiki', hostnames: ['wiki.acme.test'], idps: ['corp'], sessionDurationSec: 3600, apiPaths: [], policies: everyone, launcher: { hidden: false, displayName: 'Wiki', logo: undefined, url: undefined } }];
const saasApps: SaasAppConfig[] = [
  {
    name: 'crm',
    displayName: 'CRM',
    logo: undefined,
    hidden: false,
    idps: ['corp'],
    sessionDurationSec: 3600,
    policies: everyone,
    saml: { entityId: 'https://crm.example/sp', acsUrls: ['https://crm.example/acs'], nameIdFormat: 'emailAddress', nameIdSource: 'email', attributes: [], sign: 'both', signatureAlgorithm: 'rsa-sha256', authnRequestsSigned: false, spCertPem: undefined },
    oidc: undefined,
  },
];

let idp: SamlIdp;
let server: AuthServer;
let base: string;

beforeAll(async () => {
  idp = await startSamlIdp();
  const nowMs = Date.now();
  const keys = await openKeyStore({ dir: undefined, rotateAfterDays: 30, overlapMs: 3_600_000, nowMs });
  const signing = await loadSamlIdpSigning(auth, nowMs);
  const connectors = new Map<string, IdpConnector>([['corp', createSamlConnector({ id: 'corp', metadataXml: idp.metadataXml, entityId: 'https://auth.acme.test/saml/corp' })]]);
  server = createAuthServer({
    config: () => ({ auth, apps, saasApps }),
    keys,
    revocation: createMemoryRevocationStore(),
    connectors: () => connectors,
    logger: pino({ level: 'silent' }),
    clock: Date.now,
    saas: { samlSigning: () => signing },
  });
  base = `http://127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
}, 60_000);

afterAll(async () => {
  await server?.close();
  await idp?.close();
});

/** `https://<auth.domain>/...` URLs named anywhere in docs/ and README.md. */
function documentedUrls(): string[] {
  const root = packageRoot();
  const files = [...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f)), join(root, 'README.md')];
  const found = new Set<string>();
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/https:\/\/<auth\.domain>(\/[^`\s)"\],]*)/g)) found.add(m[1]!);
  return [...found].sort();
}

interface Expectation {
  /** The concrete request for the documented template. */
  readonly path: string;
  readonly status: number;
  readonly type?: RegExp;
  readonly check?: (body: string, headers: Headers) => void;
}

const ROUTES: Readonly<Record<string, Expectation | 'identifier'>> = {
  // The App Launcher: without a session, the launcher's sign-in.
  '/': { path: '/', status: 302, check: (_b, h) => expect(h.get('location')).toBe('/login?launcher=1') },
  '/.well-known/jwks.json': { path: '/.well-known/jwks.json', status: 200, type: /^application\/json/, check: (b) => expect((JSON.parse(b) as { keys: unknown[] }).keys.length).toBeGreaterThan(0) },
  // The IdP's answer lands here; a GET without a sign-in started in this browser is refused as such.
  '/callback/<id>': { path: '/callback/corp', status: 400, type: /^text\/html/, check: (b) => expect(b).toContain('login_state_mismatch') },
  '/logout': { path: '/logout', status: 200, type: /^text\/html/ },
  '/me': { path: '/me', status: 401, type: /^application\/json/, check: (b) => expect(JSON.parse(b)).toMatchObject({ error: 'login_required' }) },
  // The default SP entity ID of an upstream SAML IdP: a name, not an endpoint.
  '/saml/<id>': 'identifier',
  '/saml/<id>/metadata': {
    path: '/saml/corp/metadata',
    status: 200,
    type: /^application\/samlmetadata\+xml/,
    check: (b) => {
      expect(b).toMatch(/<(\w+:)?EntityDescriptor[^>]*entityID="https:\/\/auth\.acme\.test\/saml\/corp"/);
      expect(b).toMatch(/<(\w+:)?SPSSODescriptor[^>]*WantAssertionsSigned="true"/);
      expect(b).toMatch(/AssertionConsumerService[^>]*Binding="urn:oasis:names:tc:SAML:2\.0:bindings:HTTP-POST"[^>]*Location="https:\/\/auth\.acme\.test:8443\/callback\/corp"/);
    },
  },
  '/saml/idp/<name>/init': { path: '/saml/idp/crm/init', status: 302, check: (_b, h) => expect(h.get('location')).toMatch(/^\/login\?app=crm&rd=/) },
  '/saml/idp/<name>/metadata': { path: '/saml/idp/crm/metadata', status: 200, type: /^application\/samlmetadata\+xml/, check: (b) => expect(b).toContain('IDPSSODescriptor') },
  '/saml/idp/<name>/sso': { path: '/saml/idp/crm/sso', status: 400, type: /^text\/html/, check: (b) => expect(b).toContain('saml_request_missing') },
};

test('the docs name login-service URLs, and each has an expectation here', () => {
  const documented = documentedUrls();
  expect(documented).toContain('/saml/<id>/metadata');
  expect(documented.filter((p) => !(p in ROUTES))).toEqual([]);
});

test.each(Object.entries(ROUTES).filter((e): e is [string, Expectation] => e[1] !== 'identifier'))('%s answers as documented', async (_template, e) => {
  const res = await fetch(`${base}${e.path}`, { redirect: 'manual', headers: { accept: 'text/html' } });
  const body = await res.text();
  expect({ path: e.path, status: res.status }).toEqual({ path: e.path, status: e.status });
  if (e.type) expect(res.headers.get('content-type')).toMatch(e.type);
  e.check?.(body, res.headers);
});

test('an id that is not a SAML IdP has no SP metadata', async () => {
  expect((await fetch(`${base}/saml/nope/metadata`)).status).toBe(404);
});

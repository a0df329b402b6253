// The admin API against a real PostgreSQL tenant store and audit table: auth
// (401/403), every kind of bad input (4xx with a specific code and message),
// the tenant operations, revocation, decision and audit queries, config views
// without secrets, and the OpenAPI document (validated by a real validator).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { validate } from '@readme/openapi-parser';
import { TENANT_LIMITS } from '../../src/config/defaults.js';
import { compilePolicies } from '../../src/core/policy/index.js';
import type { AdminConfigView } from '../../src/admin/routes/config-views.js';
import { toOpenApiPath } from '../../src/admin/openapi.js';
import { DAY, NOW, makeCrl, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { TEST_TOKENS, startTestAdmin, type TestAdmin } from '../helpers/admin-server.js';

let admin: TestAdmin;
let root: TestCert;
let root2: TestCert;
let expired: TestCert;
let leaf: TestCert;

const policies = compilePolicies([
  { name: 'staff', action: 'allow', include: [{ email_domain: ['acme.example'] }, { ip: ['10.0.0.0/8'] }], require: [{ amr: ['mfa'] }] },
  { name: 'robots', action: 'service_auth', include: [{ service_token: ['ci-bot'] }] },
]);
if (!policies.ok) throw new Error('test policies do not compile');

const config: AdminConfigView = {
  apps: [
    {
      name: 'wiki',
      hostnames: ['wiki.acme.example'],
      idps: ['okta'],
      sessionDurationSec: 3600,
      apiPaths: ['/api/*'],
      policies: policies.policies,
      launcher: { hidden: false, displayName: 'Wiki', logo: undefined, url: undefined },
    },
  ],
  saasApps: [],
  idps: [
    { id: 'okta', type: 'oidc', preset: 'okta', issuer: 'https://acme.okta.example', clientId: 'client-123', clientSecret: 'SUPER-SECRET-CLIENT', scopes: ['openid'], groupsClaim: 'groups', idTokenSigningAlgs: ['RS256'] },
    { id: 'corp', type: 'saml', metadataXml: '<EntityDescriptor/>', entityId: 'https://idp.corp.example' },
  ],
  serviceTokens: [{ id: 'ci-bot', clientId: 'ci-bot.acme', secretSha256: 'ab'.repeat(32) }],
};

beforeAll(async () => {
  [root, root2, expired] = await Promise.all([
    makeRoot('CN=Acme Root'),
    makeRoot('CN=Acme Root 2'),
    makeRoot('CN=Old Root', { notBefore: NOW - 800 * DAY, notAfter: NOW - DAY }),
  ]);
  leaf = await makeLeaf('CN=device', root);
  admin = await startTestAdmin({ config });
});

afterAll(async () => {
  await admin?.close();
});

const acme = () => ({ name: 'acme', hostnames: ['pay.acme.example', '*.api.acme.example'], mtls: { ca_pem: root.pem } });

describe('authentication and scopes', () => {
  it('refuses a request without a token with 401, WWW-Authenticate: Bearer, and the error shape', async () => {
    const r = await admin.call('GET', '/v1/tenants', { token: null });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe('Bearer realm="bouncer-admin"');
    expect(r.body).toEqual({ error: 'ERR_ADMIN_UNAUTHENTICATED', message: expect.stringContaining('Authorization: Bearer') as unknown, request_id: r.headers.get('x-request-id') });
  });

  it('refuses an unknown or malformed token with invalid_token', async () => {
    for (const authorization of ['Bearer not-a-configured-token', 'Basic dXNlcjpwYXNz', 'Bearer', 'Bearer two words']) {
      const res = await fetch(`${admin.url}/v1/tenants`, { headers: { authorization } });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="bouncer-admin", error="invalid_token"');
      expect(((await res.json()) as { error: string }).error).toBe('ERR_ADMIN_UNAUTHENTICATED');
    }
    expect(admin.logLines.some((l) => l.msg === 'admin API: authentication failed' && l.reason === 'unknown')).toBe(true);
  });

  it('accepts the scheme in any case', async () => {
    const res = await fetch(`${admin.url}/v1/whoami`, { headers: { authorization: `bearer test-token-reader-0123456789abcdef` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id: 'reader', scopes: ['tenants:read'] });
  });

  // Every operation, with the one scope it needs: any other token gets 403 naming that scope; `admin` passes.
  // Rows always have four items: jest.each takes a test function with more parameters than the row for a done-callback test.
  const needs: Array<[string, string, string, unknown]> = [
    ['GET', '/v1/tenants', 'tenants:read', undefined],
    ['GET', '/v1/tenants/nobody', 'tenants:read', undefined],
    ['POST', '/v1/tenants', 'tenants:write', { name: 'x', hostnames: ['x.example'], mtls: { mode: 'off' } }],
    ['PUT', '/v1/tenants/x', 'tenants:write', { hostnames: ['x.example'], mtls: { mode: 'off' } }],
    ['DELETE', '/v1/tenants/x', 'tenants:write', undefined],
    ['POST', '/v1/tenants/x/hostnames', 'tenants:write', { hostname: 'y.example' }],
    ['DELETE', '/v1/tenants/x/hostnames/y.example', 'tenants:write', undefined],
    ['PUT', '/v1/tenants/x/ca', 'tenants:write', { ca_pem: 'x' }],
    ['PUT', '/v1/tenants/x/crls', 'tenants:write', { crl_pems: [] }],
    ['PATCH', '/v1/tenants/x/mtls', 'tenants:write', { mode: 'off' }],
    ['POST', '/v1/revocations/sessions', 'sessions:revoke', { sid: 's1' }],
    ['POST', '/v1/revocations/users', 'sessions:revoke', { sub: 'u1' }],
    ['GET', '/v1/decisions', 'decisions:read', undefined],
    ['GET', '/v1/audit', 'audit:read', undefined],
    ['GET', '/v1/apps', 'config:read', undefined],
    ['GET', '/v1/policies', 'config:read', undefined],
    ['GET', '/v1/idps', 'config:read', undefined],
    ['GET', '/v1/service-tokens', 'config:read', undefined],
    ['GET', '/v1/admin-tokens', 'config:read', undefined],
    ['POST', '/v1/access/explain', 'config:read', { host: 'wiki.acme.example' }],
  ];

  it.each(needs)('%s %s needs %s', async (method, path, scope, body) => {
    for (const [id, scopes] of Object.entries(TEST_TOKENS)) {
      if (scopes.includes('admin') || scopes.includes(scope as never)) continue;
      const r = await admin.call(method, path, { token: id, ...(body !== undefined ? { body } : {}) });
      expect(r.status).toBe(403);
      expect(r.body.error).toBe('ERR_ADMIN_FORBIDDEN');
      expect(r.body.message).toContain(`lacks scope '${scope}'`);
      expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="bouncer-admin", error="insufficient_scope", scope="${scope}"`);
    }
  });

  it('every documented operation except the public ones requires a token', async () => {
    for (const [path, item] of Object.entries(admin.server.openapi.paths as Record<string, Record<string, { security: unknown[] }>>)) {
      for (const [method, op] of Object.entries(item)) {
        const concrete = path.replace(/\{[^}]+\}/g, 'x');
        const r = await admin.call(method.toUpperCase(), concrete, { token: null });
        if (op.security.length === 0) expect(r.status).not.toBe(401);
        else expect(r.status).toBe(401);
      }
    }
  });
});

describe('tenants', () => {
  it('creates a tenant with a real CA (201), normalising hostnames, and reads it back with its CA decoded', async () => {
    const r = await admin.call('POST', '/v1/tenants', { token: 'writer', body: acme() });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ tenant: { name: 'acme', hostnames: ['*.api.acme.example', 'pay.acme.example'], mtls: { mode: 'require', ca_pem: root.pem, crl_pems: [] }, version: 1 }, warnings: [] });
    const show = await admin.call('GET', '/v1/tenants/acme', { token: 'reader' });
    expect(show.status).toBe(200);
    expect(show.body.ca_certificates).toEqual([
      expect.objectContaining({ subject: 'CN=Acme Root', fingerprint256: root.cert.fingerprint256, not_after: new Date(root.cert.notAfter).toISOString() }),
    ]);
    // The store serves it to the decision path at once.
    const found = await admin.store.resolveHost('pay.acme.example');
    expect(found.kind).toBe('tenant');
  });

  it('refuses to create a tenant that exists (409 ERR_TENANT_EXISTS) and replaces it with PUT', async () => {
    const again = await admin.call('POST', '/v1/tenants', { body: acme() });
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('ERR_TENANT_EXISTS');
    const put = await admin.call('PUT', '/v1/tenants/acme', { body: { hostnames: ['pay.acme.example', '*.api.acme.example'], mtls: { ca_pem: root.pem, exempt_paths: ['/healthz'] } } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ tenant: { version: 2, mtls: { exempt_paths: ['/healthz'] } } });
    const created = await admin.call('PUT', '/v1/tenants/beta', { body: { hostnames: ['beta.example'], mtls: { mode: 'off' } } });
    expect(created.status).toBe(201);
    const renamed = await admin.call('PUT', '/v1/tenants/beta', { body: { name: 'gamma', hostnames: ['beta.example'] } });
    expect(renamed).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST', field: 'body.name' } });
  });

  it('lists tenants a page at a time (keyset pagination)', async () => {
    const first = await admin.call('GET', '/v1/tenants?limit=1');
    expect(first.body).toEqual({ items: [{ name: 'acme', hostnames: ['*.api.acme.example', 'pay.acme.example'], mode: 'require', version: 2 }], next: 'acme' });
    const second = await admin.call('GET', '/v1/tenants?limit=1&after=acme');
    expect(second.body).toEqual({ items: [{ name: 'beta', hostnames: ['beta.example'], mode: 'off', version: 1 }] });
  });

  it('adds and removes hostnames; a hostname of another tenant is 409, an unknown tenant or hostname 404', async () => {
    const add = await admin.call('POST', '/v1/tenants/acme/hostnames', { body: { hostname: 'Shop.Acme.Example.' } });
    expect(add.status).toBe(200);
    expect((add.body.tenant as { hostnames: string[] }).hostnames).toContain('shop.acme.example');
    const taken = await admin.call('POST', '/v1/tenants/beta/hostnames', { body: { hostname: 'shop.acme.example' } });
    expect(taken.status).toBe(409);
    expect(taken.body).toMatchObject({ error: 'ERR_HOSTNAME_TAKEN', message: "hostnames: 'shop.acme.example' already belongs to tenant 'acme'; remove it there first" });
    const dup = await admin.call('POST', '/v1/tenants', { body: { name: 'copycat', hostnames: ['pay.acme.example'], mtls: { mode: 'off' } } });
    expect(dup).toMatchObject({ status: 409, body: { error: 'ERR_HOSTNAME_TAKEN' } });
    const remove = await admin.call('DELETE', '/v1/tenants/acme/hostnames/shop.acme.example');
    expect(remove.status).toBe(200);
    expect((remove.body.tenant as { hostnames: string[] }).hostnames).not.toContain('shop.acme.example');
    expect(await admin.call('DELETE', '/v1/tenants/acme/hostnames/nope.acme.example')).toMatchObject({ status: 404, body: { error: 'ERR_HOSTNAME_NOT_FOUND', field: 'params.hostname' } });
    expect(await admin.call('POST', '/v1/tenants/nobody/hostnames', { body: { hostname: 'n.example' } })).toMatchObject({ status: 404, body: { error: 'ERR_TENANT_NOT_FOUND' } });
    expect(await admin.call('GET', '/v1/tenants/nobody')).toMatchObject({ status: 404, body: { error: 'ERR_TENANT_NOT_FOUND', message: "no tenant named 'nobody'", field: 'params.name' } });
    const last = await admin.call('DELETE', '/v1/tenants/beta/hostnames/beta.example');
    expect(last).toMatchObject({ status: 400, body: { error: 'ERR_TENANT_INVALID', message: expect.stringContaining('delete the tenant instead') as unknown } });
  });

  it('checks CA uploads: garbage, a non-CA certificate, an expired CA each get 400 ERR_CA_INVALID with a clear message', async () => {
    const cases: Array<[string, RegExp]> = [
      ['not a certificate at all', /no PEM certificate found; expected PEM blocks starting with -----BEGIN CERTIFICATE-----/],
      ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /mtls\.ca_pem: /],
      [leaf.pem, /certificate "CN=device" .*CA/i],
      [expired.pem, /certificate "CN=Old Root" .*expired/i],
    ];
    for (const [pem, message] of cases) {
      const r = await admin.call('PUT', '/v1/tenants/acme/ca', { body: { ca_pem: pem } });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('ERR_CA_INVALID');
      expect(r.body.field).toBe('body.ca_pem');
      expect(r.body.message).toMatch(message);
      const created = await admin.call('POST', '/v1/tenants', { body: { name: 'bad-ca', hostnames: ['bad.example'], mtls: { ca_pem: pem } } });
      expect(created).toMatchObject({ status: 400, body: { error: 'ERR_CA_INVALID', field: 'body.mtls.ca_pem' } });
    }
    expect((await admin.call('GET', '/v1/tenants/bad-ca')).status).toBe(404);
    const mtlsOn = await admin.call('POST', '/v1/tenants', { body: { name: 'no-ca', hostnames: ['noca.example'] } });
    expect(mtlsOn).toMatchObject({ status: 400, body: { error: 'ERR_TENANT_INVALID', message: expect.stringContaining('mtls.ca_pem: is required when mode is require') as unknown } });
  });

  it('replaces the CA bundle, keeping hostnames and settings', async () => {
    const r = await admin.call('PUT', '/v1/tenants/acme/ca', { token: 'writer', body: { ca_pem: root2.pem } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: { name: 'acme', hostnames: ['*.api.acme.example', 'pay.acme.example'], mtls: { ca_pem: root2.pem, exempt_paths: ['/healthz'] } } });
  });

  it('accepts a rotation bundle with an expired old root, with a warning, and shows the tenant as degraded with the reason', async () => {
    const created = await admin.call('POST', '/v1/tenants', { body: { name: 'rotor', hostnames: ['rotor.example'], mtls: { ca_pem: expired.pem + root.pem } } });
    expect(created.status).toBe(201);
    expect(created.body.warnings).toEqual([expect.stringMatching(/^mtls\.caPem: certificate "CN=Old Root" expired on .*; it is set aside and the bundle's other 1 usable CA certificate\(s\) are used$/)]);
    const shown = await admin.call('GET', '/v1/tenants/rotor');
    expect(shown.status).toBe(200);
    expect(shown.body.trust).toEqual({ status: 'degraded', problems: [{ code: 'ca_expired', message: expect.stringContaining('certificate "CN=Old Root" expired on') }] });
    expect((await admin.call('GET', '/v1/tenants/acme')).body.trust).toEqual({ status: 'ok', problems: [] });
    expect((await admin.call('DELETE', '/v1/tenants/rotor')).status).toBe(204);
  });

  it('replaces CRLs: a CRL of the tenant CA is accepted, one not signed by it is ERR_CRL_INVALID, garbage too', async () => {
    const good = await makeCrl({ issuer: root2, revoked: [leaf.cert] });
    const ok = await admin.call('PUT', '/v1/tenants/acme/crls', { body: { crl_pems: [good.pem] } });
    expect(ok.status).toBe(200);
    expect((ok.body.tenant as { mtls: { crl_pems: string[] } }).mtls.crl_pems).toEqual([good.pem]);
    const forged = await makeCrl({ issuer: root2, signingKeys: root.keys });
    expect(await admin.call('PUT', '/v1/tenants/acme/crls', { body: { crl_pems: [forged.pem] } })).toMatchObject({ status: 400, body: { error: 'ERR_CRL_INVALID', field: 'body.crl_pems[0]' } });
    expect(await admin.call('PUT', '/v1/tenants/acme/crls', { body: { crl_pems: ['garbage'] } })).toMatchObject({ status: 400, body: { error: 'ERR_CRL_INVALID' } });
    expect((await admin.call('PUT', '/v1/tenants/acme/crls', { body: { crl_pems: [] } })).status).toBe(200);
  });

  it('changes the mTLS mode: off drops the CA with a warning; back on needs a CA', async () => {
    const off = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { mode: 'off' } });
    expect(off.status).toBe(200);
    expect(off.body).toMatchObject({ tenant: { mtls: { mode: 'off', ca_pem: null } }, warnings: [expect.stringContaining('CA bundle') as unknown] });
    const onWithout = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { mode: 'require' } });
    expect(onWithout).toMatchObject({ status: 400, body: { error: 'ERR_TENANT_INVALID', field: 'body.ca_pem' } });
    const caWhileOff = await admin.call('PUT', '/v1/tenants/acme/ca', { body: { ca_pem: root.pem } });
    expect(caWhileOff).toMatchObject({ status: 400, body: { error: 'ERR_TENANT_INVALID', message: expect.stringContaining('mode is off') as unknown } });
    const on = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { mode: 'optional', ca_pem: root.pem, stale_crl: 'use' } });
    expect(on).toMatchObject({ status: 200, body: { tenant: { mtls: { mode: 'optional', ca_pem: root.pem, stale_crl: 'use', exempt_paths: ['/healthz'] } } } });
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: {} })).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST', message: 'body: give at least one field to change' } });
  });

  it("sets, reads back and removes mtls.revocation with the config file's keys and rules", async () => {
    const set = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: { ocsp: 'require', ocsp_url: 'http://ocsp.acme.example/', crl: 'prefer' } } });
    const expected = { ocsp: 'require', ocsp_url: 'http://ocsp.acme.example/', ocsp_nonce: true, crl: 'prefer', crl_urls: [], crl_distribution_points: true };
    expect(set).toMatchObject({ status: 200, body: { tenant: { mtls: { mode: 'optional', revocation: expected } } } });
    expect((await admin.call('GET', '/v1/tenants/acme')).body).toMatchObject({ mtls: { revocation: expected }, trust: { status: 'ok' } });
    // A partial update of something else keeps it.
    expect((await admin.call('PUT', '/v1/tenants/acme/ca', { body: { ca_pem: root.pem } })).body).toMatchObject({ tenant: { mtls: { revocation: expected } } });
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: { ocsp_url: 'ftp://ocsp.acme.example/' } } })).toMatchObject({
      status: 400,
      body: { error: 'ERR_TENANT_INVALID', field: 'body.revocation.ocsp_url', message: expect.stringContaining('must be an http:// or https:// URL') as unknown },
    });
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: { crl: 'require', crl_distribution_points: false } } })).toMatchObject({
      status: 400,
      body: { error: 'ERR_TENANT_INVALID', message: expect.stringContaining('list crl_urls or set crl_distribution_points: true') as unknown },
    });
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: { ocsp: 'sometimes' } } })).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST' } });
    const removed = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: null } });
    expect(removed).toMatchObject({ status: 200, body: { tenant: { mtls: { revocation: null } } } });
  });

  it("sets, reads back and removes mtls.certificate_policies and revocation intermediates with the config file's keys and rules", async () => {
    const set = await admin.call('PATCH', '/v1/tenants/acme/mtls', {
      body: { certificate_policies: { accept: ['1.3.6.1.4.1.99999.1.2', 'anyPolicy', '1.3.6.1.4.1.99999.1.2'], explicit: true }, revocation: { ocsp: 'prefer', intermediates: true } },
    });
    const policies = { accept: ['1.3.6.1.4.1.99999.1.2', '2.5.29.32.0'], explicit: true, inhibit_mapping: false, inhibit_any: false };
    expect(set).toMatchObject({ status: 200, body: { tenant: { mtls: { certificate_policies: policies, revocation: { ocsp: 'prefer', intermediates: true } } } } });
    expect((await admin.call('GET', '/v1/tenants/acme')).body).toMatchObject({ mtls: { certificate_policies: policies, revocation: { intermediates: true } }, trust: { status: 'ok' } });
    // A partial update of something else keeps them.
    expect((await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { stale_crl: 'deny' } })).body).toMatchObject({ tenant: { mtls: { certificate_policies: policies } } });
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { certificate_policies: { accept: ['1.02.3'] } } })).toMatchObject({
      status: 400,
      body: { error: 'ERR_TENANT_INVALID', field: 'body.certificate_policies.accept[0]', message: expect.stringContaining('certificate policy OID in dotted form') as unknown },
    });
    // The schema refuses what it can say itself: an empty list, a flag of the wrong type, an unknown key.
    for (const bad of [{ accept: [] }, { explicit: 'yes' }, { inhibit: true }, { accept: Array.from({ length: 65 }, (_, i) => `1.2.${i}`) }]) {
      expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { certificate_policies: bad } })).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST' } });
    }
    expect(await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { revocation: { ocsp: 'prefer', intermediates: 'yes' } } })).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST' } });
    const removed = await admin.call('PATCH', '/v1/tenants/acme/mtls', { body: { certificate_policies: null, revocation: null } });
    expect(removed).toMatchObject({ status: 200, body: { tenant: { mtls: { certificate_policies: null, revocation: null } } } });
  });

  it('deletes a tenant (204), then it is 404', async () => {
    const r = await admin.call('DELETE', '/v1/tenants/beta', { token: 'writer' });
    expect(r.status).toBe(204);
    expect(await admin.call('DELETE', '/v1/tenants/beta')).toMatchObject({ status: 404, body: { error: 'ERR_TENANT_NOT_FOUND' } });
  });
});

describe('bad input gets a 4xx with a specific code and message', () => {
  const cases: Array<[string, string, string, { rawBody?: string; body?: unknown; contentType?: string }, number, string, string | RegExp]> = [
    ['bad JSON', 'POST', '/v1/tenants', { rawBody: '{"name": "x",' }, 400, 'ERR_ADMIN_BAD_JSON', /^the request body is not valid JSON: /],
    ['empty JSON body', 'POST', '/v1/tenants', { rawBody: '' }, 400, 'ERR_ADMIN_BAD_JSON', /empty/],
    ['prototype pollution', 'POST', '/v1/tenants', { rawBody: '{"__proto__": {"x": 1}, "name": "p", "hostnames": ["p.example"]}' }, 400, 'ERR_ADMIN_BAD_JSON', /prototype/],
    ['not an object', 'POST', '/v1/tenants', { body: ['acme'] }, 400, 'ERR_ADMIN_BAD_REQUEST', 'body: must be an object; got a list'],
    ['hostnames of the wrong type', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: 'x.example' } }, 400, 'ERR_ADMIN_BAD_REQUEST', 'body.hostnames: must be a list; got a string'],
    ['a hostname of the wrong type', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: ['a.example', 7] } }, 400, 'ERR_ADMIN_BAD_REQUEST', 'body.hostnames[1]: must be a string; got a whole number'],
    ['a number given as a string is not coerced', 'POST', '/v1/revocations/sessions', { body: { sid: 5 } }, 400, 'ERR_ADMIN_BAD_REQUEST', 'body.sid: must be a string; got a whole number'],
    ['unknown field, with a suggestion', 'POST', '/v1/tenants', { body: { name: 'x', hostname: ['x.example'] } }, 400, 'ERR_ADMIN_BAD_REQUEST', "body: unknown field 'hostname' (did you mean 'hostnames'?); expected name, hostnames, mtls"],
    ['unknown nested field', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: ['x.example'], mtls: { mode: 'off', ca: 'x' } } }, 400, 'ERR_ADMIN_BAD_REQUEST', /^body\.mtls: unknown field 'ca'/],
    ['missing field', 'POST', '/v1/tenants', { body: { hostnames: ['x.example'] } }, 400, 'ERR_ADMIN_BAD_REQUEST', 'body.name is required'],
    ['bad enum', 'PATCH', '/v1/tenants/acme/mtls', { body: { mode: 'strict' } }, 400, 'ERR_ADMIN_BAD_REQUEST', "body.mode: must be one of require, optional, off; got 'strict'"],
    ['invalid tenant name', 'POST', '/v1/tenants', { body: { name: 'Acme!', hostnames: ['x.example'], mtls: { mode: 'off' } } }, 400, 'ERR_TENANT_INVALID', /name must be 1 to 63 characters/],
    ['invalid hostname', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: ['pay.acme.example:8443'], mtls: { mode: 'off' } } }, 400, 'ERR_TENANT_INVALID', /hostnames\[0\]/],
    ['empty hostnames', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: [] } }, 400, 'ERR_ADMIN_BAD_REQUEST', /body\.hostnames: must NOT have fewer than 1 items/],
    ['too many hostnames', 'POST', '/v1/tenants', { body: { name: 'x', hostnames: Array.from({ length: TENANT_LIMITS.maxHostnames + 1 }, (_, i) => `h${i}.example`) } }, 400, 'ERR_ADMIN_BAD_REQUEST', /body\.hostnames: must NOT have more than 1000 items/],
    ['bad query number', 'GET', '/v1/tenants?limit=ten', {}, 400, 'ERR_ADMIN_BAD_REQUEST', 'query.limit: must be a whole number; got a string'],
    ['query number out of range', 'GET', '/v1/tenants?limit=5000', {}, 400, 'ERR_ADMIN_BAD_REQUEST', /query\.limit: must be <= 1000/],
    ['unknown query parameter', 'GET', '/v1/decisions?tenat=acme', {}, 400, 'ERR_ADMIN_BAD_REQUEST', /query: unknown field 'tenat' \(did you mean 'tenant'\?\)/],
    ['bad time', 'GET', '/v1/decisions?since=yesterday', {}, 400, 'ERR_ADMIN_BAD_REQUEST', 'query.since: must be an RFC 3339 time such as 2026-11-23T12:00:00Z'],
    ['bad boolean', 'GET', '/v1/decisions?allow=maybe', {}, 400, 'ERR_ADMIN_BAD_REQUEST', 'query.allow: must be true or false; got a string'],
    ['wrong media type', 'POST', '/v1/tenants', { rawBody: 'name=acme', contentType: 'application/x-www-form-urlencoded' }, 415, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', /application\/json/],
    ['text/plain', 'POST', '/v1/revocations/users', { rawBody: 'alice', contentType: 'text/plain' }, 415, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', /application\/json/],
    ['body too large', 'POST', '/v1/revocations/users', { rawBody: JSON.stringify({ sub: 'x'.repeat(2 * 1024 * 1024) }) }, 413, 'ERR_ADMIN_BODY_TOO_LARGE', /larger/],
    ['unknown route', 'GET', '/v1/nothing', {}, 404, 'ERR_ADMIN_NOT_FOUND', 'no operation GET /v1/nothing; GET /openapi.json lists them'],
    ['wrong method', 'DELETE', '/v1/tenants', {}, 405, 'ERR_ADMIN_METHOD_NOT_ALLOWED', 'DELETE is not allowed on /v1/tenants; use GET or POST'],
  ];

  it.each(cases)('%s', async (_what, method, path, opts, status, code, message) => {
    const r = await admin.call(method, path, opts);
    expect(r.status).toBe(status);
    expect(r.body.error).toBe(code);
    if (typeof message === 'string') expect(r.body.message).toBe(message);
    else expect(r.body.message).toMatch(message);
    expect(r.body.request_id).toBe(r.headers.get('x-request-id'));
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    if (status === 405) expect(r.headers.get('allow')).toBe('GET, POST');
  });

  it('keeps a safe x-request-id from the caller and replaces an unsafe one', async () => {
    const mine = await fetch(`${admin.url}/v1/nothing`, { headers: { 'x-request-id': 'ticket-42' } });
    expect(((await mine.json()) as { request_id: string }).request_id).toBe('ticket-42');
    const unsafe = await fetch(`${admin.url}/v1/nothing`, { headers: { 'x-request-id': 'a b<script>' } });
    expect(((await unsafe.json()) as { request_id: string }).request_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a store outage with 503 ERR_STORE_UNAVAILABLE, not a crash', async () => {
    await admin.db.allowConnections(false);
    await admin.db.terminateConnections();
    try {
      const r = await admin.call('GET', '/v1/tenants');
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('ERR_STORE_UNAVAILABLE');
    } finally {
      await admin.db.allowConnections(true);
    }
  });
});

describe('sessions', () => {
  it('revokes a session by id and every session of a user', async () => {
    const s = await admin.call('POST', '/v1/revocations/sessions', { token: 'revoker', body: { sid: 'sid-123' } });
    expect(s).toMatchObject({ status: 200, body: { revoked: 'session', target: 'sid-123', effective_until: new Date(NOW + 8 * 3600_000).toISOString(), propagated: true } });
    const nowSec = Math.floor(NOW / 1000);
    expect(admin.revocation.isRevoked({ sid: 'sid-123', sub: 'someone', iat: nowSec - 10 }, NOW + 1000)).toBe(true);
    const u = await admin.call('POST', '/v1/revocations/users', { token: 'revoker', body: { sub: 'okta|alice' } });
    expect(u).toMatchObject({ status: 200, body: { revoked: 'user', target: 'okta|alice' } });
    expect(admin.revocation.isRevoked({ sid: 'other', sub: 'okta|alice', iat: nowSec - 60 }, NOW + 1000)).toBe(true);
    expect(await admin.call('POST', '/v1/revocations/users', { body: { sub: '' } })).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST' } });
  });
});

describe('decisions', () => {
  it('filters recent decisions by time, host, tenant, reason and outcome', async () => {
    const base = { request_id: 'r', path: '/', method: 'GET', app: null, sub: null, email: null, cert_fingerprint: null };
    admin.decisions.record({ ...base, time: NOW - 60_000, host: 'pay.acme.example', tenant: 'acme', allow: true, status: 200, reason: 'mtls_verified', request_id: 'r1' });
    admin.decisions.record({ ...base, time: NOW - 30_000, host: 'pay.acme.example', tenant: 'acme', allow: false, status: 403, reason: 'client_cert_untrusted', request_id: 'r2' });
    admin.decisions.record({ ...base, time: NOW - 10_000, host: 'unknown.example', tenant: null, allow: false, status: 403, reason: 'tenant_unknown', request_id: 'r3' });
    const ids = async (q: string): Promise<string[]> => {
      const r = await admin.call('GET', `/v1/decisions${q}`, { token: 'decisions' });
      expect(r.status).toBe(200);
      return (r.body.items as Array<{ request_id: string }>).map((d) => d.request_id);
    };
    expect(await ids('')).toEqual(['r3', 'r2', 'r1']);
    expect(await ids('?allow=false')).toEqual(['r3', 'r2']);
    expect(await ids('?allow=true')).toEqual(['r1']);
    expect(await ids('?tenant=acme')).toEqual(['r2', 'r1']);
    expect(await ids('?host=PAY.acme.example&reason=client_cert_untrusted')).toEqual(['r2']);
    expect(await ids(`?since=${new Date(NOW - 45_000).toISOString()}`)).toEqual(['r3', 'r2']);
    expect(await ids('?limit=1')).toEqual(['r3']);
    const one = await admin.call('GET', '/v1/decisions?limit=1', { token: 'decisions' });
    expect((one.body.items as unknown[])[0]).toEqual({ ...base, request_id: 'r3', time: new Date(NOW - 10_000).toISOString(), host: 'unknown.example', tenant: null, allow: false, status: 403, reason: 'tenant_unknown' });
  });
});

describe('audit', () => {
  it('records every change with who, what, when and result, in PostgreSQL and as a log line, without PEM text', async () => {
    const r = await admin.call('GET', '/v1/audit?limit=1000', { token: 'auditor' });
    expect(r.status).toBe(200);
    const items = r.body.items as Array<Record<string, unknown>>;
    const create = items.find((e) => e.action === 'tenant.create' && e.target === 'acme' && e.result === 'ok');
    expect(create).toMatchObject({ actor: 'writer', method: 'POST', path: '/v1/tenants', status: 201, time: new Date(NOW).toISOString(), summary: { hostnames: ['pay.acme.example', '*.api.acme.example'], ca_fingerprints: [root.cert.fingerprint256] } });
    // Refused changes are audited too, with the code answered.
    expect(items.some((e) => e.action === 'tenant.ca.replace' && e.result === 'ERR_CA_INVALID' && e.status === 400 && e.actor === 'root')).toBe(true);
    expect(items.some((e) => e.action === 'tenant.create' && e.result === 'ERR_ADMIN_FORBIDDEN' && e.actor === 'reader')).toBe(true);
    expect(items.some((e) => e.action === 'session.revoke' && e.target === 'sid-123' && e.actor === 'revoker')).toBe(true);
    expect(items.some((e) => e.action === 'tenant.delete' && e.target === 'beta' && e.status === 204)).toBe(true);
    expect(JSON.stringify(items)).not.toContain('BEGIN CERTIFICATE');
    // Reads are not changes.
    expect(items.some((e) => e.method === 'GET')).toBe(false);
    const rows = await admin.db.query<{ n: string }>("SELECT count(*)::text AS n FROM admin_audit WHERE action = 'tenant.create'");
    expect(Number(rows.rows[0]?.n)).toBeGreaterThan(1);
    const lines = admin.logLines.filter((l) => l.msg === 'admin change');
    expect(lines.length).toBe(items.length);
    expect(lines.some((l) => (l.audit as { action: string }).action === 'tenant.hostname.add')).toBe(true);
    const byActor = await admin.call('GET', '/v1/audit?actor=revoker', { token: 'auditor' });
    expect((byActor.body.items as Array<{ actor: string }>).every((e) => e.actor === 'revoker')).toBe(true);
    expect((byActor.body.items as unknown[]).length).toBeGreaterThan(0);
    const byTarget = await admin.call('GET', '/v1/audit?target=acme&limit=2', { token: 'auditor' });
    expect((byTarget.body.items as unknown[]).length).toBe(2);
  });
});

describe('config views', () => {
  it('shows apps, policies, IdPs and token ids read-only, never a secret or hash', async () => {
    const apps = await admin.call('GET', '/v1/apps', { token: 'config' });
    expect(apps.body).toEqual({ items: [{ name: 'wiki', kind: 'app', hostnames: ['wiki.acme.example'], idps: ['okta'], session_duration_sec: 3600, api_paths: ['/api/*'], policies: ['staff', 'robots'] }] });
    const pol = await admin.call('GET', '/v1/policies', { token: 'config' });
    expect(pol.body.items).toEqual([
      { app: 'wiki', name: 'staff', action: 'allow', include: [{ email_domain: ['acme.example'] }, { ip: ['10.0.0.0/8'] }], require: [{ amr: ['mfa'] }], exclude: [] },
      { app: 'wiki', name: 'robots', action: 'service_auth', include: [{ service_token: ['ci-bot'] }], require: [], exclude: [] },
    ]);
    const idps = await admin.call('GET', '/v1/idps', { token: 'config' });
    expect(idps.body.items).toEqual([
      { id: 'okta', type: 'oidc', preset: 'okta', issuer: 'https://acme.okta.example', client_id: 'client-123', scopes: ['openid'] },
      { id: 'corp', type: 'saml', entity_id: 'https://idp.corp.example' },
    ]);
    const tokens = await admin.call('GET', '/v1/service-tokens', { token: 'config' });
    expect(tokens.body).toEqual({ items: [{ id: 'ci-bot' }] });
    const adminTokens = await admin.call('GET', '/v1/admin-tokens', { token: 'config' });
    expect((adminTokens.body.items as Array<{ id: string }>).map((t) => t.id)).toEqual(Object.keys(TEST_TOKENS));
    const all = JSON.stringify([apps.body, pol.body, idps.body, tokens.body, adminTokens.body]);
    expect(all).not.toContain('SUPER-SECRET-CLIENT');
    expect(all).not.toContain('ab'.repeat(32));
    expect(all).not.toContain('ci-bot.acme');
    expect(all).not.toMatch(/[0-9a-f]{64}/);
  });
});

describe('OpenAPI document', () => {
  it('is served without a token and validates as OpenAPI 3.1', async () => {
    const res = await fetch(`${admin.url}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc.openapi).toBe('3.1.0');
    const result = await validate(structuredClone(doc) as never);
    if (!result.valid) throw new Error(`OpenAPI document invalid: ${JSON.stringify(result.errors, null, 2)}`);
    expect(result.valid).toBe(true);
    expect(doc).toEqual(JSON.parse(JSON.stringify(admin.server.openapi)));
  });

  it('documents exactly the operations the server answers, each with its scope and the error shape', async () => {
    const paths = admin.server.openapi.paths as Record<string, Record<string, { responses: Record<string, unknown>; 'x-required-scope'?: string; security: unknown[] }>>;
    const ops = Object.entries(paths).flatMap(([p, item]) => Object.entries(item).map(([m, op]) => ({ p, m, op })));
    // 23 operations, plus PUT and DELETE for apps, IdPs and service tokens kept in the database,
    // plus 6 for customer hostnames and the xDS status.
    expect(ops.length).toBe(36);
    const ids = new Set(ops.map(({ op }) => (op as unknown as { operationId: string }).operationId));
    expect(ids.size).toBe(ops.length);
    for (const { p, m, op } of ops) {
      // Every documented path is routed (a request to it is never 404 ERR_ADMIN_NOT_FOUND).
      const r = await admin.call(m.toUpperCase(), p.replace(/\{[^}]+\}/g, 'zz'), { token: 'root', ...(m === 'get' || m === 'delete' ? {} : { body: {} }) });
      expect(r.body.error).not.toBe('ERR_ADMIN_NOT_FOUND');
      if (op.security.length > 0) expect(op.responses['401']).toEqual({ description: expect.any(String) as unknown, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
    }
    expect(toOpenApiPath('/v1/tenants/:name/hostnames/:hostname')).toBe('/v1/tenants/{name}/hostnames/{hostname}');
  });
});

describe('healthz', () => {
  it('says ok while the tenant store is healthy', async () => {
    const res = await fetch(`${admin.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });
});

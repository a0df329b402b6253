import type { App, SessionState, SessionView } from '../../src/core/app.js';
import type { CertVerifier } from '../../src/core/cert-verifier.js';
import type { CheckInput, Decision } from '../../src/core/decision.js';
import { evaluate, isApiRequest, type EvaluateContext } from '../../src/core/evaluate.js';
import { compilePolicies } from '../../src/core/policy/index.js';
import { hashServiceSecret } from '../../src/core/service-token.js';
import { buildHostIndex, buildTenantIndex } from '../../src/core/tenant-index.js';
import type { Tenant } from '../../src/core/tenant.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

function policies(raw: unknown[]): App['policies'] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

const wiki: App = {
  name: 'wiki',
  hostnames: ['wiki.acme.test'],
  idps: ['okta'],
  sessionDurationSec: 3600,
  apiPaths: ['/api/*'],
  policies: policies([
    { name: 'health', action: 'bypass', include: [{ everyone: true }], require: [{ cel: 'request.path == "/healthz"' }] },
    { name: 'robots', action: 'service_auth', include: [{ service_token: ['ci'] }] },
    { name: 'no-interns', action: 'deny', include: [{ group: ['interns'] }] },
    { name: 'staff', action: 'allow', include: [{ email_domain: ['acme.test'] }] },
  ]),
};
const secureApp: App = { ...wiki, name: 'secure', hostnames: ['secure.acme.test'], policies: policies([{ name: 'devices', action: 'allow', include: [{ email_domain: ['acme.test'] }], require: [{ certificate: true }] }]) };
const mtlsTenant: Tenant = { name: 'acme', hostnames: ['secure.acme.test'], mtls: { mode: 'optional', trust: { roots: [], crls: [], staleCrl: 'deny' }, exemptPaths: [] } };

const noCerts: CertVerifier = {
  size: 0,
  verify: () => ({ ok: false, reason: 'client_cert_untrusted', detail: 'no', cached: false }),
};

function ctx(): EvaluateContext {
  return {
    tenants: buildTenantIndex([mtlsTenant]),
    verifier: noCerts,
    xfcc: { trustedHop: false, maxElements: 1 },
    nowMs: NOW,
    apps: buildHostIndex([wiki, secureApp]),
    auth: { domain: 'auth.acme.test', origin: 'https://auth.acme.test:8443' },
    serviceTokens: [{ id: 'ci', clientId: 'ci-bot', secretSha256: hashServiceSecret('s3cret') }],
  };
}

function session(over: Partial<SessionView> = {}): SessionState {
  return {
    status: 'valid',
    token: 'header.payload.sig',
    session: { sub: 'okta:alice', sid: 'sid-1', email: 'alice@acme.test', name: 'Alice', groups: ['staff'], idp: 'okta', idpType: 'oidc', amr: ['pwd'], authTime: NOW / 1000 - 60, exp: NOW / 1000 + 3600, ...over },
  };
}

function input(over: Partial<CheckInput>): CheckInput {
  return {
    requestId: 'r1',
    authority: 'wiki.acme.test:8443',
    sni: 'wiki.acme.test',
    method: 'GET',
    path: '/docs?x=1',
    peerCertificate: undefined,
    xfcc: undefined,
    sourceAddress: '10.0.0.1',
    accept: 'text/html,application/xhtml+xml',
    ...over,
  };
}

const denied = (d: Decision): Extract<Decision, { allow: false }> => {
  if (d.allow) throw new Error(`expected a denial, got ${d.reason}`);
  return d;
};

describe('evaluate: apps behind login', () => {
  test('a host that is only an app is served, not tenant_unknown', () => {
    expect(evaluate(input({ session: session() }), ctx())).toMatchObject({ allow: true, reason: 'policy_allow', app: 'wiki', policy: 'staff', tenant: undefined });
  });

  test('a browser without a session is redirected to the login service with the original URL', () => {
    const d = denied(evaluate(input({ session: { status: 'absent' } }), ctx()));
    expect(d).toMatchObject({ reason: 'login_required', status: 302 });
    const loc = new URL(d.location ?? '');
    expect(loc.origin).toBe('https://auth.acme.test:8443');
    expect(loc.pathname).toBe('/login');
    expect(loc.searchParams.get('app')).toBe('wiki');
    expect(loc.searchParams.get('rd')).toBe('https://wiki.acme.test:8443/docs?x=1');
  });

  test.each<[string, Partial<CheckInput>]>([
    ['a POST', { method: 'POST' }],
    ['Accept: application/json', { accept: 'application/json' }],
    ['an api_paths path', { path: '/api/items' }],
  ])('%s gets 401 JSON instead of a redirect', (_n, over) => {
    const d = denied(evaluate(input({ ...over, session: { status: 'absent' } }), ctx()));
    expect(d).toMatchObject({ reason: 'login_required', status: 401 });
    expect(d.location).toBeUndefined();
  });

  test('an invalid session counts as none, and says why', () => {
    const d = denied(evaluate(input({ accept: 'application/json', session: { status: 'invalid', reason: 'session_wrong_audience', detail: 'aud is admin' } }), ctx()));
    expect(d.reason).toBe('login_required');
    expect(d.detail).toContain('session_wrong_audience');
  });

  test('a deny policy wins over allow and names itself; browsers get HTML', () => {
    const d = denied(evaluate(input({ session: session({ groups: ['interns'] }) }), ctx()));
    expect(d).toMatchObject({ reason: 'policy_deny', status: 403, policy: 'no-interns', html: true });
  });

  test('a signed-in user no allow policy matches is refused', () => {
    const d = denied(evaluate(input({ accept: 'application/json', session: session({ email: 'eve@evil.test' }) }), ctx()));
    expect(d).toMatchObject({ reason: 'policy_no_match', status: 403, html: false });
  });

  test('bypass needs no session', () => {
    expect(evaluate(input({ path: '/healthz', session: { status: 'absent' } }), ctx())).toMatchObject({ allow: true, reason: 'policy_bypass' });
  });

  test('service tokens: the right secret passes, a wrong one is refused outright', () => {
    expect(evaluate(input({ serviceClientId: 'ci-bot', serviceClientSecret: 's3cret' }), ctx())).toMatchObject({ allow: true, reason: 'policy_service_auth', serviceToken: 'ci' });
    const d = denied(evaluate(input({ serviceClientId: 'ci-bot', serviceClientSecret: 'guess' }), ctx()));
    expect(d).toMatchObject({ reason: 'service_token_invalid', status: 401 });
  });

  test('the allowed user travels to the upstream with the token', () => {
    const d = evaluate(input({ session: session() }), ctx());
    expect(d.allow && d.user?.token).toBe('header.payload.sig');
    expect(d.allow && d.user?.session.email).toBe('alice@acme.test');
  });

  test('policies see the verified certificate of an mTLS tenant on the same host', () => {
    // No certificate (optional mode): the device policy cannot match.
    const d = denied(evaluate(input({ authority: 'secure.acme.test', sni: 'secure.acme.test', accept: 'application/json', session: session() }), ctx()));
    expect(d.reason).toBe('policy_no_match');
    // A presented but invalid certificate is refused before any policy.
    const bad = denied(evaluate(input({ authority: 'secure.acme.test', sni: 'secure.acme.test', peerCertificate: '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', session: session() }), ctx()));
    expect(bad.reason).toBe('client_cert_untrusted');
  });

  test('the login service host is served, other hosts are not', () => {
    expect(evaluate(input({ authority: 'auth.acme.test', sni: 'auth.acme.test' }), ctx())).toMatchObject({ allow: true, reason: 'auth_domain' });
    expect(denied(evaluate(input({ authority: 'other.acme.test', sni: 'other.acme.test' }), ctx())).reason).toBe('tenant_unknown');
  });

  test('isApiRequest', () => {
    expect(isApiRequest(input({}), wiki)).toBe(false);
    expect(isApiRequest(input({ method: 'DELETE' }), wiki)).toBe(true);
    expect(isApiRequest(input({ accept: 'application/json, text/html' }), wiki)).toBe(false);
  });
});

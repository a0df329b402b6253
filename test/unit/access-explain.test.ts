/**
 * `bouncer access explain` on a table of requests: allow by rule, deny by
 * rule, nothing matched, login needed, mTLS failures, asserted and verified
 * sessions, service tokens. Every request that can be sent as a CheckRequest
 * is also sent to a real ext_authz server built on the same state, and the
 * two answers must agree.
 */
import { pino } from 'pino';
import type { CheckRequestMessage } from '../../src/authz/check-request.js';
import { explainRequest, type ExplainQuery } from '../../src/authz/explain.js';
import { createAuthzServer, type AuthzServer } from '../../src/authz/server.js';
import type { Explanation } from '../../src/core/explanation.js';
import { openExplainState, type ExplainState } from '../../src/cli/explain-state.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { authzClient } from '../helpers/grpc-client.js';
import { createExplainFixture, SERVICE_SECRET, type ExplainFixture } from '../helpers/explain-fixture.js';

let fx: ExplainFixture;
let explain: ExplainState;
let server: AuthzServer;
let client: ReturnType<typeof authzClient>;
const NOW = Date.now();

beforeAll(async () => {
  fx = await createExplainFixture();
  explain = await openExplainState(fx.config, NOW);
  server = createAuthzServer({ getState: () => explain.state, logger: pino({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }), now: () => NOW });
  client = authzClient(await server.listen('127.0.0.1', 0));
}, 30_000);

afterAll(async () => {
  client?.close();
  await server?.close(0);
  await explain?.close();
  fx?.remove();
});

const run = (q: ExplainQuery): Promise<Explanation> => explainRequest(explain.state, q, NOW, { idpTypes: explain.idpTypes, notes: q.sessionToken !== undefined ? explain.sessionNotes : [] });

/** The CheckRequest Envoy would send for `q` (session tokens only: asserted claims cannot be sent). */
function envoyRequest(q: ExplainQuery, cookie: string | undefined): CheckRequestMessage {
  const path = q.path ?? '/';
  const method = q.method ?? 'GET';
  const headers: Record<string, string> = { ':authority': q.host, ':path': path, ':method': method, accept: q.accept ?? 'text/html' };
  if (cookie !== undefined) headers['cookie'] = `__Host-bouncer_session=${cookie}`;
  if (q.serviceToken) {
    headers['x-bouncer-client-id'] = q.serviceToken.clientId;
    headers['x-bouncer-client-secret'] = q.serviceToken.clientSecret;
  }
  if (q.country !== undefined) headers['cf-ipcountry'] = q.country;
  return {
    attributes: {
      source: { ...(q.sourceIp ? { address: { socket_address: { address: q.sourceIp } } } : {}), ...(q.certificatePem ? { certificate: encodeURIComponent(q.certificatePem) } : {}) },
      request: { http: { id: 'x', method, path, host: q.host, headers } },
      tls_session: { sni: q.sni ?? q.host },
    },
  };
}

async function authzAnswer(q: ExplainQuery): Promise<{ allow: boolean; status: number }> {
  const res = await client.check(envoyRequest(q, q.sessionToken));
  return res.status.code === 0 ? { allow: true, status: 200 } : { allow: false, status: res.denied_response?.status.code ?? -1 };
}

interface Case {
  name: string;
  query: () => Promise<ExplainQuery> | ExplainQuery;
  expect: Partial<Pick<Explanation, 'decision' | 'status' | 'reason' | 'tenant' | 'app' | 'policy' | 'service_token'>>;
  /** Policy name → expected outcome. */
  policies?: Record<string, string>;
  mtls?: string;
  session?: Partial<Explanation['session']>;
  /** Sent to the authz server too (not for asserted claims). */
  compare?: boolean;
}

const CASES: Case[] = [
  {
    name: 'allow by rule: a verified session with MFA from the staff domain',
    query: async () => ({ host: 'wiki.acme.test', path: '/page', sessionToken: await fx.signSession({ email: 'ann@acme.test', amr: ['pwd', 'mfa'] }, NOW) }),
    expect: { decision: 'allow', status: 200, reason: 'policy_allow', tenant: 'corp', app: 'wiki', policy: 'staff' },
    policies: { health: 'not_matched', ci: 'not_matched', embargo: 'not_matched', staff: 'matched', devices: 'not_evaluated' },
    mtls: 'mtls_optional_absent',
    session: { source: 'token', verified: true, status: 'valid', email: 'ann@acme.test' },
    compare: true,
  },
  {
    name: 'deny by rule: the embargoed country, whoever signs in',
    query: async () => ({ host: 'wiki.acme.test', country: 'KP', sessionToken: await fx.signSession({ email: 'ann@acme.test', amr: ['mfa'] }, NOW) }),
    expect: { decision: 'deny', status: 403, reason: 'policy_deny', policy: 'embargo' },
    policies: { embargo: 'matched', staff: 'not_evaluated' },
    compare: true,
  },
  {
    name: 'no rule matched: a staff member without MFA is denied by default',
    query: async () => ({ host: 'wiki.acme.test', sessionToken: await fx.signSession({ email: 'ann@acme.test', amr: ['pwd'] }, NOW) }),
    expect: { decision: 'deny', status: 403, reason: 'policy_no_match', policy: undefined },
    policies: { staff: 'not_matched', devices: 'not_matched' },
    compare: true,
  },
  {
    name: 'excluded user: the intern is not staff even with MFA (asserted claims)',
    query: () => ({ host: 'wiki.acme.test', claims: { email: 'intern@acme.test', idp: 'okta', amr: ['mfa'] } }),
    expect: { decision: 'deny', reason: 'policy_no_match' },
    policies: { staff: 'not_matched' },
    session: { source: 'asserted', verified: false, status: 'valid' },
  },
  {
    name: 'no session: a browser is sent to sign in',
    query: () => ({ host: 'wiki.acme.test', path: '/x' }),
    expect: { decision: 'deny', status: 302, reason: 'login_required' },
    policies: { staff: 'needs_login', devices: 'not_matched' },
    compare: true,
  },
  {
    name: 'bypass: the health path needs nothing',
    query: () => ({ host: 'wiki.acme.test', path: '/healthz' }),
    expect: { decision: 'allow', reason: 'policy_bypass', policy: 'health' },
    policies: { health: 'matched', ci: 'not_evaluated' },
    compare: true,
  },
  {
    name: 'service token: accepted by the service_auth policy',
    query: () => ({ host: 'wiki.acme.test', accept: 'application/json', serviceToken: { clientId: 'ci-client', clientSecret: SERVICE_SECRET } }),
    expect: { decision: 'allow', reason: 'policy_service_auth', policy: 'ci' },
    compare: true,
  },
  {
    name: 'service token: a wrong secret is refused before the policies',
    query: () => ({ host: 'wiki.acme.test', serviceToken: { clientId: 'ci-client', clientSecret: 'wrong' } }),
    expect: { decision: 'deny', status: 401, reason: 'service_token_invalid' },
    policies: { ci: 'not_evaluated' },
    compare: true,
  },
  {
    name: 'asserted service token id: the service_auth policy sees it, and the answer says it was not verified',
    query: () => ({ host: 'wiki.acme.test', serviceTokenId: 'ci-bot' }),
    expect: { decision: 'allow', reason: 'policy_service_auth', policy: 'ci', service_token: { client_id: '(asserted)', id: 'ci-bot', asserted: true } },
  },
  {
    name: 'asserted service token id the policies do not name: no match',
    query: () => ({ host: 'wiki.acme.test', accept: 'application/json', serviceTokenId: 'other-bot' }),
    expect: { decision: 'deny', reason: 'login_required', status: 401 },
    policies: { ci: 'not_matched' },
  },
  {
    name: 'a tampered session token is refused as invalid and the browser is sent to sign in',
    query: async () => ({ host: 'wiki.acme.test', sessionToken: `${await fx.signSession({ email: 'ann@acme.test', amr: ['mfa'] }, NOW)}x` }),
    expect: { decision: 'deny', status: 302, reason: 'login_required' },
    session: { source: 'token', verified: false },
    compare: true,
  },
  {
    name: "mTLS: the tenant's device passes",
    query: () => ({ host: 'pay.acme.test', certificatePem: fx.certs.acme }),
    expect: { decision: 'allow', reason: 'mtls_verified', tenant: 'acme', app: undefined },
    mtls: 'mtls_verified',
    compare: true,
  },
  {
    name: 'mTLS: a device issued by an intermediate passes when the file carries the intermediate (sent as XFCC Chain)',
    query: () => ({ host: 'pay.acme.test', certificatePem: fx.certs.viaIntermediate }),
    expect: { decision: 'allow', reason: 'mtls_verified' },
    mtls: 'mtls_verified',
  },
  {
    name: 'mTLS failure: the same device without its intermediate has no path to the root',
    query: () => ({ host: 'pay.acme.test', certificatePem: fx.certs.intermediateLeaf }),
    expect: { decision: 'deny', reason: 'client_cert_untrusted' },
    compare: true,
  },
  {
    name: 'mTLS failure: a look-alike CA with the same name is untrusted',
    query: () => ({ host: 'pay.acme.test', certificatePem: fx.certs.stranger }),
    expect: { decision: 'deny', status: 403, reason: 'client_cert_untrusted', tenant: 'acme' },
    mtls: 'client_cert_untrusted',
    compare: true,
  },
  {
    name: 'mTLS failure: no certificate on a tenant that requires one',
    query: () => ({ host: 'pay.acme.test' }),
    expect: { decision: 'deny', status: 401, reason: 'client_cert_missing' },
    mtls: 'client_cert_missing',
    compare: true,
  },
  {
    name: 'mTLS failure: a certificate is judged before the app, so a bad one never reaches the policies',
    query: () => ({ host: 'wiki.acme.test', certificatePem: fx.certs.stranger, claims: { email: 'ann@acme.test', amr: ['mfa'] } }),
    expect: { decision: 'deny', reason: 'client_cert_untrusted', app: undefined },
    policies: { staff: 'not_evaluated' },
  },
  {
    name: 'SNI of another tenant: 421',
    query: () => ({ host: 'wiki.acme.test', sni: 'pay.acme.test' }),
    expect: { decision: 'deny', status: 421, reason: 'sni_host_mismatch' },
    compare: true,
  },
  {
    name: 'an unknown host',
    query: () => ({ host: 'nobody.test' }),
    expect: { decision: 'deny', reason: 'tenant_unknown', tenant: undefined },
    compare: true,
  },
];

test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
  const q = await c.query();
  const e = await run(q);
  expect(e).toMatchObject(c.expect);
  for (const [name, outcome] of Object.entries(c.policies ?? {})) {
    expect({ name, outcome: e.policies.find((p) => p.name === name)?.outcome }).toEqual({ name, outcome });
  }
  if (c.mtls !== undefined) expect(e.mtls?.reason).toBe(c.mtls);
  if (c.session) expect(e.session).toMatchObject(c.session);
  if (c.compare === true) {
    expect(await authzAnswer(q)).toEqual({ allow: e.decision === 'allow', status: e.status });
  }
});

test('the deciding policy is marked and every other one says why it did not decide', async () => {
  const e = await run({ host: 'wiki.acme.test', claims: { email: 'ann@acme.test', amr: ['pwd'] }, certificatePem: fx.certs.acme });
  expect(e).toMatchObject({ decision: 'allow', policy: 'devices' });
  expect(e.certificate?.subject).toContain('acme-laptop-1');
  const byName = Object.fromEntries(e.policies.map((p) => [p.name, p]));
  expect(byName['devices']).toMatchObject({ outcome: 'matched', decided: true, why: 'include[0] (certificate) matched' });
  expect(byName['staff']).toMatchObject({ outcome: 'not_matched', decided: false, why: 'require[0] (amr) not satisfied' });
  expect(e.notes).toContain('the session was asserted, not verified: its claims were taken as given');
});

test('login time: an asserted login time becomes the session auth_time policies see', async () => {
  const e = await run({ host: 'wiki.acme.test', claims: { email: 'ann@acme.test', amr: ['mfa'], loginTimeMs: NOW - 3_600_000 } });
  expect(e.session.auth_time).toBe(new Date(Math.floor((NOW - 3_600_000) / 1000) * 1000).toISOString());
});

test.each([
  [{ host: '' }, /not a hostname/],
  [{ host: 'wiki.acme.test', path: 'x' }, /must start with "\/"/],
  [{ host: 'wiki.acme.test', method: 'G T' }, /not an HTTP method/],
  [{ host: 'wiki.acme.test', sessionToken: 'a', claims: { email: 'a@acme.test' } }, /not both/],
  [{ host: 'wiki.acme.test', certificatePem: 'not a pem' }, /no PEM CERTIFICATE block/],
  [{ host: 'wiki.acme.test', country: 'Korea' }, /ISO 3166/],
  [{ host: 'wiki.acme.test', path: '/.bouncer/logout' }, /answers \/\.bouncer\/logout/],
  [{ host: 'wiki.acme.test', serviceTokenId: 'a', serviceToken: { clientId: 'c', clientSecret: 's' } }, /not both/],
  [{ host: 'wiki.acme.test', serviceTokenId: 'a b' }, /not a service token id/],
] as Array<[ExplainQuery, RegExp]>)('bad input %# is refused with ERR_EXPLAIN_INPUT', async (q, message) => {
  await expect(run(q)).rejects.toMatchObject({ code: 'ERR_EXPLAIN_INPUT', message: expect.stringMatching(message) as unknown as string });
});

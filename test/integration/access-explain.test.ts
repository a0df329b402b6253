/**
 * `POST /v1/access/explain` on a running bouncer, and `bouncer access explain`
 * on its config file: both explain what the running ext_authz server answers
 * for the same request, and say when a session was asserted, not verified.
 */
import { pino } from 'pino';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { EXIT_DENY } from '../../src/cli/access-explain.js';
import type { Explanation } from '../../src/core/explanation.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { runCaptured } from '../helpers/cli.js';
import { createExplainFixture, type ExplainFixture } from '../helpers/explain-fixture.js';

const READER = 'explain-reader-token-0123456789abcdef';
const DECISIONS = 'explain-decisions-token-0123456789ab';

let fx: ExplainFixture;
let app: BouncerApp;
let client: ReturnType<typeof authzClient>;

beforeAll(async () => {
  fx = await createExplainFixture(`admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: reader, secret_sha256: ${hashAdminToken(READER)}, scopes: [config:read] }
    - { id: decisions, secret_sha256: ${hashAdminToken(DECISIONS)}, scopes: [decisions:read] }
`);
  app = await startBouncer({ config: fx.config, logger: pino({ level: 'silent' }), env: { OKTA_SECRET: 'okta-secret' }, watch: false });
  client = authzClient(app.authzPort);
}, 30_000);

afterAll(async () => {
  client?.close();
  await app?.close(0);
  fx?.remove();
});

async function explainApi(body: unknown, token = READER): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${app.adminPort}/v1/access/explain`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

test('the admin API explains what the running ext_authz answers, for allows and denials', async () => {
  const now = Date.now();
  const mfa = await fx.signSession({ email: 'ann@acme.test', amr: ['mfa'] }, now);
  const pwd = await fx.signSession({ email: 'bob@acme.test', amr: ['pwd'] }, now);
  const cases: Array<{ body: Record<string, unknown>; headers: Record<string, string>; reason: string }> = [
    { body: { host: 'wiki.acme.test', path: '/doc', session_token: mfa }, headers: { cookie: `__Host-bouncer_session=${mfa}`, accept: 'text/html' }, reason: 'policy_allow' },
    { body: { host: 'wiki.acme.test', path: '/doc', session_token: pwd }, headers: { cookie: `__Host-bouncer_session=${pwd}`, accept: 'text/html' }, reason: 'policy_no_match' },
    { body: { host: 'wiki.acme.test', path: '/doc', session_token: mfa, country: 'KP' }, headers: { cookie: `__Host-bouncer_session=${mfa}`, 'cf-ipcountry': 'KP', accept: 'text/html' }, reason: 'policy_deny' },
    { body: { host: 'wiki.acme.test', path: '/doc' }, headers: { accept: 'text/html' }, reason: 'login_required' },
    { body: { host: 'pay.acme.test', path: '/' }, headers: {}, reason: 'client_cert_missing' },
  ];
  for (const c of cases) {
    const r = await explainApi(c.body);
    expect(r.status).toBe(200);
    const e = r.body as unknown as Explanation;
    expect(e.reason).toBe(c.reason);
    const res = await client.check(checkRequest(c.body.host as string, c.body.path as string, c.headers));
    expect({ reason: c.reason, allow: res.status.code === 0, status: res.status.code === 0 ? 200 : res.denied_response?.status.code }).toEqual({
      reason: c.reason,
      allow: e.decision === 'allow',
      status: e.status,
    });
  }
});

test('the answer names the tenant, app, deciding policy and why the others did not decide', async () => {
  const r = await explainApi({ host: 'wiki.acme.test', claims: { email: 'ann@acme.test', idp: 'okta', amr: ['mfa'], groups: ['eng'] } });
  expect(r.body).toMatchObject({
    decision: 'allow',
    tenant: 'corp',
    app: 'wiki',
    policy: 'staff',
    session: { source: 'asserted', verified: false, status: 'valid', groups: ['eng'] },
    notes: expect.arrayContaining(['the session was asserted, not verified: its claims were taken as given']) as unknown,
  });
  const policies = r.body.policies as Explanation['policies'];
  expect(policies.map((p) => [p.name, p.outcome])).toEqual([
    ['health', 'not_matched'],
    ['ci', 'not_matched'],
    ['embargo', 'not_matched'],
    ['staff', 'matched'],
    ['devices', 'not_evaluated'],
  ]);
});

test('an asserted service token id is explained as ext_authz would treat that token, and marked as asserted', async () => {
  const r = await explainApi({ host: 'wiki.acme.test', service_token_id: 'ci-bot' });
  expect(r.body).toMatchObject({ decision: 'allow', reason: 'policy_service_auth', policy: 'ci', service_token: { id: 'ci-bot', asserted: true } });
  expect(r.body.notes).toContain('the service token "ci-bot" was asserted, not verified: no credentials were checked');
});

test('needs config:read; bad input is a 400 naming the problem', async () => {
  expect((await explainApi({ host: 'wiki.acme.test' }, DECISIONS)).status).toBe(403);
  const bad = await explainApi({ host: 'wiki.acme.test', path: 'no-slash' });
  expect(bad).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST', message: expect.stringContaining('must start with "/"') as unknown } });
  const unknown = await explainApi({ host: 'wiki.acme.test', sesion_token: 'x' });
  expect(unknown).toMatchObject({ status: 400, body: { error: 'ERR_ADMIN_BAD_REQUEST' } });
});

describe('bouncer access explain', () => {
  test('exit 0 on allow, with the deciding policy in the text', async () => {
    const r = await runCaptured(['access', 'explain', '-c', fx.configPath, '--host', 'wiki.acme.test', '--email', 'ann@acme.test', '--idp', 'okta', '--amr', 'pwd,mfa']);
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toMatch(/^ALLOW 200 policy_allow: allowed by policy "staff"/);
    expect(r.out).toContain('session  ASSERTED (not verified): valid ann@acme.test via okta');
    expect(r.out).toMatch(/\+ allow +staff {2}<= decided: include\[0\] \(email_domain\) matched/);
    expect(r.out).toMatch(/\. allow +devices: a policy earlier in precedence decided first/);
  });

  test(`exit ${EXIT_DENY} on deny; --json gives the same explanation as the admin API`, async () => {
    const now = Date.now();
    const token = await fx.signSession({ email: 'bob@acme.test', amr: ['pwd'] }, now);
    const at = new Date(now).toISOString();
    const r = await runCaptured(['access', 'explain', '-c', fx.configPath, '--host', 'wiki.acme.test', '--path', '/doc', '--session', token, '--at', at, '--json']);
    expect(r.code).toBe(EXIT_DENY);
    const cli = JSON.parse(r.out) as Explanation;
    const api = (await explainApi({ host: 'wiki.acme.test', path: '/doc', session_token: token, at })).body as unknown as Explanation;
    expect(cli).toMatchObject({ decision: 'deny', reason: 'policy_no_match', session: { source: 'token', verified: true, email: 'bob@acme.test' } });
    // The CLI cannot see the server's in-memory revocations and says so; the rest is identical.
    expect({ ...cli, notes: [] }).toEqual({ ...api, notes: [] });
    expect(cli.notes).toContain("revocations are not checked: without store.redis they live only in the running server's memory");
  });

  test('a certificate file: the look-alike CA is refused with the verifier the authz path uses', async () => {
    const file = join(fx.dir, 'stranger-cli.pem');
    writeFileSync(file, fx.certs.stranger);
    const r = await runCaptured(['access', 'explain', '-c', fx.configPath, '--host', 'pay.acme.test', '--cert', file]);
    expect(r.code).toBe(EXIT_DENY);
    expect(r.out).toMatch(/^DENY 403 client_cert_untrusted/);
    expect(r.out).toContain('mTLS     refused: client_cert_untrusted');
  });

  test('usage errors exit 2 with a clear message', async () => {
    const both = await runCaptured(['access', 'explain', '-c', fx.configPath, '--host', 'wiki.acme.test', '--session', 'x', '--email', 'a@acme.test']);
    expect(both).toMatchObject({ code: 2 });
    expect(both.err).toContain('not both');
    const token = await runCaptured(['access', 'explain', '-c', fx.configPath, '--host', 'wiki.acme.test', '--service-token', 'nosecret']);
    expect(token.code).toBe(2);
    expect(token.err).toContain('CLIENT_ID:SECRET');
  });
});

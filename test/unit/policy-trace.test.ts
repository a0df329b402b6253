/**
 * The policy trace that `access explain` reads: on a table of policies with a
 * fixed clock, every evaluated policy is reported with its outcome and the rule
 * that decided it, policies after the deciding one are not, and passing a
 * trace never changes the verdict.
 */
import type { Identity, RequestContext } from '../../src/core/identity.js';
import { TraceCollector, explainPolicies } from '../../src/core/explanation.js';
import { compilePolicies, evaluatePolicies, type CompiledPolicy, type PolicyVerdict } from '../../src/core/policy/index.js';
import type { Decision } from '../../src/core/decision.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

const ANN: Identity = {
  sub: 'okta:ann',
  email: 'ann@acme.test',
  emailVerified: true,
  name: 'Ann',
  groups: ['staff'],
  idp: { id: 'okta', type: 'oidc' },
  amr: ['pwd'],
  authTime: NOW - 7_200_000, // two hours ago
};

const CTX: RequestContext = { nowMs: NOW, host: 'wiki.acme.test', path: '/doc', method: 'GET', sourceIp: '10.1.2.3', country: 'DE', certificate: undefined, serviceToken: undefined };

function compile(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

const POLICIES = compile([
  { name: 'office', action: 'allow', include: [{ ip: ['10.0.0.0/8'] }], require: [{ login_age: 3600 }] },
  { name: 'staff-mfa', action: 'allow', include: [{ group: ['staff'] }], require: [{ amr: ['mfa'] }] },
  { name: 'staff', action: 'allow', include: [{ group: ['staff'] }], exclude: [{ country: ['KP'] }] },
  { name: 'embargo', action: 'deny', include: [{ country: ['KP'] }] },
  { name: 'health', action: 'bypass', include: [{ cel: "request.path == '/healthz'" }] },
]);

interface Row {
  name: string;
  identity: Identity | undefined;
  ctx?: Partial<RequestContext>;
  verdict: Pick<PolicyVerdict, 'outcome' | 'policy'>;
  /** Traced, in evaluation order: [policy, outcome, why]. */
  traced: Array<[string, string, string]>;
}

const TABLE: Row[] = [
  {
    name: 'allow by rule: the first matching allow policy decides; the ones before it say why they did not match',
    identity: ANN,
    verdict: { outcome: 'allow', policy: 'staff' },
    traced: [
      ['health', 'not_matched', 'no include rule matched'],
      ['embargo', 'not_matched', 'no include rule matched'],
      ['office', 'not_matched', 'require[0] (login_age) not satisfied'],
      ['staff-mfa', 'not_matched', 'require[0] (amr) not satisfied'],
      ['staff', 'matched', 'include[0] (group) matched'],
    ],
  },
  {
    name: 'deny by rule: deny precedes allow',
    identity: ANN,
    ctx: { country: 'KP' },
    verdict: { outcome: 'deny', policy: 'embargo' },
    traced: [
      ['health', 'not_matched', 'no include rule matched'],
      ['embargo', 'matched', 'include[0] (country) matched'],
    ],
  },
  {
    name: 'no rule matched: default deny, every allow policy says why',
    identity: { ...ANN, groups: ['contractors'] },
    ctx: { sourceIp: '192.0.2.1' },
    verdict: { outcome: 'deny', policy: undefined },
    traced: [
      ['health', 'not_matched', 'no include rule matched'],
      ['embargo', 'not_matched', 'no include rule matched'],
      ['office', 'not_matched', 'no include rule matched'],
      ['staff-mfa', 'not_matched', 'no include rule matched'],
      ['staff', 'not_matched', 'no include rule matched'],
    ],
  },
  {
    name: 'no identity: allow policies that a login could satisfy need a login',
    identity: undefined,
    ctx: { sourceIp: '192.0.2.1' },
    verdict: { outcome: 'login_required', policy: undefined },
    traced: [
      ['health', 'not_matched', 'no include rule matched'],
      ['embargo', 'not_matched', 'no include rule matched'],
      ['office', 'not_matched', 'no include rule matched'],
      ['staff-mfa', 'needs_login', 'include[0] (group) needs a login'],
      ['staff', 'needs_login', 'include[0] (group) needs a login'],
    ],
  },
  {
    name: 'bypass: decided first, nothing else evaluated',
    identity: undefined,
    ctx: { path: '/healthz' },
    verdict: { outcome: 'bypass', policy: 'health' },
    traced: [['health', 'matched', 'include[0] (cel) matched']],
  },
];

test.each(TABLE.map((r) => [r.name, r] as const))('%s', (_name, row) => {
  const ctx = { ...CTX, ...row.ctx };
  const trace = new TraceCollector();
  const traced = evaluatePolicies(POLICIES, row.identity, ctx, trace);
  const plain = evaluatePolicies(POLICIES, row.identity, ctx);
  expect(traced).toEqual(plain);
  expect(traced).toMatchObject(row.verdict);
  expect(trace.policies.map((p) => [p.name, p.outcome, p.why])).toEqual(row.traced);
});

test('explainPolicies lists every policy in evaluation order, the untraced ones as not evaluated, and marks the decider', () => {
  const trace = new TraceCollector();
  const verdict = evaluatePolicies(POLICIES, ANN, CTX, trace);
  const decision: Decision = { allow: true, reason: 'policy_allow', tenant: undefined, identity: undefined, cacheHit: false, app: 'wiki', policy: verdict.policy };
  expect(explainPolicies(POLICIES, trace, decision).map((p) => [p.action, p.name, p.outcome, p.decided])).toEqual([
    ['bypass', 'health', 'not_matched', false],
    ['deny', 'embargo', 'not_matched', false],
    ['allow', 'office', 'not_matched', false],
    ['allow', 'staff-mfa', 'not_matched', false],
    ['allow', 'staff', 'matched', true],
  ]);
});

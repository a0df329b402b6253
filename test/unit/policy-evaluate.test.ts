import type { Identity, RequestContext } from '../../src/core/identity.js';
import { buildCelBindings } from '../../src/core/policy/cel.js';
import { compilePolicies, evaluatePolicies, type CompiledPolicy, type PolicyVerdict } from '../../src/core/policy/index.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const FP = 'ab'.repeat(32);

const ALICE: Identity = {
  sub: 'okta:00u1',
  email: 'alice@acme.test',
  emailVerified: true,
  name: 'Alice',
  groups: ['admins', 'eng'],
  idp: { id: 'okta', type: 'oidc' },
  amr: ['pwd', 'hwk'],
  authTime: NOW - 600_000, // 10 minutes ago
};

const CTX: RequestContext = {
  nowMs: NOW,
  host: 'wiki.acme.test',
  path: '/docs/a',
  method: 'GET',
  sourceIp: '10.1.2.3',
  country: 'DE',
  certificate: {
    fingerprint256: FP,
    subject: 'CN=device-1,O=Acme',
    commonName: 'device-1',
    dns: ['Device-1.acme.test'],
    uri: ['spiffe://acme.test/device-1'],
    email: ['ops@acme.test'],
  },
  serviceToken: undefined,
};

function compile(raw: unknown[]): CompiledPolicy[] {
  const r = compilePolicies(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policies;
}

/** Whether a single allow policy with `selector` in include lets ALICE in with the given overrides. */
function allowsWith(selector: unknown, identity: Partial<Identity> | undefined, ctx: Partial<RequestContext> = {}): boolean {
  const v = evaluatePolicies(compile([{ name: 'p', action: 'allow', include: [selector] }]), identity === undefined ? ALICE : { ...ALICE, ...identity }, { ...CTX, ...ctx });
  return v.outcome === 'allow';
}

describe('every selector, true and false', () => {
  test.each<[string, unknown, Partial<Identity> | undefined, Partial<RequestContext>, boolean]>([
    ['everyone', { everyone: true }, undefined, {}, true],
    ['email exact', { email: ['alice@acme.test'] }, undefined, {}, true],
    ['email case-insensitive', { email: ['ALICE@Acme.Test'] }, { email: 'alice@acme.test' }, {}, true],
    ['email other', { email: ['bob@acme.test'] }, undefined, {}, false],
    ['email unverified', { email: ['alice@acme.test'] }, { emailVerified: false }, {}, false],
    ['email absent', { email: ['alice@acme.test'] }, { email: undefined }, {}, false],
    ['email_domain', { email_domain: ['acme.test'] }, undefined, {}, true],
    ['email_domain case', { email_domain: ['ACME.test'] }, { email: 'alice@Acme.TEST' }, {}, true],
    ['email_domain other', { email_domain: ['evil.test'] }, undefined, {}, false],
    ['email_domain is exact, not suffix', { email_domain: ['acme.test'] }, { email: 'eve@acme.test.evil.test' }, {}, false],
    ['email_domain no subdomains', { email_domain: ['acme.test'] }, { email: 'eve@sub.acme.test' }, {}, false],
    ['email_domain uses last @', { email_domain: ['acme.test'] }, { email: 'acme.test@evil.test' }, {}, false],
    ['email_domain unverified', { email_domain: ['acme.test'] }, { emailVerified: false }, {}, false],
    ['group', { group: ['eng'] }, undefined, {}, true],
    ['group other', { group: ['sales'] }, undefined, {}, false],
    ['group is case-sensitive', { group: ['Admins'] }, undefined, {}, false],
    ['idp', { idp: ['okta'] }, undefined, {}, true],
    ['idp other', { idp: ['gh'] }, undefined, {}, false],
    ['country', { country: ['de'] }, undefined, {}, true],
    ['country other', { country: ['FR'] }, undefined, {}, false],
    ['country absent', { country: ['DE'] }, undefined, { country: undefined }, false],
    ['ip in range', { ip: ['10.0.0.0/8'] }, undefined, {}, true],
    ['ip out of range', { ip: ['192.168.0.0/16'] }, undefined, {}, false],
    ['ip single address', { ip: ['10.1.2.3'] }, undefined, {}, true],
    ['ip v6', { ip: ['2001:db8::/32'] }, undefined, { sourceIp: '2001:db8::5' }, true],
    ['ip v4-mapped source', { ip: ['10.0.0.0/8'] }, undefined, { sourceIp: '::ffff:10.0.0.9' }, true],
    ['ip absent', { ip: ['0.0.0.0/0'] }, undefined, { sourceIp: undefined }, false],
    ['ip unparseable source', { ip: ['0.0.0.0/0'] }, undefined, { sourceIp: 'junk' }, false],
    ['certificate present', { certificate: true }, undefined, {}, true],
    ['certificate absent', { certificate: true }, undefined, { certificate: undefined }, false],
    ['certificate_cn', { certificate_cn: ['device-1'] }, undefined, {}, true],
    ['certificate_cn other', { certificate_cn: ['device-2'] }, undefined, {}, false],
    ['certificate_cn without cert', { certificate_cn: ['device-1'] }, undefined, { certificate: undefined }, false],
    ['certificate_san dns (case-insensitive)', { certificate_san: ['device-1.ACME.test'] }, undefined, {}, true],
    ['certificate_san uri', { certificate_san: ['spiffe://acme.test/device-1'] }, undefined, {}, true],
    ['certificate_san uri is exact', { certificate_san: ['SPIFFE://acme.test/device-1'] }, undefined, {}, false],
    ['certificate_san email', { certificate_san: ['ops@acme.test'] }, undefined, {}, true],
    ['certificate_san other', { certificate_san: ['device-2.acme.test'] }, undefined, {}, false],
    ['certificate_fingerprint', { certificate_fingerprint: [FP.toUpperCase()] }, undefined, {}, true],
    ['certificate_fingerprint with colons', { certificate_fingerprint: [FP.match(/../g)?.join(':') ?? ''] }, undefined, {}, true],
    ['certificate_fingerprint other', { certificate_fingerprint: ['cd'.repeat(32)] }, undefined, {}, false],
    ['amr any of', { amr: ['otp', 'hwk'] }, undefined, {}, true],
    ['amr missing', { amr: ['otp'] }, undefined, {}, false],
    ['login_age within', { login_age: 600 }, undefined, {}, true],
    ['login_age exceeded', { login_age: 599 }, undefined, {}, false],
    ['service_token', { service_token: ['ci'] }, undefined, { serviceToken: { id: 'ci' } }, true],
    ['service_token other', { service_token: ['ci'] }, undefined, { serviceToken: { id: 'deploy' } }, false],
    ['service_token absent', { service_token: ['ci'] }, undefined, {}, false],
    ['any_service_token', { any_service_token: true }, undefined, { serviceToken: { id: 'x' } }, true],
    ['any_service_token absent', { any_service_token: true }, undefined, {}, false],
    ['cel true', { cel: 'request.method == "GET" && "eng" in identity.groups' }, undefined, {}, true],
    ['cel false', { cel: 'request.method == "POST"' }, undefined, {}, false],
  ])('%s', (_name, selector, identity, ctx, expected) => {
    expect(allowsWith(selector, identity, ctx)).toBe(expected);
  });
});

describe('include / require / exclude', () => {
  const P = compile([{
    name: 'staff',
    action: 'allow',
    include: [{ email_domain: ['acme.test'] }, { group: ['contractors'] }],
    require: [{ amr: ['hwk'] }, { country: ['DE', 'FR'] }],
    exclude: [{ email: ['intern@acme.test'] }, { ip: ['10.66.0.0/16'] }],
  }]);
  test.each<[string, Partial<Identity>, Partial<RequestContext>, PolicyVerdict['reason'], RegExp]>([
    ['first include, all require, no exclude', {}, {}, 'policy_allow', /include\[0\] \(email_domain\) matched/],
    ['second include is enough', { email: 'c@other.test', groups: ['contractors'] }, {}, 'policy_allow', /include\[1\] \(group\) matched/],
    ['no include matches', { email: 'c@other.test', groups: [] }, {}, 'policy_no_match', /no include rule matched/],
    ['one require fails', { amr: ['pwd'] }, {}, 'policy_no_match', /require\[0\] \(amr\) not satisfied/],
    ['other require fails', {}, { country: 'US' }, 'policy_no_match', /require\[1\] \(country\) not satisfied/],
    ['first exclude matches', { email: 'intern@acme.test' }, {}, 'policy_no_match', /exclude\[0\] \(email\) matched/],
    ['second exclude matches', {}, { sourceIp: '10.66.1.1' }, 'policy_no_match', /exclude\[1\] \(ip\) matched/],
  ])('%s', (_n, id, ctx, reason, detail) => {
    const v = evaluatePolicies(P, { ...ALICE, ...id }, { ...CTX, ...ctx });
    expect(v.reason).toBe(reason);
    expect(v.detail).toMatch(detail);
    expect(v.policy).toBe(reason === 'policy_allow' ? 'staff' : undefined);
  });
});

describe('action precedence: bypass > service_auth > deny > allow, regardless of order', () => {
  const policies = {
    allow: { name: 'a', action: 'allow', include: [{ everyone: true }] },
    deny: { name: 'd', action: 'deny', include: [{ country: ['DE'] }] },
    bypass: { name: 'b', action: 'bypass', include: [{ cel: 'request.path.startsWith("/docs/")' }] },
    service: { name: 's', action: 'service_auth', include: [{ service_token: ['ci'] }] },
  } as const;
  const orders = [
    ['allow', 'deny', 'service', 'bypass'],
    ['bypass', 'service', 'deny', 'allow'],
    ['deny', 'allow', 'bypass', 'service'],
    ['service', 'bypass', 'allow', 'deny'],
  ] as const;
  test.each(orders)('order %s, %s, %s, %s', (...order) => {
    const ps = compile(order.map((k) => policies[k]));
    const token = { serviceToken: { id: 'ci' } };
    expect(evaluatePolicies(ps, ALICE, { ...CTX, ...token })).toMatchObject({ outcome: 'bypass', policy: 'b', reason: 'policy_bypass' });
    expect(evaluatePolicies(ps, ALICE, { ...CTX, ...token, path: '/x' })).toMatchObject({ outcome: 'allow', policy: 's', reason: 'policy_service_auth' });
    expect(evaluatePolicies(ps, ALICE, { ...CTX, path: '/x' })).toMatchObject({ outcome: 'deny', policy: 'd', reason: 'policy_deny' });
    expect(evaluatePolicies(ps, ALICE, { ...CTX, path: '/x', country: 'FR' })).toMatchObject({ outcome: 'allow', policy: 'a', reason: 'policy_allow' });
  });

  test('within one action the first matching policy in file order names the verdict', () => {
    const ps = compile([
      { name: 'first', action: 'allow', include: [{ group: ['eng'] }] },
      { name: 'second', action: 'allow', include: [{ everyone: true }] },
    ]);
    expect(evaluatePolicies(ps, ALICE, CTX).policy).toBe('first');
  });

  test('bypass and service_auth need no identity', () => {
    const ps = compile([policies.bypass, policies.service, policies.allow]);
    expect(evaluatePolicies(ps, undefined, CTX).outcome).toBe('bypass');
    expect(evaluatePolicies(ps, undefined, { ...CTX, path: '/x', serviceToken: { id: 'ci' } })).toMatchObject({ outcome: 'allow', reason: 'policy_service_auth' });
  });

  test('deny applies before login when it needs no identity', () => {
    const ps = compile([policies.deny, policies.allow]);
    expect(evaluatePolicies(ps, undefined, CTX)).toMatchObject({ outcome: 'deny', reason: 'policy_deny', policy: 'd' });
  });
});

describe('login_required vs policy_no_match', () => {
  test.each<[string, unknown[], Partial<RequestContext>, PolicyVerdict['reason']]>([
    ['allow everyone needs a login', [{ name: 'a', action: 'allow', include: [{ everyone: true }] }], {}, 'login_required'],
    ['allow by group could match after login', [{ name: 'a', action: 'allow', include: [{ group: ['eng'] }] }], {}, 'login_required'],
    ['allow limited to an IP range that excludes the client', [{ name: 'a', action: 'allow', include: [{ ip: ['192.168.0.0/16'] }] }], {}, 'policy_no_match'],
    ['allow whose require cannot hold for this request', [{ name: 'a', action: 'allow', include: [{ group: ['eng'] }], require: [{ country: ['US'] }] }], {}, 'policy_no_match'],
    ['allow whose exclude already matches', [{ name: 'a', action: 'allow', include: [{ everyone: true }], exclude: [{ country: ['DE'] }] }], {}, 'policy_no_match'],
    ['allow with identity exclude is still possible', [{ name: 'a', action: 'allow', include: [{ everyone: true }], exclude: [{ group: ['x'] }] }], {}, 'login_required'],
    ['no allow policies at all', [{ name: 'd', action: 'deny', include: [{ group: ['x'] }] }], {}, 'policy_no_match'],
    ['only a service_auth policy', [{ name: 's', action: 'service_auth', include: [{ any_service_token: true }] }], {}, 'policy_no_match'],
    ['no policies', [], {}, 'policy_no_match'],
    ['identity deny does not block the login', [
      { name: 'd', action: 'deny', include: [{ everyone: true }], exclude: [{ group: ['admins'] }] },
      { name: 'a', action: 'allow', include: [{ group: ['admins'] }] },
    ], {}, 'login_required'],
  ])('%s', (_n, raw, ctx, reason) => {
    const v = evaluatePolicies(compile(raw), undefined, { ...CTX, ...ctx });
    expect(v.reason).toBe(reason);
    expect(v.outcome).toBe(reason === 'login_required' ? 'login_required' : 'deny');
  });

  test('with an identity, no match is policy_no_match, never login_required', () => {
    const v = evaluatePolicies(compile([{ name: 'a', action: 'allow', include: [{ group: ['sales'] }] }]), ALICE, CTX);
    expect(v).toEqual({ outcome: 'deny', policy: undefined, reason: 'policy_no_match', detail: 'no policy matched: "a": no include rule matched' });
  });

  test('identity deny that matches after login denies', () => {
    const ps = compile([
      { name: 'd', action: 'deny', include: [{ everyone: true }], exclude: [{ group: ['admins'] }] },
      { name: 'a', action: 'allow', include: [{ everyone: true }] },
    ]);
    expect(evaluatePolicies(ps, { ...ALICE, groups: ['eng'] }, CTX)).toMatchObject({ outcome: 'deny', policy: 'd' });
    expect(evaluatePolicies(ps, ALICE, CTX)).toMatchObject({ outcome: 'allow', policy: 'a' });
  });
});

describe('CEL', () => {
  const verdict = (expr: string, where: 'include' | 'require' | 'exclude', action: 'allow' | 'deny', id: Identity | null = ALICE): PolicyVerdict => {
    const main = { name: 'rule', action, include: where === 'include' ? [{ cel: expr }] : [{ everyone: true }], ...(where === 'include' ? {} : { [where]: [{ cel: expr }] }) };
    const raw = action === 'deny' ? [main, { name: 'fallback', action: 'allow', include: [{ everyone: true }] }] : [main];
    return evaluatePolicies(compile(raw), id ?? undefined, CTX);
  };

  test.each([
    ['identity fields', 'identity.email == "alice@acme.test" && identity.name == "Alice" && identity.sub == "okta:00u1" && identity.email_verified'],
    ['idp and idp_type', 'identity.idp == "okta" && identity.idp_type == "oidc"'],
    ['lists', '"hwk" in identity.amr && identity.groups.exists(g, g.startsWith("adm")) && size(identity.groups) == 2'],
    ['auth_time is int seconds', `identity.auth_time == ${Math.floor(NOW / 1000) - 600}`],
    ['request.time is int seconds', `request.time - identity.auth_time == 600`],
    ['request fields', 'request.host == "wiki.acme.test" && request.path == "/docs/a" && request.method == "GET" && request.ip == "10.1.2.3" && request.country == "DE"'],
    ['certificate fields', `request.certificate.common_name == "device-1" && request.certificate.fingerprint256 == "${FP}" && "spiffe://acme.test/device-1" in request.certificate.uri && request.certificate.subject.startsWith("CN=")`],
    ['absent facts are absent keys', '!has(request.service_token)'],
    ['regex', 'request.path.matches("^/docs/[a-z]+$")'],
  ])('true: %s', (_n, expr) => {
    expect(verdict(expr, 'include', 'allow')).toMatchObject({ outcome: 'allow', policy: 'rule' });
  });

  test('false', () => {
    expect(verdict('request.method == "DELETE"', 'include', 'allow').reason).toBe('policy_no_match');
  });

  const broken = [
    ['runtime error', '1 / (size(identity.groups) - 2) == 0'],
    ['missing key', 'identity.nope == "x"'],
    ['non-bool result', 'identity.email'],
    ['int result', '1 + 1'],
    ['absent identity field', 'has(identity.email) && request.service_token == "x"'],
  ] as const;

  test.each(broken)('%s in an allow include: does not match', (_n, expr) => {
    const v = verdict(expr, 'include', 'allow');
    expect(v.reason).toBe('policy_no_match');
    expect(v.detail).toMatch(/failed to evaluate \(CEL/);
  });
  test.each(broken)('%s in an allow require: does not match', (_n, expr) => {
    expect(verdict(expr, 'require', 'allow').reason).toBe('policy_no_match');
  });
  test.each(broken)('%s in an allow exclude: excludes (fail closed)', (_n, expr) => {
    const v = verdict(expr, 'exclude', 'allow');
    expect(v.reason).toBe('policy_no_match');
    expect(v.detail).toMatch(/exclude\[0\] \(cel\) failed to evaluate/);
  });
  test.each(broken)('%s in a deny include: denies (fail closed)', (_n, expr) => {
    expect(verdict(expr, 'include', 'deny')).toMatchObject({ outcome: 'deny', policy: 'rule' });
  });
  test.each(broken)('%s in a deny exclude: does not exempt from the deny', (_n, expr) => {
    expect(verdict(expr, 'exclude', 'deny')).toMatchObject({ outcome: 'deny', policy: 'rule' });
  });

  test('a rule on identity is unknown before login: login_required, not an error', () => {
    expect(verdict('"eng" in identity.groups', 'include', 'allow', null).reason).toBe('login_required');
    expect(verdict('"eng" in identity.groups', 'include', 'deny', null).reason).toBe('login_required');
  });

  test('a rule on request only decides before login', () => {
    expect(verdict('request.country == "DE"', 'include', 'deny', null)).toMatchObject({ outcome: 'deny', policy: 'rule' });
  });

  test('a program is compiled once and reused across evaluations', () => {
    const ps = compile([{ name: 'p', action: 'allow', include: [{ cel: 'request.path == "/a"' }] }]);
    expect(evaluatePolicies(ps, ALICE, { ...CTX, path: '/a' }).outcome).toBe('allow');
    expect(evaluatePolicies(ps, ALICE, { ...CTX, path: '/b' }).outcome).toBe('deny');
    expect(evaluatePolicies(ps, ALICE, { ...CTX, path: '/a' }).outcome).toBe('allow');
  });

  test('the identity and certificate maps are built once per object and never shared between objects', () => {
    const first = buildCelBindings(ALICE, CTX);
    const again = buildCelBindings(ALICE, { ...CTX, path: '/other' });
    expect(again.identity).toBe(first.identity);
    expect(again.request.get('certificate')).toBe(first.request.get('certificate'));
    // The request map is per request: its facts change from one to the next.
    expect(again.request).not.toBe(first.request);
    expect(again.request.get('path')).toBe('/other');

    const bob: Identity = { ...ALICE, sub: 'okta:00u2', email: 'bob@acme.test', groups: ['sales'] };
    const otherCert = { ...CTX.certificate!, commonName: 'device-2', fingerprint256: 'cd'.repeat(32) };
    const b = buildCelBindings(bob, { ...CTX, certificate: otherCert });
    expect(b.identity).not.toBe(first.identity);
    expect(b.identity?.get('email')).toBe('bob@acme.test');
    expect(first.identity?.get('email')).toBe('alice@acme.test');
    expect((b.request.get('certificate') as ReadonlyMap<string, unknown>).get('common_name')).toBe('device-2');
    expect((first.request.get('certificate') as ReadonlyMap<string, unknown>).get('common_name')).toBe('device-1');
  });

  test('rules on identity and certificate follow the request\'s own identity and certificate, evaluation after evaluation', () => {
    const ps = compile([{ name: 'p', action: 'allow', include: [{ cel: '"eng" in identity.groups && request.certificate.common_name == "device-1"' }] }]);
    const bob: Identity = { ...ALICE, sub: 'okta:00u2', groups: ['sales'] };
    const otherCert = { ...CTX.certificate!, commonName: 'device-2' };
    for (let i = 0; i < 3; i++) {
      expect(evaluatePolicies(ps, ALICE, CTX).outcome).toBe('allow');
      expect(evaluatePolicies(ps, bob, CTX).outcome).toBe('deny');
      expect(evaluatePolicies(ps, ALICE, { ...CTX, certificate: otherCert }).outcome).toBe('deny');
      expect(evaluatePolicies(ps, ALICE, { ...CTX, certificate: undefined }).outcome).toBe('deny');
    }
  });
});

describe('fail closed on bad facts', () => {
  test('an unparseable source IP cannot satisfy an allow, and excludes', () => {
    const inc = compile([{ name: 'a', action: 'allow', include: [{ ip: ['0.0.0.0/0'] }] }]);
    expect(evaluatePolicies(inc, ALICE, { ...CTX, sourceIp: '999.1.1.1' }).outcome).toBe('deny');
    const exc = compile([{ name: 'a', action: 'allow', include: [{ everyone: true }], exclude: [{ ip: ['192.0.2.0/24'] }] }]);
    expect(evaluatePolicies(exc, ALICE, { ...CTX, sourceIp: 'not-an-ip' }).outcome).toBe('deny');
    expect(evaluatePolicies(exc, ALICE, CTX).outcome).toBe('allow');
  });

  test('a deny policy on IP applies when the source IP is unparseable', () => {
    const ps = compile([
      { name: 'd', action: 'deny', include: [{ ip: ['192.0.2.0/24'] }] },
      { name: 'a', action: 'allow', include: [{ everyone: true }] },
    ]);
    expect(evaluatePolicies(ps, ALICE, { ...CTX, sourceIp: 'junk' })).toMatchObject({ outcome: 'deny', policy: 'd' });
  });

  test('never throws, even on a malformed identity', () => {
    const ps = compile([{ name: 'a', action: 'allow', include: [{ group: ['eng'] }] }]);
    const bad = { ...ALICE, groups: null } as unknown as Identity;
    expect(evaluatePolicies(ps, bad, CTX)).toMatchObject({ outcome: 'deny', reason: 'policy_no_match' });
  });

  test('login_age uses the passed clock, not the wall clock', () => {
    const ps = compile([{ name: 'a', action: 'allow', include: [{ everyone: true }], require: [{ login_age: 3600 }] }]);
    expect(evaluatePolicies(ps, ALICE, { ...CTX, nowMs: ALICE.authTime + 3_600_000 }).outcome).toBe('allow');
    expect(evaluatePolicies(ps, ALICE, { ...CTX, nowMs: ALICE.authTime + 3_600_001 }).outcome).toBe('deny');
  });
});

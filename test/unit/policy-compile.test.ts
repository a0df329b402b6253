import { compilePolicies, type PolicyIssue } from '../../src/core/policy/index.js';

function issuesOf(raw: unknown[]): PolicyIssue[] {
  const r = compilePolicies(raw);
  if (r.ok) throw new Error('expected compile errors');
  return r.issues;
}

const allow = (include: unknown[], extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'p', action: 'allow', include, ...extra });

describe('compilePolicies: valid configs', () => {
  test('every selector compiles', () => {
    const r = compilePolicies([
      allow([
        { everyone: true }, { email: ['A@Acme.test'] }, { email_domain: ['acme.test'] }, { group: ['admins'] }, { idp: ['okta'] },
        { country: ['de'] }, { ip: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.1'] }, { certificate: true }, { certificate_cn: ['dev'] },
        { certificate_san: ['dev.acme.test'] }, { certificate_fingerprint: ['AB:'.repeat(31) + 'AB'] }, { amr: ['hwk'] },
        { login_age: 3600 }, { service_token: ['ci'] }, { any_service_token: true }, { cel: 'request.method == "GET"' },
      ]),
    ]);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.policies).toHaveLength(1);
      expect(r.policies[0]?.include.map((s) => s.kind)).toHaveLength(16);
      expect(Object.isFrozen(r.policies[0])).toBe(true);
    }
  });

  test('an empty policies list is valid', () => {
    expect(compilePolicies([])).toEqual({ ok: true, policies: [] });
  });

  test('service_auth guarded by require is valid', () => {
    expect(compilePolicies([{ name: 's', action: 'service_auth', include: [{ everyone: true }], require: [{ any_service_token: true }] }]).ok).toBe(true);
  });
});

describe('compilePolicies: every problem is an issue with a precise path', () => {
  test.each<[string, unknown[], (string | number)[], RegExp]>([
    ['not a list entry mapping', ['allow'], [0], /must be a mapping/],
    ['unknown selector, did you mean', [allow([{ emial: ['a@b.c'] }])], [0, 'include', 0, 'emial'], /unknown selector "emial"; did you mean "email"\?/],
    ['unknown selector, no close match', [allow([{ zzzzzzzz: 1 }])], [0, 'include', 0, 'zzzzzzzz'], /unknown selector "zzzzzzzz" \(known: /],
    ['two keys in one selector', [allow([{ email: ['a@b.c'], group: ['x'] }])], [0, 'include', 0], /exactly one key, got 2 \(email, group\)/],
    ['empty selector mapping', [allow([{}])], [0, 'include', 0], /exactly one key/],
    ['selector not a mapping', [allow(['everyone'])], [0, 'include', 0], /must be a mapping/],
    ['wrong type: list expected', [allow([{ group: 'admins' }])], [0, 'include', 0, 'group'], /must be a list of strings, got the string "admins"/],
    ['wrong type: list entry', [allow([{ group: ['ok', 7] }])], [0, 'include', 0, 'group', 1], /non-empty string, got number 7/],
    ['empty value list', [allow([{ email_domain: [] }])], [0, 'include', 0, 'email_domain'], /must not be an empty list/],
    ['everyone: false', [allow([{ everyone: false }])], [0, 'include', 0, 'everyone'], /must be true.*remove the selector/],
    ['certificate: "yes"', [allow([{ certificate: 'yes' }])], [0, 'include', 0, 'certificate'], /must be true/],
    ['login_age negative', [allow([{ login_age: -5 }])], [0, 'include', 0, 'login_age'], /positive whole number of seconds/],
    ['login_age string', [allow([{ login_age: '1h' }])], [0, 'include', 0, 'login_age'], /positive whole number/],
    ['bad email', [allow([{ email: ['nobody'] }])], [0, 'include', 0, 'email', 0], /not an email address/],
    ['email_domain with @', [allow([{ email_domain: ['@acme.test'] }])], [0, 'include', 0, 'email_domain', 0], /without "@" \(e\.g\. "acme\.test"\)/],
    ['bad country', [allow([{ country: ['Germany'] }])], [0, 'include', 0, 'country', 0], /ISO 3166 alpha-2/],
    ['bad CIDR', [allow([{ ip: ['10.0.0.0/8', '10.0.0.0/40'] }])], [0, 'include', 0, 'ip', 1], /prefix length must be a number from 0 to 32/],
    ['host bits in CIDR', [allow([{ ip: ['10.0.0.1/8'] }])], [0, 'include', 0, 'ip', 0], /did you mean "10\.0\.0\.0\/8"/],
    ['bad fingerprint', [allow([{ certificate_fingerprint: ['abcd'] }])], [0, 'include', 0, 'certificate_fingerprint', 0], /SHA-256 fingerprint/],
    ['bad CEL syntax', [allow([{ everyone: true }, { cel: 'request.path ==' }])], [0, 'include', 1, 'cel'], /CEL syntax error: .*1:/],
    ['CEL unknown variable', [allow([{ cel: 'user.email == "x"' }])], [0, 'include', 0, 'cel'], /unknown variable "user"/],
    ['CEL unknown function', [allow([{ cel: 'lower(identity.email) == "x"' }])], [0, 'include', 0, 'cel'], /unknown function "lower"/],
    ['CEL unknown method', [allow([{ cel: 'identity.email.lowerAscii() == "x"' }])], [0, 'include', 0, 'cel'], /unknown function "lowerAscii"/],
    ['CEL loop variable used outside its loop', [allow([{ cel: 'identity.groups.exists(g, g == "a") && g == "a"' }])], [0, 'include', 0, 'cel'], /unknown variable "g"/],
    ['CEL not a string', [allow([{ cel: true }])], [0, 'include', 0, 'cel'], /must be a CEL expression string/],
    ['CEL empty', [allow([{ cel: '  ' }])], [0, 'include', 0, 'cel'], /empty/],
    ['CEL too long', [allow([{ cel: `${'true && '.repeat(600)}true` }])], [0, 'include', 0, 'cel'], /longer than 4096/],
    ['unknown action, did you mean', [{ name: 'p', action: 'alow', include: [{ everyone: true }] }], [0, 'action'], /unknown action the string "alow"; did you mean "allow"\?/],
    ['missing action', [{ name: 'p', include: [{ everyone: true }] }], [0, 'action'], /missing action/],
    ['missing name', [{ action: 'allow', include: [{ everyone: true }] }], [0, 'name'], /non-empty name/],
    ['no include', [{ name: 'p', action: 'allow', require: [{ everyone: true }] }], [0, 'include'], /needs an include list/],
    ['empty include', [allow([])], [0, 'include'], /include must not be empty/],
    ['empty exclude', [allow([{ everyone: true }], { exclude: [] })], [0, 'exclude'], /exclude must not be empty/],
    ['require not a list', [allow([{ everyone: true }], { require: { amr: ['hwk'] } })], [0, 'require'], /must be a list of selectors, got a mapping/],
    ['unknown policy key (typo of exclude)', [allow([{ everyone: true }], { exlude: [{ group: ['x'] }] })], [0, 'exlude'], /did you mean "exclude"\?/],
    ['service_auth without token selector', [{ name: 's', action: 'service_auth', include: [{ everyone: true }] }], [0, 'include'], /service_auth policy must only match requests with a service token/],
    ['service_auth with a token only in one include branch', [{ name: 's', action: 'service_auth', include: [{ any_service_token: true }, { ip: ['10.0.0.0/8'] }] }], [0, 'include'], /service_auth/],
    ['bypass with identity selector', [{ name: 'b', action: 'bypass', include: [{ everyone: true }], exclude: [{ group: ['x'] }] }], [0, 'exclude', 0, 'group'], /bypass policy is evaluated without a login/],
    ['bypass with CEL on identity', [{ name: 'b', action: 'bypass', include: [{ cel: '"x" in identity.groups' }] }], [0, 'include', 0, 'cel'], /bypass/],
  ])('%s', (_what, raw, path, message) => {
    const issues = issuesOf(raw);
    const hit = issues.find((i) => JSON.stringify(i.path) === JSON.stringify(path));
    expect({ paths: issues.map((i) => i.path), found: hit !== undefined }).toEqual({ paths: expect.arrayContaining([path]) as unknown, found: true });
    expect(hit?.message).toMatch(message);
  });

  test('duplicate names point at the second one and name the first', () => {
    const issues = issuesOf([allow([{ everyone: true }]), { name: 'q', action: 'deny', include: [{ everyone: true }] }, allow([{ everyone: true }])]);
    expect(issues).toEqual([{ path: [2, 'name'], message: 'duplicate policy name "p" (first used by policy 0)' }]);
  });

  test('all problems are reported at once, across policies', () => {
    const issues = issuesOf([
      allow([{ emial: ['x@y.z'] }, { ip: ['nope'] }]),
      { name: 'two', action: 'permit', include: [{ cel: '1 +' }] },
    ]);
    expect(issues.map((i) => i.path)).toEqual([
      [0, 'include', 0, 'emial'],
      [0, 'include', 1, 'ip', 0],
      [1, 'action'],
      [1, 'include', 0, 'cel'],
    ]);
  });

  test.each([
    'identity.groups.exists(g, g.startsWith("a")) && identity.amr.all(a, a != "none")',
    '{"k": request.path}["k"] == "/" || [1, 2].exists_one(x, x == 1)',
    'type(request.path) == string && int(request.time) > 0 && size(identity.groups) >= 0',
    'has(request.certificate) && request.certificate.dns.filter(d, d.endsWith(".acme.test")).size() > 0',
  ])('valid CEL compiles: %s', (expr) => {
    expect(compilePolicies([allow([{ cel: expr }])]).ok).toBe(true);
  });

  test('bypass with network selectors only is fine', () => {
    expect(compilePolicies([{ name: 'b', action: 'bypass', include: [{ ip: ['10.0.0.0/8'] }], require: [{ cel: 'request.path.startsWith("/public/")' }] }]).ok).toBe(true);
  });
});

import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_DEFAULTS } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import type { BouncerConfig, IdpConfig } from '../../src/config/types.js';
import { formatDuration, parseDuration } from '../../src/config/values.js';
import { watchConfig } from '../../src/config/watch.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import { packageRoot } from '../../src/paths.js';
import type { Identity, RequestContext } from '../../src/core/identity.js';
import { evaluatePolicies } from '../../src/core/policy/evaluate.js';
import type { CompiledPolicy, PolicyVerdict } from '../../src/core/policy/types.js';

let dir: string;
const p = (...parts: string[]): string => join(dir, ...parts);
const write = (name: string, text: string): string => {
  writeFileSync(p(name), text);
  return p(name);
};

const SECRET = 'sup3r-s3cret-okta-value';
const FILE_SECRET = 'gh-file-secret-value';
const TOKEN_HASH = createHash('sha256').update('ci-bot-secret').digest('hex');
const METADATA = [
  '<?xml version="1.0" encoding="UTF-8"?>',
  '<!-- exported from the IdP -->',
  '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.corp.test/">',
  '  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>',
  '</md:EntityDescriptor>',
  '',
].join('\n');

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-identity-'));
  mkdirSync(p('secrets'));
  write('secrets/gh.secret', `  ${FILE_SECRET}\n`);
  write('secrets/empty.secret', '\n \n');
  write('idp.xml', METADATA);
  write('sp.xml', METADATA.replace('IDPSSODescriptor', 'SPSSODescriptor'));
  write('page.html', '<html><body>Not found</body></html>');
  write('doctype.xml', `<!DOCTYPE foo [ <!ENTITY x "y"> ]>\n${METADATA}`);
  write('not-a-dir', 'x');
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function load(name: string, lines: string[], env: NodeJS.ProcessEnv = {}): Promise<BouncerConfig> {
  return loadConfig(write(name, `${lines.join('\n')}\n`), env);
}

async function loadError(name: string, lines: string[], env: NodeJS.ProcessEnv = {}): Promise<ConfigError> {
  const err: unknown = await load(name, lines, env).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err;
}

/** A complete, valid identity config using every field; cases below change single lines of it. */
const FULL: readonly string[] = [
  'auth:', // 1
  '  domain: Auth.Acme.Test', // 2
  '  session: { duration: 8h, key_rotation_days: 14, keys_dir: ./keys }', // 3
  '  country_header: CF-IPCountry', // 4
  'idps:', // 5
  '  - id: okta', // 6
  '    type: oidc', // 7
  '    preset: okta', // 8
  '    issuer: https://acme.okta.test/oauth2/default', // 9
  '    client_id: okta-client', // 10
  '    client_secret_env: OKTA_SECRET', // 11
  '    groups_claim: roles', // 12
  '  - id: google', // 13
  '    type: oidc', // 14
  '    preset: google', // 15
  '    client_id: google-client', // 16
  '    client_secret_env: GOOGLE_SECRET', // 17
  '    scopes: [openid, email]', // 18
  '  - id: gh', // 19
  '    type: github', // 20
  '    client_id: gh-client', // 21
  '    client_secret_file: secrets/gh.secret', // 22
  '    orgs: [Acme, acme-labs]', // 23
  '    api_url: http://127.0.0.1:4010/', // 24
  '    authorize_url: http://localhost:4010/login/oauth/authorize', // 25
  '    token_url: http://localhost:4010/login/oauth/access_token', // 26
  '  - { id: corp, type: saml, metadata_file: ./idp.xml }', // 27
  '  - { id: corp-2, type: saml, metadata_file: ./idp.xml, entity_id: "urn:acme:bouncer" }', // 28
  'apps:', // 29
  '  - name: wiki', // 30
  '    hostnames: [Wiki.Acme.Test, "*.wiki.acme.test"]', // 31
  '    idps: [okta, gh, corp]', // 32
  '    session_duration: 1h30m', // 33
  '    api_paths: ["/api/*", /healthz]', // 34
  '    policies:', // 35
  '      - name: staff', // 36
  '        action: allow', // 37
  '        include:', // 38
  '          - email_domain: [acme.test]', // 39
  '          - group: [admins]', // 40
  '        require:', // 41
  '          - amr: [hwk]', // 42
  '        exclude:', // 43
  '          - email: [intern@acme.test]', // 44
  '      - name: ci', // 45
  '        action: service_auth', // 46
  '        include: [ { service_token: [ci-bot] } ]', // 47
  '      - name: corp-only', // 48
  '        action: allow', // 49
  '        include: [ { idp: [corp] }, { cel: "identity.email.endsWith(\'@corp.test\')" } ]', // 50
  '  - name: grafana', // 51
  '    hostnames: [grafana.acme.test]', // 52
  '    idps: [google, corp-2]', // 53
  '    policies:', // 54
  '      - { name: everyone, action: allow, include: [ { everyone: true } ] }', // 55
  'service_tokens:', // 56
  `  - { id: ci-bot, client_id: ci-client, secret_sha256: ${TOKEN_HASH.toUpperCase()} }`, // 57
  'tenants:', // 58
  '  - { name: open, hostnames: [wiki.acme.test], mtls: { mode: "off" } }', // 59
];

const ENV = { OKTA_SECRET: SECRET, GOOGLE_SECRET: ` ${SECRET}-g \n` };

/** FULL with line `n` (1-based) replaced by `text`, or removed when `text` is undefined. */
function edit(edits: Record<number, string | undefined>, base: readonly string[] = FULL): string[] {
  return base.flatMap((line, i) => (i + 1 in edits ? (edits[i + 1] === undefined ? [] : [edits[i + 1] as string]) : [line]));
}

const NOW = Date.UTC(2030, 0, 1);

/** Asks the compiled policies about one user on the wiki. */
function decide(policies: readonly CompiledPolicy[], who: { email: string; amr: string[]; idp: string }): PolicyVerdict {
  const identity: Identity = {
    sub: `${who.idp}:${who.email}`,
    email: who.email,
    emailVerified: true,
    name: undefined,
    groups: [],
    idp: { id: who.idp, type: 'oidc' },
    amr: who.amr,
    authTime: NOW - 60_000,
  };
  const ctx: RequestContext = { nowMs: NOW, host: 'wiki.acme.test', path: '/', method: 'GET', sourceIp: '10.0.0.1', country: undefined, certificate: undefined, serviceToken: undefined };
  return evaluatePolicies(policies, identity, ctx);
}

describe('identity config: happy path', () => {
  test('every field, with secrets, metadata and policies read in', async () => {
    const config = await load('full.yaml', [...FULL], ENV);
    expect(config.auth).toEqual({ domain: 'auth.acme.test', sessionDurationSec: 8 * 3600, keyRotationDays: 14, keysDir: p('keys'), countryHeader: 'cf-ipcountry' });
    const [okta, google, gh, corp, corp2] = config.idps as [IdpConfig, IdpConfig, IdpConfig, IdpConfig, IdpConfig];
    expect(okta).toEqual({
      id: 'okta',
      type: 'oidc',
      preset: 'okta',
      issuer: 'https://acme.okta.test/oauth2/default',
      clientId: 'okta-client',
      clientSecret: SECRET,
      scopes: ['openid', 'email', 'profile', 'groups'],
      groupsClaim: 'roles',
      idTokenSigningAlgs: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    });
    expect(google).toEqual({
      id: 'google',
      type: 'oidc',
      preset: 'google',
      issuer: 'https://accounts.google.com',
      clientId: 'google-client',
      clientSecret: `${SECRET}-g`,
      scopes: ['openid', 'email'],
      groupsClaim: 'groups',
      idTokenSigningAlgs: ['RS256', 'PS256', 'ES256', 'EdDSA'],
    });
    expect(gh).toEqual({
      id: 'gh',
      type: 'github',
      clientId: 'gh-client',
      clientSecret: FILE_SECRET,
      orgs: ['acme', 'acme-labs'],
      apiUrl: 'http://127.0.0.1:4010',
      authorizeUrl: 'http://localhost:4010/login/oauth/authorize',
      tokenUrl: 'http://localhost:4010/login/oauth/access_token',
    });
    expect(corp).toEqual({ id: 'corp', type: 'saml', metadataXml: METADATA, entityId: 'https://auth.acme.test/saml/corp' });
    expect(corp2).toMatchObject({ id: 'corp-2', entityId: 'urn:acme:bouncer' });

    const [wiki, grafana] = config.apps;
    expect(wiki).toMatchObject({
      name: 'wiki',
      hostnames: ['wiki.acme.test', '*.wiki.acme.test'],
      idps: ['okta', 'gh', 'corp'],
      sessionDurationSec: 5400,
      apiPaths: ['/api/*', '/healthz'],
    });
    expect(wiki?.policies.map((x) => [x.name, x.action])).toEqual([
      ['staff', 'allow'],
      ['ci', 'service_auth'],
      ['corp-only', 'allow'],
    ]);
    expect(wiki?.policies[0]?.include.map((s) => s.kind)).toEqual(['email_domain', 'group']);
    expect(wiki?.policies[0]?.require.map((s) => s.kind)).toEqual(['amr']);
    expect(wiki?.policies[0]?.exclude.map((s) => s.kind)).toEqual(['email']);
    expect(wiki?.policies[2]?.include.map((s) => s.kind)).toEqual(['idp', 'cel']);
    // The app without its own duration takes auth's.
    expect(grafana).toMatchObject({ name: 'grafana', hostnames: ['grafana.acme.test'], idps: ['google', 'corp-2'], sessionDurationSec: 8 * 3600, apiPaths: [] });
    expect(config.serviceTokens).toEqual([{ id: 'ci-bot', clientId: 'ci-client', secretSha256: TOKEN_HASH }]);

    // The same hostname in a tenant and an app is fine: mTLS and identity stack.
    expect(config.tenants[0]?.hostnames).toEqual(['wiki.acme.test']);
    // Secret and metadata files are watched; env secrets and keys_dir are not files read.
    expect(config.files).toEqual([p('full.yaml'), p('secrets', 'gh.secret'), p('idp.xml')]);
    expect(config.warnings).toEqual([]);
    for (const o of [config.auth, config.idps, okta, gh, config.apps, wiki, wiki?.hostnames, wiki?.policies, wiki?.policies[0], config.serviceTokens]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    // Secrets never show up in what is printed about a config.
    expect(JSON.stringify(config.warnings)).not.toContain(SECRET);
  });

  test('the compiled policies are the real thing: they decide', async () => {
    const config = await load('decide.yaml', [...FULL], ENV);
    const wiki = config.apps[0];
    if (!wiki) throw new Error('no app');
    expect(decide(wiki.policies, { email: 'ann@acme.test', amr: ['hwk'], idp: 'okta' }).outcome).toBe('allow');
    expect(decide(wiki.policies, { email: 'intern@acme.test', amr: ['hwk'], idp: 'okta' }).outcome).toBe('deny');
    expect(decide(wiki.policies, { email: 'ann@acme.test', amr: ['pwd'], idp: 'okta' }).outcome).toBe('deny');
    expect(decide(wiki.policies, { email: 'bob@corp.test', amr: [], idp: 'gh' }).outcome).toBe('allow');
  });

  test('defaults: session 8h, rotation 30 days, keys in memory (with a warning), generic OIDC scopes; no tenants needed with apps', async () => {
    const config = await load(
      'defaults.yaml',
      [
        'auth: { domain: auth.acme.test }',
        'idps:',
        '  - { id: kc, type: oidc, issuer: "http://[::1]:8080/realms/acme", client_id: bouncer, client_secret_env: KC }',
        'apps:',
        '  - { name: app, hostnames: [app.acme.test], idps: [kc], policies: [ { name: all, action: allow, include: [ { everyone: true } ] } ] }',
      ],
      { KC: 'x' },
    );
    expect(config.auth).toEqual({ domain: 'auth.acme.test', sessionDurationSec: CONFIG_DEFAULTS.auth.sessionDurationSec, keyRotationDays: 30, keysDir: undefined, countryHeader: undefined });
    expect(config.auth?.sessionDurationSec).toBe(8 * 3600);
    expect(config.idps[0]).toMatchObject({ preset: 'generic', scopes: ['openid', 'email', 'profile'], groupsClaim: 'groups' });
    expect(config.tenants).toEqual([]);
    expect(config.serviceTokens).toEqual([]);
    expect(config.warnings).toEqual([expect.stringMatching(/^auth\.session\.keys_dir is not set: session signing keys are kept in memory/)]);
  });

  test('auth.public_url is reduced to its origin: scheme, host (auth.domain) and port', async () => {
    const lines = ['auth: { domain: Auth.Acme.Test, public_url: "HTTPS://auth.acme.test:8443/" }', 'idps:', '  - { id: kc, type: oidc, issuer: "http://[::1]:8080/realms/acme", client_id: bouncer, client_secret_env: KC }', 'apps:', '  - { name: app, hostnames: [app.acme.test], idps: [kc], policies: [ { name: all, action: allow, include: [ { everyone: true } ] } ] }'];
    expect((await load('public-url.yaml', lines, { KC: 'x' })).auth?.publicUrl).toBe('https://auth.acme.test:8443');
    lines[0] = 'auth: { domain: auth.acme.test, public_url: "https://auth.acme.test:443" }';
    expect((await load('public-url-443.yaml', lines, { KC: 'x' })).auth?.publicUrl).toBe('https://auth.acme.test');
  });

  test('an ID token algorithm allow-list is read per IdP, HS256 only when written down', async () => {
    const config = await load('algs.yaml', edit({ 12: '    id_token_signing_alg_values: [ES256, HS256, ES256]' }), ENV);
    expect(config.idps[0]).toMatchObject({ id: 'okta', idTokenSigningAlgs: ['ES256', 'HS256'] });
    expect(config.idps[1]).toMatchObject({ id: 'google', idTokenSigningAlgs: CONFIG_DEFAULTS.oidc.idTokenSigningAlgs });
    expect((CONFIG_DEFAULTS.oidc.idTokenSigningAlgs as readonly string[]).some((a) => a.startsWith('HS') || a === 'none')).toBe(false);
  });

  test('a config without identity sections has none', async () => {
    const config = await load('plain.yaml', ['tenants: []']);
    expect(config.auth).toBeUndefined();
    expect(config.idps).toEqual([]);
    expect(config.apps).toEqual([]);
    expect(config.serviceTokens).toEqual([]);
  });

  test('warnings: unused idp, empty policies, duplicate hostname and idp in one app', async () => {
    const config = await load(
      'warn-id.yaml',
      [
        'auth: { domain: auth.acme.test, session: { keys_dir: ./keys } }',
        'idps:',
        '  - { id: a, type: saml, metadata_file: ./idp.xml }',
        '  - { id: b, type: saml, metadata_file: ./idp.xml }',
        'apps:',
        '  - { name: app, hostnames: [x.acme.test, X.acme.test], idps: [a, a], policies: [] }',
      ],
      {},
    );
    expect(config.warnings).toEqual([
      'app app: hostname x.acme.test is listed twice',
      'app app: idp a is listed twice',
      'app app: policies is empty, so every request to it is denied',
      'idp b is not used by any app',
    ]);
    expect(config.files).toEqual([p('warn-id.yaml'), p('idp.xml')]);
  });
});

interface Expected {
  line?: number;
  /** Text at the reported column of that line. */
  at?: string;
  field: string;
  message: string | RegExp;
}

interface BadCase {
  name: string;
  yaml: string[];
  env?: NodeJS.ProcessEnv;
  issues: Expected[];
}

const CASES: BadCase[] = [
  {
    name: 'unknown selector deep inside a policy, reported at its line',
    yaml: edit({ 40: '          - gruop: [admins]' }),
    issues: [{ line: 40, at: 'gruop', field: 'apps[0].policies[0].include[1].gruop', message: /^unknown selector "gruop"; did you mean "group"\?/ }],
  },
  {
    name: 'bad CEL',
    yaml: edit({ 50: '        include: [ { idp: [corp] }, { cel: "identity.email ==" } ]' }),
    issues: [{ line: 50, at: '"identity.email ==', field: 'apps[0].policies[2].include[1].cel', message: /\S/ }],
  },
  {
    name: 'unknown policy key and bad action, each at its place',
    yaml: edit({ 37: '        action: alow', 38: '        inclde:', 39: '          - email_domain: [acme.test]', 40: '        include: [ { everyone: true } ]' }),
    issues: [
      { line: 37, at: 'alow', field: 'apps[0].policies[0].action', message: /unknown action .*alow.*did you mean "allow"/ },
      { line: 38, at: 'inclde', field: 'apps[0].policies[0].inclde', message: /^unknown policy key "inclde"; did you mean "include"\?/ },
    ],
  },
  {
    name: 'idp selector naming an idp the app does not offer; service token selector naming no token',
    yaml: edit({ 47: '        include: [ { service_token: [ci-bot, cd-bot] } ]', 50: '        include: [ { idp: [corp, google] } ]' }),
    issues: [
      { line: 47, at: 'cd-bot', field: 'apps[0].policies[1].include[0].service_token[1]', message: "service token 'cd-bot' is not defined in service_tokens, so this selector can never match" },
      { line: 50, at: 'google', field: 'apps[0].policies[2].include[0].idp[1]', message: "idp 'google' is not one of this app's idps (okta, gh, corp), so this selector can never match" },
    ],
  },
  {
    name: 'app idp not defined',
    yaml: edit({ 32: '    idps: [okta, github, corp]' }),
    issues: [{ line: 32, at: 'github', field: 'apps[0].idps[1]', message: "idp 'github' is not defined in idps (defined: okta, google, gh, corp, corp-2)" }],
  },
  {
    name: 'app with an empty idps list',
    yaml: edit({ 32: '    idps: []' }),
    issues: [{ line: 32, at: '[]', field: 'apps[0].idps', message: 'idps must list at least one entry' }],
  },
  {
    name: 'duplicate app hostname (after normalisation) and duplicate app name',
    yaml: edit({ 51: '  - name: wiki', 52: '    hostnames: [WIKI.acme.test.]' }),
    issues: [
      { line: 51, at: 'wiki', field: 'apps[1].name', message: "app name 'wiki' is already used by apps[0] (line 30); names must be unique" },
      { line: 52, at: 'WIKI', field: 'apps[1].hostnames[0]', message: "hostname 'wiki.acme.test' is claimed by both app 'wiki' (line 31) and app 'wiki'; a hostname belongs to at most one app" },
    ],
  },
  {
    name: 'missing env secret: named, never valued',
    yaml: [...FULL],
    env: { GOOGLE_SECRET: 'g' },
    issues: [{ line: 11, at: 'OKTA_SECRET', field: 'idps[0].client_secret_env', message: 'environment variable OKTA_SECRET is not set; it must hold the client secret' }],
  },
  {
    name: 'empty env secret',
    yaml: [...FULL],
    env: { OKTA_SECRET: SECRET, GOOGLE_SECRET: '  ' },
    issues: [{ line: 17, at: 'GOOGLE_SECRET', field: 'idps[1].client_secret_env', message: 'environment variable GOOGLE_SECRET is empty; it must hold the client secret' }],
  },
  {
    name: 'a secret pasted into client_secret_env or written inline is not echoed',
    yaml: edit({ 11: `    client_secret_env: "${SECRET}"`, 22: `    client_secret: ${SECRET}` }),
    issues: [
      { line: 11, at: `"${SECRET}`, field: 'idps[0].client_secret_env', message: /^client_secret_env must be the name of an environment variable .*not the secret itself$/ },
      { line: 22, at: 'client_secret', field: 'idps[2].client_secret', message: /^secrets are never written in the config file: use client_secret_env .* or client_secret_file/ },
      { line: 19, at: 'id', field: 'idps[2].client_secret_env', message: /^a client secret is required: set client_secret_env/ },
    ],
  },
  {
    name: 'secret file missing, secret file empty, both kinds given',
    yaml: edit({ 22: '    client_secret_file: ./secrets/none', 17: '    client_secret_file: ./secrets/empty.secret', 10: '    client_id: okta-client\n    client_secret_file: x' }).flatMap((l) => l.split('\n')),
    issues: [
      { line: 11, at: 'client_secret_file', field: 'idps[0].client_secret_file', message: 'give either client_secret_env or client_secret_file, not both' },
      { line: 18, at: './secrets/empty', field: 'idps[1].client_secret_file', message: /^client secret file .*empty\.secret is empty$/ },
      { line: 23, at: './secrets/none', field: 'idps[2].client_secret_file', message: /^cannot read client secret file .*none: no such file or directory \(ENOENT\)$/ },
    ],
  },
  {
    name: 'auth missing while apps exist',
    yaml: FULL.slice(4),
    issues: [{ line: 25, at: 'apps', field: 'auth', message: /^auth is required when apps are configured/ }],
  },
  {
    name: 'bad durations',
    yaml: edit({ 3: '  session: { duration: 8 hours, key_rotation_days: 0 }', 33: '    session_duration: 31d' }),
    issues: [
      { line: 3, at: '8 hours', field: 'auth.session.duration', message: "'8 hours' is not a duration: write whole seconds or units d, h, m, s in that order, such as 8h, 30m, 90s, 1d or 1h30m" },
      { line: 3, at: '0 }', field: 'auth.session.key_rotation_days', message: 'key_rotation_days must be a whole number from 1 to 365; got 0' },
      { line: 33, at: '31d', field: 'apps[0].session_duration', message: 'session_duration must be from 1m to 30d; got 31d' },
    ],
  },
  {
    name: 'auth domain that is an app hostname, or covered by an app wildcard',
    yaml: edit({ 2: '  domain: x.wiki.acme.test' }),
    issues: [{ line: 2, at: 'x.wiki', field: 'auth.domain', message: "auth domain 'x.wiki.acme.test' is covered by the hostname '*.wiki.acme.test' of app 'wiki' (line 31); the login service needs a hostname of its own" }],
  },
  {
    name: 'auth domain invalid, country header invalid',
    yaml: edit({ 2: '  domain: "auth.acme.test:8443"', 4: '  country_header: "cf ipcountry"' }),
    issues: [
      { line: 2, at: '"auth', field: 'auth.domain', message: /includes a port/ },
      { line: 4, at: '"cf', field: 'auth.country_header', message: "'cf ipcountry' is not a valid HTTP header name" },
    ],
  },
  {
    name: 'public URL with a path, or on another host than auth.domain',
    yaml: edit({ 4: '  public_url: https://auth.acme.test:8443/login' }),
    issues: [{ line: 4, at: 'https', field: 'auth.public_url', message: "'https://auth.acme.test:8443/login' has a path, query or fragment; only scheme, host and port belong here" }],
  },
  {
    name: 'public URL on another host',
    yaml: edit({ 4: '  public_url: https://login.acme.test' }),
    issues: [{ line: 4, at: 'https', field: 'auth.public_url', message: "host 'login.acme.test' is not auth.domain 'auth.acme.test'; the public URL names the login service's own hostname (only the port may differ)" }],
  },
  {
    name: 'public URL not https',
    yaml: edit({ 4: '  public_url: http://auth.acme.test:8080' }),
    issues: [{ line: 4, at: 'http', field: 'auth.public_url', message: /is not https/ }],
  },
  {
    name: 'idp ids: invalid and duplicate',
    yaml: edit({ 13: '  - id: Google', 19: '  - id: okta' }),
    issues: [
      { line: 13, at: 'Google', field: 'idps[1].id', message: /^id must be 1 to 63 characters of a-z, 0-9, '-' and '_'.*; got 'Google'$/ },
      { line: 19, at: 'okta', field: 'idps[2].id', message: "idp id 'okta' is already used by idps[0] (line 6); ids must be unique" },
      { line: 32, at: 'gh', field: 'apps[0].idps[1]', message: "idp 'gh' is not defined in idps (defined: okta, corp, corp-2)" },
      { line: 53, at: 'google', field: 'apps[1].idps[0]', message: /^idp 'google' is not defined in idps/ },
    ],
  },
  {
    name: 'URLs: http only on loopback; no query, no user info, https only',
    yaml: edit({ 9: '    issuer: http://acme.okta.test', 24: '    api_url: "https://user:pw@api.github.test"', 25: '    authorize_url: ftp://github.test/x', 26: '    token_url: "https://github.test/token?x=1"' }),
    issues: [
      { line: 9, at: 'http://', field: 'idps[0].issuer', message: "'http://acme.okta.test' must use https; plain http is accepted only for localhost, 127.0.0.1 and [::1] (tests)" },
      { line: 24, at: '"https', field: 'idps[2].api_url', message: /must not carry a user name or password$/ },
      { line: 25, at: 'ftp', field: 'idps[2].authorize_url', message: "'ftp://github.test/x' must be an https URL; got the scheme 'ftp'" },
      { line: 26, at: '"https', field: 'idps[2].token_url', message: "'https://github.test/token?x=1' must not have a query ('?')" },
    ],
  },
  {
    name: 'OIDC: issuer missing for a generic preset, unknown preset, scopes without openid, wrong type key',
    yaml: edit({ 9: undefined, 15: '    preset: gogle', 18: '    scopes: [email]', 23: '    ogrs: [acme]' }),
    issues: [
      { line: 6, at: 'id', field: 'idps[0].issuer', message: /^issuer is required with preset okta:/ },
      { line: 14, at: 'gogle', field: 'idps[1].preset', message: "preset must be one of generic, okta, google, azure, keycloak; got 'gogle'" },
      { line: 17, at: '[email]', field: 'idps[1].scopes', message: /^scopes must include openid/ },
      { line: 22, at: 'ogrs', field: 'idps[2].ogrs', message: /^unknown field 'ogrs' \(did you mean 'orgs'\?\)/ },
    ],
  },
  {
    name: 'OIDC: an ID token algorithm allow-list with none in it is refused',
    yaml: edit({ 12: '    id_token_signing_alg_values: [RS256, none]' }),
    issues: [{ line: 12, at: 'none', field: 'idps[0].id_token_signing_alg_values[1]', message: /^id_token_signing_alg_values must be one of RS256, .*HS512; got 'none'/ }],
  },
  {
    name: 'idp type missing or unknown',
    yaml: edit({ 7: undefined, 20: '    type: gitlab' }),
    issues: [
      { line: 6, at: 'id', field: 'idps[0].type', message: 'type is required: one of oidc, github, saml' },
      { line: 19, at: 'gitlab', field: 'idps[2].type', message: "type must be one of oidc, github, saml; got 'gitlab'" },
    ],
  },
  {
    name: 'SAML metadata: missing, not XML, SP metadata, DOCTYPE',
    yaml: edit({
      27: '  - { id: corp, type: saml, metadata_file: ./nope.xml }\n  - { id: c2, type: saml, metadata_file: ./page.html }\n  - { id: c3, type: saml, metadata_file: ./sp.xml }\n  - { id: c4, type: saml, metadata_file: ./doctype.xml, entity_id: "not a uri" }',
    }).flatMap((l) => l.split('\n')),
    issues: [
      { line: 27, at: './nope', field: 'idps[3].metadata_file', message: /^cannot read SAML metadata file .*nope\.xml: no such file or directory \(ENOENT\)$/ },
      { line: 28, at: './page', field: 'idps[4].metadata_file', message: /page\.html is not SAML metadata: its root element must be an EntityDescriptor/ },
      { line: 29, at: './sp', field: 'idps[5].metadata_file', message: /sp\.xml has no IDPSSODescriptor/ },
      { line: 30, at: './doctype', field: 'idps[6].metadata_file', message: /doctype\.xml contains a DOCTYPE/ },
      { line: 30, at: '"not a uri"', field: 'idps[6].entity_id', message: "entity_id must be a URI, such as https://auth.acme.example/saml/corp; got 'not a uri'" },
    ],
  },
  {
    name: 'service tokens: bad hash (not echoed), inline secret, duplicate id and client_id',
    yaml: edit({
      57: [
        FULL[56] ?? '',
        '  - { id: ci-bot, client_id: ci-client, secret_sha256: not-a-hash-but-a-secret }',
        `  - { id: other, client_id: other, secret: hunter2, secret_sha256: ${TOKEN_HASH} }`,
      ].join('\n'),
    }).flatMap((l) => l.split('\n')),
    issues: [
      { line: 58, at: 'ci-bot', field: 'service_tokens[1].id', message: "service token id 'ci-bot' is already used by service_tokens[0] (line 57); it must be unique" },
      { line: 58, at: 'ci-client', field: 'service_tokens[1].client_id', message: "client_id 'ci-client' is already used by service_tokens[0] (line 57); it must be unique" },
      { line: 58, at: 'not-a-hash', field: 'service_tokens[1].secret_sha256', message: /^secret_sha256 must be 64 hexadecimal digits.*the value is not shown here/ },
      { line: 59, at: 'secret:', field: 'service_tokens[2].secret', message: /^the secret itself is never written in the config file: write secret_sha256/ },
    ],
  },
  {
    name: 'apps: missing fields, bad name, bad hostname, bad api path',
    yaml: edit({ 51: '  - name: Grafana', 52: '    hostnames: ["*.com"]', 53: '    api_paths: [api]', 54: undefined, 55: undefined }),
    issues: [
      { line: 51, at: 'name', field: 'apps[1].idps', message: /^idps is required/ },
      { line: 51, at: 'name', field: 'apps[1].policies', message: /^policies is required/ },
      { line: 51, at: 'Grafana', field: 'apps[1].name', message: /^name must be 1 to 63 characters/ },
      { line: 52, at: '"*.com"', field: 'apps[1].hostnames[0]', message: /a wildcard needs at least two labels after it/ },
      { line: 53, at: 'api]', field: 'apps[1].api_paths[0]', message: "'api' must start with '/'" },
    ],
  },
  {
    name: 'keys_dir that is a file; top-level policies and sessions say where they moved',
    yaml: [...edit({ 3: '  session: { keys_dir: ./not-a-dir }' }), 'policies: []', 'sessions: {}'],
    issues: [
      { line: 3, at: './not-a-dir', field: 'auth.session.keys_dir', message: /^keys_dir .*not-a-dir exists but is not a directory$/ },
      { line: 60, at: 'policies', field: 'policies', message: 'policies belong to an app: write them under apps[].policies' },
      { line: 61, at: 'sessions', field: 'sessions', message: /^session settings are under auth\.session/ },
    ],
  },
];

describe('identity config: every issue located', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = `bad-${c.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.yaml`;
    const err = await loadError(file, c.yaml, c.env ?? ENV);
    const expected = c.issues.map((e): Partial<ConfigIssue> => {
      const out: Partial<ConfigIssue> = {
        file: p(file),
        field: e.field,
        message: typeof e.message === 'string' ? e.message : (expect.stringMatching(e.message) as unknown as string),
      };
      if (e.line !== undefined) out.line = e.line;
      if (e.at !== undefined) {
        const col = (c.yaml[(e.line ?? 1) - 1] ?? '').indexOf(e.at);
        if (col < 0) throw new Error(`test bug: '${e.at}' is not on line ${e.line}`);
        out.column = col + 1;
      }
      return out;
    });
    for (const e of expected) expect(err.issues).toContainEqual(expect.objectContaining(e));
    expect(err.issues).toHaveLength(c.issues.length);
    // No secret ever reaches an error message.
    for (const secret of [SECRET, FILE_SECRET, 'hunter2']) expect(err.message).not.toContain(secret);
  });
});

describe('durations', () => {
  test.each([
    ['8h', 28_800],
    ['30m', 1_800],
    ['90s', 90],
    ['1d', 86_400],
    ['1d2h3m4s', 93_784],
    ['1h30m', 5_400],
    ['3600', 3_600],
    [' 60 ', 60],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text, 1, 10 ** 9)).toEqual({ ok: true, value: seconds });
  });

  test('plain numbers are seconds; fractions and unordered or unknown units are not durations', () => {
    expect(parseDuration(120, 1, 1000)).toEqual({ ok: true, value: 120 });
    expect(parseDuration(1.5, 1, 1000)).toEqual({ ok: false, message: 'a duration in plain seconds must be a whole number; got 1.5' });
    for (const bad of ['', 'h', '1.5h', '30m1h', '1w', '8 h', '-5m', '1h1h']) {
      expect(parseDuration(bad, 1, 10 ** 9)).toMatchObject({ ok: false, message: expect.stringMatching(/is not a duration/) as unknown as string });
    }
    expect(parseDuration('59s', 60, 120)).toEqual({ ok: false, message: 'must be from 1m to 2m; got 59s' });
  });

  test('formatDuration is the inverse', () => {
    for (const s of [1, 59, 60, 61, 3_600, 5_400, 86_400, 93_784, 2_592_000]) expect(parseDuration(formatDuration(s), 1, 10 ** 9)).toEqual({ ok: true, value: s });
    expect(formatDuration(2_592_000)).toBe('30d');
  });
});

describe('reload of identity files', () => {
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
  const until = async (what: string, check: () => boolean): Promise<void> => {
    for (let waited = 0; !check(); waited += 20) {
      if (waited > 5000) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  test('a changed client secret file, SAML metadata file or policy reloads; a missing secret keeps the last good config', async () => {
    const d = mkdtempSync(join(dir, 'watch-'));
    writeFileSync(join(d, 'gh.secret'), 'first');
    writeFileSync(join(d, 'idp.xml'), METADATA);
    const lines = (policy: string): string =>
      [
        'auth: { domain: auth.acme.test, session: { keys_dir: ./keys } }',
        'idps:',
        '  - { id: gh, type: github, client_id: c, client_secret_file: ./gh.secret }',
        '  - { id: corp, type: saml, metadata_file: ./idp.xml }',
        'apps:',
        `  - { name: app, hostnames: [app.acme.test], idps: [gh, corp], policies: [ ${policy} ] }`,
        '',
      ].join('\n');
    const file = join(d, 'bouncer.yaml');
    writeFileSync(file, lines('{ name: a, action: allow, include: [ { everyone: true } ] }'));
    const initial = await loadConfig(file, {});
    expect(initial.files).toEqual([file, join(d, 'gh.secret'), join(d, 'idp.xml')]);
    const reloads: BouncerConfig[] = [];
    const errors: unknown[] = [];
    const watcher = watchConfig({ path: file, env: {}, initial, intervalMs: 30, onReload: (c) => reloads.push(c), onError: (e) => errors.push(e) });
    try {
      // Unchanged bytes are no reload.
      await expect(watcher.reloadNow()).resolves.toBe(true);
      expect(reloads).toHaveLength(0);

      writeFileSync(join(d, 'gh.secret'), 'second\n');
      await until('the secret reload', () => reloads.length === 1);
      expect(reloads[0]?.idps[0]).toMatchObject({ id: 'gh', clientSecret: 'second' });

      writeFileSync(join(d, 'idp.xml'), METADATA.replace('idp.corp.test', 'idp2.corp.test'));
      await until('the metadata reload', () => reloads.length === 2);
      expect(reloads[1]?.idps[1]).toMatchObject({ id: 'corp', metadataXml: expect.stringContaining('idp2.corp.test') as unknown as string });

      // Only the policy changes: the compiled form does not serialise, the written one is compared.
      writeFileSync(file, lines('{ name: a, action: allow, include: [ { email_domain: [acme.test] } ] }'));
      await until('the policy reload', () => reloads.length === 3);
      expect(reloads[2]?.apps[0]?.policies[0]?.include[0]?.kind).toBe('email_domain');

      rmSync(join(d, 'gh.secret'));
      await until('the failed reload', () => errors.length === 1);
      expect(errors[0]).toBeInstanceOf(ConfigError);
      expect((errors[0] as ConfigError).issues[0]?.field).toBe('idps[0].client_secret_file');

      // The missing file is watched: creating it retries, and the secret never reached the error.
      writeFileSync(join(d, 'gh.secret'), 'third');
      await until('the recovery', () => reloads.length === 4);
      expect(reloads[3]?.idps[0]).toMatchObject({ clientSecret: 'third' });
      expect(String((errors[0] as Error).message)).not.toMatch(/first|second|third/);
    } finally {
      watcher.close();
    }
  }, 20_000);
});

describe('docs', () => {
  test('the identity example at the top of docs/config.md loads', async () => {
    const doc = readFileSync(join(packageRoot(), 'docs', 'config.md'), 'utf8');
    const block = /With identity[^\n]*\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    if (block === undefined) throw new Error('identity example not found in docs/config.md');
    const d = mkdtempSync(join(dir, 'docs-'));
    writeFileSync(join(d, 'github.secret'), 'x');
    writeFileSync(join(d, 'corp-idp.xml'), METADATA);
    writeFileSync(join(d, 'bouncer.yaml'), block);
    const config = await loadConfig(join(d, 'bouncer.yaml'), { OKTA_CLIENT_SECRET: 'y' });
    expect(config.apps.map((a) => a.name)).toEqual(['wiki']);
    expect(config.idps.map((i) => i.id)).toEqual(['okta', 'github', 'corp']);
  });
});

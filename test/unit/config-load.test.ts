import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, X509CertificateGenerator } from '@peculiar/x509';
import { CONFIG_DEFAULTS, CONFIG_ENV } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_KEYS } from '../../src/config/schema.js';
import type { BouncerConfig } from '../../src/config/types.js';
import { parseCertificateBundle } from '../../src/core/cert-parse.js';
import { BouncerError, ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import type { Tenant } from '../../src/core/tenant.js';
import { packageRoot } from '../../src/paths.js';
import { createRootCa, issueClientCert, issueCrl, type KeyPairPem } from '../../src/pki/generate.js';

const DAY = 86_400_000;

let dir: string;
let rootA: KeyPairPem;
let rootB: KeyPairPem;

const p = (...parts: string[]): string => join(dir, ...parts);
const write = (name: string, text: string): string => {
  writeFileSync(p(name), text);
  return p(name);
};

/**
 * A CA certificate whose keyUsage lacks keyCertSign; our generator always sets it
 * for CAs, so this one is built directly.
 */
async function caWithoutCertSign(): Promise<string> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: '0a',
      name: 'CN=no certsign CA',
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 100 * DAY),
      keys,
      signingAlgorithm: alg,
      extensions: [new BasicConstraintsExtension(true, undefined, true), new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)],
    },
    // @peculiar/x509 types its crypto parameter as the DOM Crypto, which Node's webcrypto implements.
    webcrypto as unknown as Parameters<typeof X509CertificateGenerator.createSelfSigned>[1],
  );
  return cert.toString('pem');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-config-'));
  rootA = await createRootCa({ commonName: 'acme root CA', organization: 'acme', keyAlgorithm: 'ec-p256', validDays: 365 });
  rootB = await createRootCa({ commonName: 'globex root CA', organization: 'globex', keyAlgorithm: 'ec-p256', validDays: 365 });
  // Same subject as rootA, another key: a CRL it signs names rootA but must not verify.
  const impostor = await createRootCa({ commonName: 'acme root CA', organization: 'acme', keyAlgorithm: 'ec-p256', validDays: 365 });
  const leaf = await issueClientCert({ issuer: rootA, commonName: 'acme-laptop', keyAlgorithm: 'ec-p256', validDays: 30 });
  const expired = await createRootCa({ commonName: 'old CA', notBefore: new Date(Date.now() - 40 * DAY), notAfter: new Date(Date.now() - DAY) });
  const future = await createRootCa({ commonName: 'future CA', notBefore: new Date(Date.now() + 5 * DAY), notAfter: new Date(Date.now() + 50 * DAY) });
  const soon = await createRootCa({ commonName: 'soon CA', validDays: 10 });
  const weak = await createRootCa({ commonName: 'weak CA', keyAlgorithm: 'rsa-2048', rsaBits: 1024, validDays: 30 });

  mkdirSync(p('certs'));
  write('a-ca.pem', rootA.certPem);
  write('certs/a-ca.pem', rootA.certPem);
  write('b-ca.pem', rootB.certPem);
  write('ab-ca.pem', rootA.certPem + rootB.certPem);
  write('leaf.pem', leaf.certPem);
  write('expired-ca.pem', expired.certPem);
  write('future-ca.pem', future.certPem);
  write('soon-ca.pem', soon.certPem);
  write('weak-ca.pem', weak.certPem);
  write('nosign-ca.pem', await caWithoutCertSign());
  write('empty.pem', 'this is not a certificate\n');
  write('a.crl', await issueCrl({ issuer: rootA, revoked: [{ serialNumber: '0badc0de' }] }));
  write('certs/a.crl', await issueCrl({ issuer: rootA, revoked: [] }));
  write('b.crl', await issueCrl({ issuer: rootB, revoked: [] }));
  write('forged.crl', await issueCrl({ issuer: impostor, revoked: [] }));
  write('stale.crl', await issueCrl({ issuer: rootA, revoked: [], thisUpdate: new Date(Date.now() - 10 * DAY), nextUpdate: new Date(Date.now() - DAY) }));
}, 60_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `lines` as a config file (line N of the file is lines[N-1]) and loads it. */
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

const tenant = (name: string, host: string, mtls = '{ mode: require, ca: ./a-ca.pem }'): string[] => [
  `  - name: ${name}`,
  `    hostnames: [${host}]`,
  `    mtls: ${mtls}`,
];

interface Expected {
  /** 1-based line, or undefined for an issue that has none (environment, empty file). */
  line?: number;
  /** Text at the reported column of that line; the column is where it starts. */
  at?: string;
  /** Or the column itself. */
  column?: number;
  field: string;
  message: string | RegExp;
}

interface BadCase {
  name: string;
  yaml: string[];
  env?: NodeJS.ProcessEnv;
  issues: Expected[];
  /** Only the listed issues, no others (default true). */
  exact?: boolean;
}

const CASES: BadCase[] = [
  {
    name: 'YAML syntax error',
    yaml: ['listen:', '  authz: 127.0.0.1:0', 'tenants: [ { name: broken'],
    // The parser notices at end of input; the issue points just after the last character.
    issues: [{ line: 3, column: 'tenants: [ { name: broken'.length + 1, field: '(yaml)', message: /^YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }/ }],
    exact: false,
  },
  {
    name: 'YAML tab indentation',
    yaml: ['tenants:', '  - name: acme', '\thostnames: [pay.acme.test]'],
    issues: [{ line: 3, at: '\t', field: '(yaml)', message: 'YAML syntax error: Tabs are not allowed as indentation' }],
  },
  {
    name: 'YAML flow mapping missing a comma',
    yaml: ['tenants:', '  - name: acme', '    mtls: { mode: require ca: ./a-ca.pem }'],
    issues: [{ line: 3, at: 'require ca', field: '(yaml)', message: /^YAML syntax error: / }],
    exact: false,
  },
  {
    name: 'duplicate key (YAML)',
    yaml: ['tenants: []', 'tenants: []'],
    issues: [{ line: 2, at: 'tenants', field: '(yaml)', message: 'YAML syntax error: Map keys must be unique' }],
  },
  {
    name: 'unknown top-level key, with a suggestion',
    yaml: ['listen:', '  authz: 127.0.0.1:0', 'tenant:', ...tenant('acme', 'pay.acme.test')],
    issues: [
      { line: 1, at: 'listen', field: 'tenants', message: 'tenants is required: list the tenants bouncer serves (or the apps, for identity-only access)' },
      { line: 3, at: 'tenant', field: 'tenant', message: "unknown field 'tenant' (did you mean 'tenants'?); expected one of listen, authz, log, tenants, auth, idps, apps, saas_apps, service_tokens, store, admin, hostnames, xds" },
    ],
  },
  {
    name: 'unknown nested key, with a suggestion',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test', '{ mode: require, ca: ./a-ca.pem, exempt_path: [/healthz] }')],
    issues: [{ line: 4, at: 'exempt_path', field: 'tenants[0].mtls.exempt_path', message: /^unknown field 'exempt_path' \(did you mean 'exempt_paths'\?\)/ }],
  },
  {
    name: 'store.postgres without a URL',
    yaml: ['store:', '  postgres: { cache_max_entries: 1000 }'],
    issues: [{ line: 2, at: '{', field: 'store.postgres.url', message: 'url is required (or url_env, or the BOUNCER_POSTGRES_URL environment variable)' }],
  },
  {
    name: 'store URLs of the wrong kind, and a bad fail mode',
    yaml: ['store:', '  postgres: { url: "mysql://db/x" }', '  redis:', '    url: "http://cache:6379"', '    revocation_fail_mode: open'],
    issues: [
      { line: 2, at: '{', field: 'store.postgres.url', message: 'must be a postgres: or postgresql: URL for PostgreSQL; got mysql:' },
      { line: 4, at: 'url', field: 'store.redis.url', message: 'must be a redis: or rediss: URL for Redis; got http:' },
      { line: 5, at: 'open', field: 'store.redis.revocation_fail_mode', message: "revocation_fail_mode must be one of closed, open-cached; got 'open'" },
    ],
  },
  {
    name: 'tenants in the file and in PostgreSQL',
    yaml: ['store:', '  postgres: { url: "postgres://db/bouncer" }', 'tenants: []'],
    issues: [{ line: 3, at: 'tenants', field: 'tenants', message: /^tenants live in PostgreSQL when store.postgres is set/ }],
  },
  {
    name: 'store URL from an unset variable, and both url and url_env',
    yaml: ['store:', '  postgres: { url_env: PG_URL_NOT_SET }', '  redis: { url: "redis://a", url_env: REDIS_URL }', 'tenants: []'],
    issues: [
      { line: 2, at: '{', field: 'store.postgres.url_env', message: 'environment variable PG_URL_NOT_SET is not set' },
      { line: 3, at: 'REDIS_URL', field: 'store.redis.url_env', message: 'give either url or url_env, not both' },
      { line: 4, at: 'tenants', field: 'tenants', message: /^tenants live in PostgreSQL/ },
    ],
  },
  {
    name: 'an unknown authz transport',
    yaml: ['authz:', '  transport: grpcjs', 'tenants: []'],
    issues: [{ line: 2, at: 'grpcjs', field: 'authz.transport', message: "transport must be one of native, grpc-js; got 'grpcjs'" }],
  },
  {
    name: 'bad mtls mode',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test', '{ mode: requried, ca: ./a-ca.pem }')],
    issues: [{ line: 4, at: 'requried', field: 'tenants[0].mtls.mode', message: "mode must be one of require, optional, off; got 'requried'" }],
  },
  {
    name: 'mode require without ca',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test', '{ mode: require }')],
    issues: [{ line: 4, at: '{', field: 'tenants[0].mtls.ca', message: /^ca is required when mode is require: / }],
  },
  {
    name: 'no mtls at all: the default mode is require, which needs ca',
    yaml: ['tenants:', '  - name: acme', '    hostnames: [pay.acme.test]'],
    issues: [{ line: 2, at: 'name', field: 'tenants[0].mtls.ca', message: /^ca is required when mode is require \(the default\)/ }],
  },
  {
    name: 'a hostname claimed by two tenants (after normalisation)',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test'), ...tenant('globex', 'PAY.acme.test.')],
    issues: [
      {
        line: 6,
        at: 'PAY',
        field: 'tenants[1].hostnames[0]',
        message: "hostname 'pay.acme.test' is claimed by both tenant 'acme' (line 3) and tenant 'globex'; a hostname belongs to exactly one tenant",
      },
    ],
  },
  {
    name: 'bad wildcards',
    yaml: ['tenants:', ...tenant('acme', '"*.test", "api.*.acme.test", "*x.acme.test"')],
    issues: [
      { line: 3, at: '"*.test"', field: 'tenants[0].hostnames[0]', message: /a wildcard needs at least two labels after it/ },
      { line: 3, at: '"api.*', field: 'tenants[0].hostnames[1]', message: /a wildcard must be the whole leftmost label/ },
      { line: 3, at: '"*x.', field: 'tenants[0].hostnames[2]', message: /a wildcard must be the whole leftmost label/ },
    ],
  },
  {
    name: 'an unquoted wildcard (YAML reads it as an alias)',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test, *.api.acme.test')],
    issues: [{ line: 3, at: '*.api', field: 'tenants[0].hostnames[1]', message: `unknown YAML alias '*.api.acme.test'; quote wildcard hostnames: "*.api.acme.test"` }],
  },
  {
    name: 'IP addresses and ports as hostnames',
    yaml: ['tenants:', ...tenant('acme', '10.0.0.1, "[::1]", pay.acme.test:8443')],
    issues: [
      { line: 3, at: '10.0.0.1', field: 'tenants[0].hostnames[0]', message: /^'10\.0\.0\.1' is an IP address/ },
      { line: 3, at: '"[::1]"', field: 'tenants[0].hostnames[1]', message: /^'\[::1\]' is an IP address/ },
      { line: 3, at: 'pay.acme.test:8443', field: 'tenants[0].hostnames[2]', message: /includes a port/ },
    ],
  },
  {
    name: 'bad listen addresses',
    yaml: ['listen:', '  authz: 127.0.0.1', '  http: "localhost:70000"', 'tenants: []'],
    issues: [
      { line: 2, at: '127.0.0.1', field: 'listen.authz', message: "'127.0.0.1' has no port; write HOST:PORT, like 127.0.0.1:9001" },
      { line: 3, at: '"localhost', field: 'listen.http', message: "port '70000' must be a number from 0 to 65535" },
    ],
  },
  {
    name: 'bad environment overrides',
    yaml: ['tenants: []'],
    env: { BOUNCER_LISTEN_AUTHZ: '0.0.0.0:abc', BOUNCER_LISTEN_HTTP: '::1:8080', BOUNCER_LOG_LEVEL: 'loud' },
    issues: [
      { field: 'env BOUNCER_LISTEN_AUTHZ', message: "port 'abc' must be a number from 0 to 65535" },
      { field: 'env BOUNCER_LISTEN_HTTP', message: "'::1:8080' looks like an IPv6 address without brackets; write [::1]:8080" },
      { field: 'env BOUNCER_LOG_LEVEL', message: "must be one of fatal, error, warn, info, debug, trace, silent; got 'loud'" },
    ],
  },
  {
    name: 'duplicate tenant name',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test'), ...tenant('acme', 'pay.globex.test')],
    issues: [{ line: 5, at: 'acme', field: 'tenants[1].name', message: "tenant name 'acme' is already used by tenants[0] (line 2); names must be unique" }],
  },
  {
    name: 'invalid tenant name',
    yaml: ['tenants:', ...tenant('Acme', 'pay.acme.test')],
    issues: [{ line: 2, at: 'Acme', field: 'tenants[0].name', message: /^name must be 1 to 63 characters of a-z, 0-9, '-' and '_'.*; got 'Acme'$/ }],
  },
  {
    name: 'exempt paths that could be stretched',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test', '{ ca: ./a-ca.pem, exempt_paths: [healthz, "/a/../b", "/x?y=1", "/p%2e", "/a*b", "/ok/*"] }')],
    issues: [
      { line: 4, at: 'healthz', field: 'tenants[0].mtls.exempt_paths[0]', message: "'healthz' must start with '/'" },
      { line: 4, at: '"/a/..', field: 'tenants[0].mtls.exempt_paths[1]', message: /must not contain '\.' or '\.\.' segments/ },
      { line: 4, at: '"/x?', field: 'tenants[0].mtls.exempt_paths[2]', message: /without '\?' query/ },
      { line: 4, at: '"/p%', field: 'tenants[0].mtls.exempt_paths[3]', message: /must not contain '%' escapes/ },
      { line: 4, at: '"/a*b"', field: 'tenants[0].mtls.exempt_paths[4]', message: /'\*' is only allowed as a trailing '\/\*'/ },
    ],
  },
  {
    name: 'numbers out of range and wrong types',
    yaml: ['authz:', '  xfcc: { trusted_hop: yes, max_elements: 17 }', '  cache: { max_entries: 1.5, ttl_seconds: 0 }', 'log: { level: 3 }', 'tenants: {}'],
    issues: [
      { line: 2, at: 'yes', field: 'authz.xfcc.trusted_hop', message: "trusted_hop must be true or false; got the string 'yes'" },
      { line: 2, at: '17', field: 'authz.xfcc.max_elements', message: 'max_elements must be a whole number from 1 to 16; got 17' },
      { line: 3, at: '1.5', field: 'authz.cache.max_entries', message: 'max_entries must be a whole number from 1 to 10,000,000; got the number 1.5' },
      { line: 3, at: '0 }', field: 'authz.cache.ttl_seconds', message: 'ttl_seconds must be a whole number from 1 to 86,400; got 0' },
      { line: 4, at: '3', field: 'log.level', message: 'level must be one of fatal, error, warn, info, debug, trace, silent; got the number 3' },
      { line: 5, at: '{}', field: 'tenants', message: 'tenants must be a list; got a mapping' },
    ],
  },
  {
    name: 'transport limits: out of range, unknown, and pairs that contradict each other',
    yaml: [
      'authz:',
      '  limits:',
      '    max_message_bytes: 512',
      '    keepalive_time_ms: 10s',
      '    max_connection: 10',
      '    max_relayed_streams_per_connection: 300',
      '    max_relayed_streams_total: 200',
      '    max_buffered_bytes_per_connection: 2048',
      'tenants: []',
    ],
    issues: [
      { line: 3, at: '512', field: 'authz.limits.max_message_bytes', message: 'max_message_bytes must be a whole number from 1,024 to 67,108,864; got 512' },
      { line: 4, at: '10s', field: 'authz.limits.keepalive_time_ms', message: "keepalive_time_ms must be a whole number from 1,000 to 7,200,000; got the string '10s'" },
      { line: 5, at: 'max_connection', field: 'authz.limits.max_connection', message: /^unknown field 'max_connection' \(did you mean 'max_connections'\?\)/ },
      { line: 8, at: '2048', field: 'authz.limits.max_buffered_bytes_per_connection', message: 'max_message_bytes (1,048,576) must not exceed max_buffered_bytes_per_connection (2,048): a message of the largest size could never be buffered' },
      { line: 6, at: '300', field: 'authz.limits.max_relayed_streams_per_connection', message: 'max_relayed_streams_per_connection (300) must not exceed max_relayed_streams_total (200): one connection could never open its own share' },
    ],
  },
  {
    name: 'the file is a list, not a mapping',
    yaml: ['- tenants: []'],
    issues: [{ line: 1, at: '-', field: '(root)', message: 'the config must be a mapping of listen, authz, log, tenants, auth, idps, apps, saas_apps, service_tokens, store, admin, hostnames, xds; got a list' }],
  },
  {
    name: 'mtls that is not a mapping (and nothing piled on top)',
    yaml: ['tenants:', ...tenant('acme', 'pay.acme.test', 'require')],
    issues: [{ line: 4, at: 'require', field: 'tenants[0].mtls', message: "mtls must be a mapping (key: value); got the string 'require'" }],
  },
  {
    name: 'empty file',
    yaml: ['# nothing here'],
    issues: [{ field: 'tenants', message: 'the config file is empty; it needs at least a tenants list' }],
  },
];

describe('loadConfig rejects bad configs with every issue located', () => {
  test.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = `bad-${c.name.replace(/[^a-z0-9]+/gi, '-')}.yaml`;
    const err = await loadError(file, c.yaml, c.env ?? {});
    expect(err.code).toBe('ERR_CONFIG_INVALID');
    const expected = c.issues.map((e): Partial<ConfigIssue> => {
      const out: Partial<ConfigIssue> = {
        file: p(file),
        field: e.field,
        message: typeof e.message === 'string' ? e.message.replace(join(tmpdir(), '__DIR__'), dir) : (expect.stringMatching(e.message) as unknown as string),
      };
      if (e.line !== undefined) out.line = e.line;
      if (e.column !== undefined) out.column = e.column;
      if (e.at !== undefined) {
        const col = (c.yaml[(e.line ?? 1) - 1] ?? '').indexOf(e.at);
        if (col < 0) throw new Error(`test bug: '${e.at}' is not on line ${e.line}`);
        out.column = col + 1;
      }
      return out;
    });
    for (const e of expected) expect(err.issues).toContainEqual(expect.objectContaining(e));
    for (const e of c.issues) if (e.line === undefined) expect(err.issues.find((i) => i.field === e.field)?.line).toBeUndefined();
    if (c.exact !== false) expect(err.issues).toHaveLength(c.issues.length);
    // The message lists every issue in the file:line:col: field: message form.
    expect(err.message.split('\n')).toHaveLength(err.issues.length);
  });

  test('one file with many problems reports all of them, in reading order (trust data is not among them: it is per tenant)', async () => {
    const err = await loadError('many.yaml', [
      'listen:',
      '  authz: nowhere',
      'tenants:',
      ...tenant('acme', '"*.test"', '{ mode: sometimes, ca: ./nope.pem }'),
      ...tenant('acme', 'ok.acme.test', '{ mode: require, ca: ./leaf.pem }'),
    ]);
    expect(err.issues.map((i) => [i.line, i.field])).toEqual([
      [2, 'listen.authz'],
      [5, 'tenants[0].hostnames[0]'],
      [6, 'tenants[0].mtls.mode'],
      [7, 'tenants[1].name'],
    ]);
  });

  test('a config file that cannot be read is ERR_CONFIG_READ, not a config error', async () => {
    const missing = loadConfig(p('does-not-exist.yaml'), {});
    await expect(missing).rejects.toBeInstanceOf(BouncerError);
    await expect(missing).rejects.toMatchObject({ code: 'ERR_CONFIG_READ', message: expect.stringContaining('no such file or directory (ENOENT)') });
    await expect(loadConfig(p('certs'), {})).rejects.toMatchObject({ code: 'ERR_CONFIG_READ', message: expect.stringContaining('EISDIR') });
  });

  test('the clock is an option: the same CA is expired a year from now, which makes its tenant unusable, not the load fail', async () => {
    const file = write('clock.yaml', ['tenants:', ...tenant('acme', 'pay.acme.test')].join('\n'));
    expect((await loadConfig(file, {})).tenants[0]?.mtls.trust?.roots).toHaveLength(1);
    const later = await loadConfig(file, {}, { now: Date.now() + 400 * DAY });
    expect(later.tenants[0]?.mtls.trust?.roots).toEqual([]);
    expect(later.warnings).toEqual([expect.stringMatching(/: tenants\[0\]\.mtls\.ca: tenant acme: CA file .*a-ca\.pem: certificate "O=acme, CN=acme root CA" expired on /)]);
  });
});

describe('bad trust data of one tenant affects that tenant only', () => {
  // Each bad CA file is given to acme (line 4); globex (line 7) has a good CA and must be untouched.
  const BAD_CA: Array<[string, string, RegExp, string]> = [
    ['a CA file that does not exist', './nope.pem', /cannot be read: no such file or directory \(ENOENT\)/, 'ca_unreadable'],
    ['a device certificate given as the CA', './leaf.pem', /certificate "CN=acme-laptop" is not a CA certificate \(basicConstraints cA is absent or false\)/, 'ca_not_a_ca'],
    ['an expired CA', './expired-ca.pem', /certificate "CN=old CA" expired on \d{4}-\d\d-\d\dT/, 'ca_expired'],
    ['a CA not yet valid', './future-ca.pem', /"CN=future CA" is not valid until /, 'ca_not_yet_valid'],
    ['a CA with a 1024-bit RSA key', './weak-ca.pem', /has a 1024-bit RSA key; at least 2048 bits are required/, 'ca_weak_key'],
    ['a CA whose keyUsage lacks keyCertSign', './nosign-ca.pem', /keyUsage extension without keyCertSign/, 'ca_no_key_cert_sign'],
    ['a CA file without a certificate', './empty.pem', /contains no certificate/, 'ca_no_certificate'],
    ['an unparsable certificate block', './garbage-block.pem', /certificate block 1 of 1 does not parse/, 'ca_unparsable'],
  ];
  test.each(BAD_CA)('%s: the config loads, a warning names the tenant, the file and the line, the tenant has no root', async (_label, ca, message, code) => {
    write('garbage-block.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    const file = p('one-bad.yaml');
    const config = await load('one-bad.yaml', ['tenants:', ...tenant('acme', 'pay.acme.test', `{ mode: require, ca: ${ca} }`), ...tenant('globex', 'pay.globex.test', '{ mode: require, ca: ./b-ca.pem }')]);
    const [acme, globex] = config.tenants;
    expect(acme?.mtls.trust?.roots).toEqual([]);
    expect(acme?.mtls.trust?.problems?.map((x) => x.code)).toEqual([code]);
    expect(globex?.mtls.trust?.roots.map((r) => r.subject)).toEqual(['O=globex, CN=globex root CA']);
    expect(globex?.mtls.trust?.problems).toBeUndefined();
    expect(config.warnings).toHaveLength(1);
    const column = '    mtls: { mode: require, ca: '.length + 1;
    const caFile = join(dir, ca.slice(2));
    expect(config.warnings[0]?.startsWith(`${file}:4:${column}: tenants[0].mtls.ca: tenant acme: CA file ${caFile}: `)).toBe(true);
    expect(config.warnings[0]).toMatch(message);
    expect(config.warnings[0]).toMatch(/; no usable CA certificate is left, so their devices are denied tenant_trust_unusable until it is fixed$/);
  });

  test('a rotation bundle with one expired old root keeps its valid root: degraded, with a warning', async () => {
    write('rotation.pem', readFileSync(p('expired-ca.pem'), 'utf8') + rootA.certPem);
    const config = await load('rotation.yaml', ['tenants:', ...tenant('acme', 'pay.acme.test', '{ ca: ./rotation.pem }')]);
    const trust = config.tenants[0]?.mtls.trust;
    expect(trust?.roots.map((r) => r.subject)).toEqual(['O=acme, CN=acme root CA']);
    expect(trust?.problems?.map((x) => x.code)).toEqual(['ca_expired']);
    expect(config.warnings).toEqual([expect.stringMatching(/tenant acme: CA file .*rotation\.pem: certificate "CN=old CA" expired on .*; set aside; the file's other 1 usable CA certificate\(s\) are still used$/)]);
  });

  test('a CA file shared by many tenants is warned about once, naming a few of them', async () => {
    const names = ['t1', 't2', 't3', 't4', 't5'];
    const config = await load('shared-expired.yaml', ['tenants:', ...names.flatMap((n) => tenant(n, `${n}.test.example`, '{ ca: ./expired-ca.pem }'))]);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toMatch(/tenants\[0\]\.mtls\.ca: tenants t1, t2, t3 and 2 more: CA file .*expired-ca\.pem: certificate "CN=old CA" expired/);
    expect(config.tenants.every((t) => t.mtls.trust?.roots.length === 0)).toBe(true);
  });

  test('an unusable CRL makes its tenant unusable (fail closed), not the load fail', async () => {
    const config = await load('bad-crl.yaml', [
      'tenants:',
      ...tenant('forged', 'forged.test', '{ mode: require, ca: ./a-ca.pem, crl: ./forged.crl }'),
      ...tenant('gone', 'gone.test', '{ mode: require, ca: ./a-ca.pem, crl: [./a.crl, ./gone.crl] }'),
      ...tenant('fine', 'fine.test', '{ mode: require, ca: ./a-ca.pem, crl: ./a.crl }'),
    ]);
    const [forged, gone, fine] = config.tenants;
    expect(forged?.mtls.trust?.roots).toEqual([]);
    expect(gone?.mtls.trust?.roots).toEqual([]);
    expect(fine?.mtls.trust?.roots).toHaveLength(1);
    expect(fine?.mtls.trust?.crls).toHaveLength(1);
    expect(config.warnings).toEqual([
      expect.stringMatching(/:4:\d+: tenants\[0\]\.mtls\.crl: tenant forged: CRL file .*forged\.crl: the CRL issued by "O=acme, CN=acme root CA" does not verify against the tenant's CA.*; the tenant's devices are denied tenant_trust_unusable until it is fixed$/),
      expect.stringMatching(/:7:\d+: tenants\[1\]\.mtls\.crl\[1\]: tenant gone: cannot read CRL file .*gone\.crl: no such file or directory \(ENOENT\)/),
    ]);
  });

  test('structure stays a hard error: mode require without ca fails the load', async () => {
    const err = await loadError('no-ca.yaml', ['tenants:', ...tenant('acme', 'pay.acme.test', '{ mode: require }'), ...tenant('globex', 'pay.globex.test', '{ ca: ./b-ca.pem }')]);
    expect(err.issues.map((i) => i.field)).toEqual(['tenants[0].mtls.ca']);
  });
});

describe('loadConfig happy path', () => {
  test('resolves paths against the config file, normalises hostnames, fills defaults, and shares one parse of a CA', async () => {
    mkdirSync(p('happy', 'certs'), { recursive: true });
    writeFileSync(p('happy', 'certs', 'a-ca.pem'), rootA.certPem);
    writeFileSync(p('happy', 'certs', 'a.crl'), await issueCrl({ issuer: rootA, revoked: [{ serialNumber: '0badc0de' }] }));
    const file = p('happy', 'bouncer.yaml');
    writeFileSync(
      file,
      [
        'listen:',
        '  authz: 127.0.0.1:0',
        '  http: "[::1]:0"',
        'authz:',
        '  transport: grpc-js',
        '  xfcc: { trusted_hop: true, max_elements: 2 }',
        'log: { level: warn }',
        'tenants:',
        '  - name: acme',
        '    hostnames: [Pay.Acme.Test., "*.API.acme.test"]',
        '    mtls: { mode: require, ca: ./certs/a-ca.pem, crl: ./certs/a.crl, exempt_paths: [/healthz, "/public/*"] }',
        '  - name: acme-2',
        '    hostnames: [two.acme.test]',
        '    mtls: { mode: optional, ca: certs/a-ca.pem, crl: [certs/../certs/a.crl], stale_crl: use }',
        '  - name: open',
        '    hostnames: [app.open.test]',
        '    mtls: { mode: "off" }',
        '',
      ].join('\n'),
    );
    const config = await loadConfig(file, {});
    expect(config.source).toBe(file);
    expect(config.files).toEqual([file, p('happy', 'certs', 'a-ca.pem'), p('happy', 'certs', 'a.crl')]);
    expect(config.listen).toEqual({ authz: { host: '127.0.0.1', port: 0 }, http: { host: '::1', port: 0 } });
    expect(config.authz).toEqual({ transport: 'grpc-js', xfcc: { trustedHop: true, maxElements: 2 }, cache: { maxEntries: 10_000, ttlSeconds: 300 }, limits: CONFIG_DEFAULTS.authz.limits });
    expect(config.log.level).toBe('warn');
    expect(config.warnings).toEqual([]);

    const [acme, acme2, open] = config.tenants as [Tenant, Tenant, Tenant];
    expect(acme.name).toBe('acme');
    expect(acme.hostnames).toEqual(['pay.acme.test', '*.api.acme.test']);
    expect(acme.mtls.mode).toBe('require');
    expect(acme.mtls.exemptPaths).toEqual(['/healthz', '/public/*']);
    expect(acme.mtls.trust?.roots.map((r) => r.fingerprint256)).toEqual([parseCertificateBundle(rootA.certPem)[0]?.fingerprint256]);
    expect(acme.mtls.trust?.roots[0]?.isCa).toBe(true);
    expect(acme.mtls.trust?.crls).toHaveLength(1);
    expect(acme.mtls.trust?.crls[0]?.revokedSerials.has('0badc0de')).toBe(true);
    expect(acme.mtls.trust?.staleCrl).toBe('deny');
    expect(acme2.mtls).toMatchObject({ mode: 'optional', exemptPaths: [] });
    expect(acme2.mtls.trust?.staleCrl).toBe('use');
    // One read and one parse per file: both tenants hold the very same objects.
    expect(acme2.mtls.trust?.roots[0]).toBe(acme.mtls.trust?.roots[0]);
    expect(acme2.mtls.trust?.crls[0]).toBe(acme.mtls.trust?.crls[0]);
    expect(open.mtls).toEqual({ mode: 'off', trust: null, exemptPaths: [] });
  });

  test('defaults for everything optional', async () => {
    const config = await load('minimal.yaml', ['tenants:', ...tenant('open', 'app.open.test', '{ mode: "off" }')]);
    expect(config.listen).toEqual(CONFIG_DEFAULTS.listen);
    expect(config.listen).toEqual({ authz: { host: '127.0.0.1', port: 9001 }, http: { host: '127.0.0.1', port: 8080 } });
    expect(config.authz).toEqual({ transport: 'native', xfcc: { trustedHop: false, maxElements: 1 }, cache: { maxEntries: 10_000, ttlSeconds: 300 }, limits: CONFIG_DEFAULTS.authz.limits });
    expect(config.log.level).toBe('info');
    expect(config.files).toEqual([p('minimal.yaml')]);
    expect(config.warnings).toEqual([]);
  });

  test('authz.limits: what is written wins, the rest keep their defaults', async () => {
    const config = await load('limits.yaml', ['authz:', '  limits: { max_connections: 512, handshake_timeout_ms: 1500, keepalive_time_ms: 20000 }', 'tenants:', ...tenant('open', 'app.open.test', '{ mode: "off" }')]);
    expect(config.authz.limits).toEqual({ ...CONFIG_DEFAULTS.authz.limits, maxConnections: 512, handshakeTimeoutMs: 1500, keepaliveTimeMs: 20_000 });
  });

  test('the result is frozen all the way down', async () => {
    const config = await load('frozen.yaml', ['tenants:', ...tenant('acme', 'pay.acme.test', '{ ca: ./a-ca.pem, crl: ./a.crl, exempt_paths: [/x] }')]);
    const t = config.tenants[0] as Tenant;
    for (const o of [config, config.listen, config.listen.authz, config.authz.cache, config.tenants, config.files, config.warnings, t, t.hostnames, t.mtls, t.mtls.exemptPaths, t.mtls.trust, t.mtls.trust?.roots, t.mtls.trust?.roots[0]]) {
      expect(Object.isFrozen(o)).toBe(true);
    }
    expect(() => (config.tenants as Tenant[]).push(t)).toThrow(TypeError);
    expect(() => {
      (config.listen.authz as { port: number }).port = 1;
    }).toThrow(TypeError);
    // Certificates keep working: their Buffers and key objects are not frozen.
    expect(t.mtls.trust?.roots[0]?.node.verify(t.mtls.trust.roots[0].publicKey)).toBe(true);
  });

  test('environment overrides win over the file; empty variables are ignored', async () => {
    const lines = ['listen:', '  authz: 127.0.0.1:9001', 'log: { level: info }', 'tenants: []'];
    const config = await load('env.yaml', lines, { BOUNCER_LISTEN_AUTHZ: '0.0.0.0:19001', BOUNCER_LISTEN_HTTP: '[::]:0', BOUNCER_LOG_LEVEL: 'debug' });
    expect(config.listen).toEqual({ authz: { host: '0.0.0.0', port: 19001 }, http: { host: '::', port: 0 } });
    expect(config.log.level).toBe('debug');
    const unset = await load('env.yaml', lines, { BOUNCER_LISTEN_AUTHZ: '', BOUNCER_LOG_LEVEL: ' ' });
    expect(unset.listen.authz).toEqual({ host: '127.0.0.1', port: 9001 });
    expect(unset.log.level).toBe('info');
    expect(unset.warnings).toEqual(['tenants is empty: every request will be denied as tenant_unknown']);
  });

  test('warnings: a CA file shared by many tenants is warned about once, naming a few of them', async () => {
    const names = ['t1', 't2', 't3', 't4', 't5'];
    const config = await load('shared-soon.yaml', ['tenants:', ...names.flatMap((n) => tenant(n, `${n}.test.example`, '{ ca: ./soon-ca.pem }'))]);
    expect(config.warnings).toHaveLength(1);
    expect(config.warnings[0]).toMatch(new RegExp(`^tenants t1, t2, t3 and 2 more: CA certificate "CN=soon CA" in ${p('soon-ca.pem')} expires on `));
  });

  test('warnings: CA expiring soon, stale CRL, CRL from a CA not in the bundle, ca with mode off', async () => {
    const config = await load('warn.yaml', [
      'tenants:',
      ...tenant('soon', 'soon.test.example', '{ ca: ./soon-ca.pem }'),
      ...tenant('stale', 'stale.test.example', '{ ca: ./a-ca.pem, crl: ./stale.crl }'),
      ...tenant('other', 'other.test.example', '{ ca: ./a-ca.pem, crl: ./b.crl }'),
      ...tenant('open', 'open.test.example', '{ mode: "off", ca: ./a-ca.pem }'),
    ]);
    expect(config.warnings).toHaveLength(4);
    const find = (prefix: string): string | undefined => config.warnings.find((w) => w.startsWith(prefix));
    const [soon, stale, other, open] = ['tenant soon:', 'tenant stale:', 'tenant other:', 'tenant open:'].map(find);
    expect(soon).toMatch(new RegExp(`^tenant soon: CA certificate "CN=soon CA" in ${p('soon-ca.pem')} expires on \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z \\(in (9|10) days\\)$`));
    expect(stale).toMatch(/^tenant stale: CRL in .*stale\.crl \(issuer "O=acme, CN=acme root CA"\) is stale: its nextUpdate was .*; with stale_crl: deny, certificates from that issuer are refused until it is refreshed$/);
    expect(other).toMatch(/^tenant other: CRL in .*b\.crl is issued by "O=globex, CN=globex root CA", which is not one of the tenant's CA certificates/);
    expect(open).toBe('tenant open: mtls.ca is ignored because mtls.mode is off (client certificates are not checked)');
    // The stale CRL is still loaded: the request path applies stale_crl.
    expect(config.tenants[1]?.mtls.trust?.crls).toHaveLength(1);
    // Each file once, in the order named; mode off reads nothing.
    expect(config.files).toEqual([p('warn.yaml'), p('soon-ca.pem'), p('a-ca.pem'), p('stale.crl'), p('b.crl')]);
    expect(config.tenants[3]?.mtls.trust).toBeNull();
  });

  test('a bundle of several CAs; a CRL from the second one verifies against it', async () => {
    const config = await load('bundle.yaml', ['tenants:', ...tenant('both', 'both.test.example', '{ ca: ./ab-ca.pem, crl: [./a.crl, ./b.crl] }')]);
    const trust = config.tenants[0]?.mtls.trust;
    expect(trust?.roots.map((r) => r.subject)).toEqual(['O=acme, CN=acme root CA', 'O=globex, CN=globex root CA']);
    expect(trust?.crls).toHaveLength(2);
    expect(config.warnings).toEqual([]);
  });

  test('1,000 tenants, each with its own CA file, load with every CA parsed', async () => {
    const big = p('big');
    mkdirSync(big);
    const names = Array.from({ length: 1000 }, (_, i) => `t${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50) {
      const batch = names.slice(i, i + 50);
      const cas = await Promise.all(batch.map((n) => createRootCa({ commonName: `${n} root CA`, keyAlgorithm: 'ec-p256', validDays: 365 })));
      batch.forEach((n, j) => writeFileSync(join(big, `${n}-ca.pem`), (cas[j] as KeyPairPem).certPem));
    }
    const yaml = ['tenants:', ...names.flatMap((n) => [`  - name: ${n}`, `    hostnames: [${n}.tenants.test, "*.${n}.tenants.test"]`, `    mtls: { mode: require, ca: ./${n}-ca.pem }`])];
    writeFileSync(join(big, 'bouncer.yaml'), yaml.join('\n'));
    // Load time is measured by the benchmarks, not asserted here (a busy CI machine is not a stopwatch).
    const config = await loadConfig(join(big, 'bouncer.yaml'), {});
    expect(config.tenants).toHaveLength(1000);
    expect(config.files).toHaveLength(1001);
    expect(new Set(config.tenants.map((t) => t.mtls.trust?.roots[0]?.fingerprint256)).size).toBe(1000);
  }, 120_000);
});

describe('shipped example and docs', () => {
  test('examples/bouncer.yaml is valid except for the SAML metadata file it names; its missing CA and CRL files make two tenants unusable, with warnings', async () => {
    const example = join(packageRoot(), 'examples', 'bouncer.yaml');
    const env = { OKTA_CLIENT_SECRET: 'okta-secret', GITHUB_CLIENT_SECRET: 'github-secret' };
    const err: unknown = await loadConfig(example, env).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const issues = (err as ConfigError).issues;
    expect(issues.map((i) => i.field)).toEqual(['idps[2].metadata_file']);
    for (const i of issues) expect(i.message).toMatch(/^cannot read SAML metadata file .*: no such file or directory \(ENOENT\)$/);
    // Without the environment, the two secrets are reported too, by variable name.
    const bare = (await loadConfig(example, {}).catch((e: unknown) => e)) as ConfigError;
    expect(bare.issues.filter((i) => i.field.includes('client_secret')).map((i) => i.message)).toEqual([
      'environment variable OKTA_CLIENT_SECRET is not set; it must hold the client secret',
      'environment variable GITHUB_CLIENT_SECRET is not set; it must hold the client secret',
    ]);
  });

  test('docs/config.md documents every key and environment variable', () => {
    const doc = readFileSync(join(packageRoot(), 'docs', 'config.md'), 'utf8');
    const keys = new Set(Object.values(CONFIG_KEYS).flat());
    for (const key of keys) expect(doc).toMatch(new RegExp(`[\`.]${key}[\`.:\\s]`));
    for (const name of Object.values(CONFIG_ENV)) expect(doc).toContain(name);
    expect(doc).toContain('bouncer_config_last_reload_successful');
  });
});

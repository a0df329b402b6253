import { AdminError } from '../../src/admin/errors.js';
import { grpcFailureOf } from '../../src/authz/grpc-errors.js';
import { AdminClientError } from '../../src/cli/admin-client.js';
import { BouncerError, ConfigError, XfccError } from '../../src/core/errors.js';
import { XmlRejectedError, parseGuardedXml } from '../../src/core/xml.js';
import { SharedStateError } from '../../src/stores/shared-state-errors.js';
import { TenantStoreError } from '../../src/stores/tenant-store.js';
import { AuthHttpError } from '../../src/web/auth/errors.js';
import { LoginError } from '../../src/web/idp/connector.js';
import { ReplayCacheFullError } from '../../src/web/idp/saml/replay-cache.js';
import { parseGuardedXml as parseSamlXml } from '../../src/web/idp/saml/xml-guard.js';
import { SamlIdpError } from '../../src/web/saml-idp/errors.js';

// One hierarchy: every error bouncer raises on purpose is a BouncerError whose
// code is the one callers, tests and docs already use.
const cases: ReadonlyArray<readonly [string, Error, string]> = [
  ['BouncerError', new BouncerError('ERR_CERT_PARSE', 'x'), 'ERR_CERT_PARSE'],
  ['ConfigError', new ConfigError([{ file: 'f.yaml', line: 1, column: 2, field: 'a', message: 'bad' }]), 'ERR_CONFIG_INVALID'],
  ['XfccError', new XfccError('bad', 3), 'ERR_XFCC_MALFORMED'],
  ['XmlRejectedError', new XmlRejectedError('bad'), 'ERR_XML_REJECTED'],
  ['TenantStoreError', new TenantStoreError('ERR_HOSTNAME_TAKEN', 'taken', { field: 'hostnames[0]', owner: 'acme' }), 'ERR_HOSTNAME_TAKEN'],
  ['SharedStateError', new SharedStateError('ERR_STORE_FULL', 'full'), 'ERR_STORE_FULL'],
  ['AdminError', new AdminError('ERR_ADMIN_FORBIDDEN', 'no'), 'ERR_ADMIN_FORBIDDEN'],
  ['LoginError', new LoginError('login_replayed', 'again'), 'login_replayed'],
  ['ReplayCacheFullError', new ReplayCacheFullError(10), 'ERR_REPLAY_CACHE_FULL'],
  ['SamlIdpError', new SamlIdpError('saml_sp_unknown', 'who'), 'saml_sp_unknown'],
  ['AuthHttpError', new AuthHttpError(400, 'app_unknown', 'which app'), 'app_unknown'],
  ['AdminClientError', new AdminClientError('ERR_ADMIN_UNREACHABLE', 'down'), 'ERR_ADMIN_UNREACHABLE'],
];

test.each(cases)('%s is a BouncerError with its code and its own name', (name, err, code) => {
  expect(err).toBeInstanceOf(BouncerError);
  expect(err).toBeInstanceOf(Error);
  expect((err as BouncerError<string>).code).toBe(code);
  expect(err.name).toBe(name);
});

test('single-meaning classes carry their code statically too', () => {
  expect([ConfigError.code, XfccError.code, XmlRejectedError.code, ReplayCacheFullError.code]).toEqual(['ERR_CONFIG_INVALID', 'ERR_XFCC_MALFORMED', 'ERR_XML_REJECTED', 'ERR_REPLAY_CACHE_FULL']);
});

test('fields and causes survive the common base', () => {
  const cause = new Error('socket closed');
  const err = new TenantStoreError('ERR_STORE_UNAVAILABLE', 'down', { field: 'name', owner: 'o', cause });
  expect({ field: err.field, owner: err.owner, cause: err.cause }).toEqual({ field: 'name', owner: 'o', cause });
  expect(new AdminError('ERR_ADMIN_NOT_FOUND', 'none').status).toBe(404);
  expect(new SharedStateError('ERR_STORE_CORRUPT', 'x')).not.toHaveProperty('cause');
});

test('the XML gate refuses with the caller\'s error: core gives XmlRejectedError, SAML login gives login_saml_invalid', () => {
  const doctype = '<!DOCTYPE x [<!ENTITY a "b">]><x/>';
  expect(() => parseGuardedXml(doctype, 'document')).toThrow(XmlRejectedError);
  let caught: unknown;
  try {
    parseSamlXml(doctype, 'SAMLResponse');
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(LoginError);
  expect(caught).toMatchObject({ code: 'login_saml_invalid', message: 'SAML response rejected: SAMLResponse contains a DOCTYPE declaration' });
});

test.each([
  ['a store that cannot answer', new TenantStoreError('ERR_STORE_UNAVAILABLE', 'down'), { code: 14, details: 'store_unavailable' }],
  ['shared state that cannot answer', new SharedStateError('ERR_STORE_UNAVAILABLE', 'down'), { code: 14, details: 'store_unavailable' }],
  ['another bouncer error', new BouncerError('ERR_CERT_PARSE', 'x'), { code: 13, details: 'internal_error' }],
  ['a plain Error', new Error('bug'), { code: 13, details: 'internal_error' }],
  ['a thrown string', 'bug', { code: 13, details: 'internal_error' }],
] as const)('gRPC status of %s', (_what, err, failure) => {
  expect(grpcFailureOf(err)).toEqual(failure);
});

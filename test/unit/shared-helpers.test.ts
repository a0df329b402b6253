import { X509Certificate } from 'node:crypto';
import { didYouMean } from '../../src/core/did-you-mean.js';
import { toPem } from '../../src/core/pem.js';
import { isSafeRequestId } from '../../src/core/request-id.js';
import { createRootCa } from '../../src/pki/generate.js';

test.each([
  ['hostname', ['hostnames', 'mtls'], 'hostnames'],
  ['MTLS', ['hostnames', 'mtls'], 'mtls'],
  ['colour', ['mode', 'ca'], undefined],
  ['emial', ['email', 'email_domain', 'groups'], 'email'],
  ['tenants:wrte', ['tenants:read', 'tenants:write'], 'tenants:write'],
  ['x', [], undefined],
] as const)('didYouMean(%j) among %j is %j', (word, candidates, expected) => {
  expect(didYouMean(word, candidates)).toBe(expected);
});

test('toPem writes 64-character lines that parse back to the same DER', async () => {
  const ca = await createRootCa({ commonName: 'PEM test CA' });
  const der = new X509Certificate(ca.certPem).raw;
  const pem = toPem(der, 'CERTIFICATE');
  const body = pem.split('\n').slice(1, -2);
  expect(pem.startsWith('-----BEGIN CERTIFICATE-----\n')).toBe(true);
  expect(pem.endsWith('\n-----END CERTIFICATE-----\n')).toBe(true);
  expect(body.slice(0, -1).every((line) => line.length === 64)).toBe(true);
  expect(new X509Certificate(pem).raw.equals(der)).toBe(true);
  expect(toPem(new Uint8Array(der).buffer, 'CERTIFICATE')).toBe(pem);
});

test.each([
  ['a UUID', '7f1c1d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f', true],
  ['a space', 'abc def', false],
  ['dots, colons, underscores', 'abc.DEF:123_-x', true],
  ['empty', '', false],
  ['too long', 'a'.repeat(129), false],
  ['a newline', 'abc\ndef', false],
  ['not a string', 42, false],
] as const)('isSafeRequestId: %s', (_what, value, expected) => {
  expect(isSafeRequestId(value)).toBe(expected);
});

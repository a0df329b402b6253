import { jest } from '@jest/globals';
import { createHash } from 'node:crypto';

// Wrap timingSafeEqual so the test can prove the secret comparison goes
// through it; everything else in node:crypto stays real.
const actual = await import('node:crypto');
const timingSafeEqual = jest.fn(actual.timingSafeEqual);
jest.unstable_mockModule('node:crypto', () => ({ ...actual, default: actual, timingSafeEqual }));
const { hashServiceSecret, verifyServiceToken } = await import('../../src/core/service-token.js');

const SECRET = 'k3Jd9fQx-0vN2mZrT8wYbL5cHs7aE1uP';
const TOKENS = [
  { id: 'ci-bot', clientId: 'client-ci', secretSha256: createHash('sha256').update(SECRET).digest('hex') },
  { id: 'deploy', clientId: 'client-deploy', secretSha256: createHash('sha256').update('other-secret').digest('hex').toUpperCase() },
  { id: 'broken', clientId: 'client-broken', secretSha256: 'not-hex' },
];

beforeEach(() => timingSafeEqual.mockClear());

test('hashServiceSecret is lowercase sha256 hex', () => {
  expect(hashServiceSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test.each<[string, string, string, { id: string } | undefined]>([
  ['right id and secret', 'client-ci', SECRET, { id: 'ci-bot' }],
  ['stored hash in upper case', 'client-deploy', 'other-secret', { id: 'deploy' }],
  ['wrong secret', 'client-ci', `${SECRET}x`, undefined],
  ['secret of another token', 'client-ci', 'other-secret', undefined],
  ['unknown client id', 'client-nope', SECRET, undefined],
  ['client id is case-sensitive', 'CLIENT-CI', SECRET, undefined],
  ['empty secret', 'client-ci', '', undefined],
  ['empty client id', '', SECRET, undefined],
  ['malformed stored hash never matches', 'client-broken', 'not-hex', undefined],
])('%s', (_n, clientId, secret, expected) => {
  expect(verifyServiceToken(TOKENS, clientId, secret)).toEqual(expected);
});

test('compares in constant time against every configured token', () => {
  verifyServiceToken(TOKENS, 'client-nope', SECRET);
  expect(timingSafeEqual).toHaveBeenCalledTimes(TOKENS.length);
  timingSafeEqual.mockClear();
  expect(verifyServiceToken(TOKENS, 'client-ci', SECRET)).toEqual({ id: 'ci-bot' });
  expect(timingSafeEqual).toHaveBeenCalledTimes(TOKENS.length);
});

test('no tokens configured', () => {
  expect(verifyServiceToken([], 'client-ci', SECRET)).toBeUndefined();
});

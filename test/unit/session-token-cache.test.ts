import { generateKeyPair } from 'jose';
import { signSession } from '../../src/core/session-token.js';
import type { SessionClaimsInput, SigningKey, VerifyKeys, VerifyTokenOptions } from '../../src/core/session-token.js';
import { createTokenCache } from '../../src/sessions/token-cache.js';

const NOW = Date.UTC(2024, 0, 1);
const S = NOW / 1000;

let key: SigningKey;
let keys: VerifyKeys;
let lookups = 0;
let opts: VerifyTokenOptions;

function claims(over: Partial<SessionClaimsInput> = {}): SessionClaimsInput {
  return { iss: 'auth', sub: 'u', aud: 'wiki', groups: ['g'], idp: 'okta', idp_type: 'oidc', amr: [], auth_time: S, sid: 's', exp: S + 600, ...over };
}

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  key = { kid: 'k', alg: 'ES256', privateKey: pair.privateKey };
  keys = {
    get: (kid) => {
      lookups += 1;
      return kid === 'k' ? { alg: 'ES256', publicKey: pair.publicKey } : undefined;
    },
  };
  opts = { keys, issuer: 'auth', audience: 'wiki', nowMs: NOW };
});
beforeEach(() => {
  lookups = 0;
});

test('second verification is a hit (no key lookup), result identical', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims(), key, NOW);
  const a = await cache.verify(token, opts);
  const b = await cache.verify(token, { ...opts, nowMs: NOW + 1000 });
  expect(a.ok && b.ok).toBe(true);
  expect(b).toEqual(a);
  expect(lookups).toBe(1);
  expect(cache.size).toBe(1);
});

test('a token cached for app A is not a hit for app B', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims({ aud: 'wiki' }), key, NOW);
  expect((await cache.verify(token, opts)).ok).toBe(true);
  expect(await cache.verify(token, { ...opts, audience: 'payroll' })).toMatchObject({ ok: false, reason: 'session_wrong_audience' });
});

test('entries end at exp by the caller clock; full verification decides then', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims({ exp: S + 60 }), key, NOW);
  await cache.verify(token, opts);
  expect(await cache.verify(token, { ...opts, nowMs: NOW + 120_000 })).toMatchObject({ ok: false, reason: 'session_expired' });
  expect(cache.size).toBe(0);
});

test('failures are not cached; bounded in entries', async () => {
  const cache = createTokenCache({ maxEntries: 2 });
  await cache.verify('junk', opts);
  expect(cache.size).toBe(0);
  for (const sid of ['a', 'b', 'c']) await cache.verify(await signSession(claims({ sid }), key, NOW), opts);
  expect(cache.size).toBe(2);
});

test('cached claims are frozen so one request cannot alter the next', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims(), key, NOW);
  const r = await cache.verify(token, opts);
  if (!r.ok) throw new Error(r.detail);
  expect(() => r.claims.groups.push('admins')).toThrow();
});

test('peek answers at once for a cached, unexpired token of the same issuer and audience only', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims({ exp: S + 60 }), key, NOW);
  expect(cache.peek(token, opts)).toBeUndefined();
  const r = await cache.verify(token, opts);
  if (!r.ok) throw new Error(r.detail);
  lookups = 0;
  expect(cache.peek(token, opts)).toBe(r.claims);
  expect(cache.peek(token, { ...opts, audience: 'payroll' })).toBeUndefined();
  expect(cache.peek(token, { ...opts, issuer: 'elsewhere' })).toBeUndefined();
  expect(lookups).toBe(0);
  expect(cache.peek(token, { ...opts, nowMs: NOW + 60_000 })).toBeUndefined();
  expect(cache.size).toBe(0);
});

test('a token that only shares a cached token\'s signature is no hit, fails, and leaves that entry', async () => {
  const cache = createTokenCache();
  const token = await signSession(claims(), key, NOW);
  await cache.verify(token, opts);
  const [header, , signature] = token.split('.');
  const forgedPayload = Buffer.from(JSON.stringify({ ...claims(), sub: 'admin' })).toString('base64url');
  const forged = `${header}.${forgedPayload}.${signature}`;
  expect(cache.peek(forged, opts)).toBeUndefined();
  expect(await cache.verify(forged, opts)).toMatchObject({ ok: false });
  expect(cache.peek(token, opts)?.sub).toBe('u');
  expect(cache.size).toBe(1);
});

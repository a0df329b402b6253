import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyOverlapMs, openKeyStore } from '../../src/sessions/key-store.js';
import type { KeyStoreOptions } from '../../src/sessions/key-store.js';
import { signSession, verifySession } from '../../src/core/session-token.js';
import type { SessionClaimsInput } from '../../src/core/session-token.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const OVERLAP = keyOverlapMs(8 * 3600); // 9 h

function claims(nowMs: number, durationSec = 8 * 3600): SessionClaimsInput {
  const s = Math.floor(nowMs / 1000);
  return { iss: 'auth', sub: 'u', aud: 'wiki', groups: [], idp: 'okta', idp_type: 'oidc', amr: [], auth_time: s, sid: 's', exp: s + durationSec };
}

function base(over: Partial<KeyStoreOptions> = {}): KeyStoreOptions {
  return { dir: undefined, rotateAfterDays: 30, overlapMs: OVERLAP, nowMs: T0, ...over };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bouncer-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('keyOverlapMs is longest session + 1 h', () => {
  expect(keyOverlapMs(3600)).toBe(2 * 3600_000);
});

test.each(['ES256', 'EdDSA'] as const)('in-memory %s: sign, verify, JWKS is public only', async (alg) => {
  const ks = await openKeyStore(base({ alg }));
  const cur = ks.current();
  expect(cur.alg).toBe(alg);
  const token = await signSession(claims(T0), cur, T0);
  expect((await verifySession(token, { keys: ks.verifyKeys(), issuer: 'auth', audience: 'wiki', nowMs: T0 })).ok).toBe(true);
  const { keys } = ks.jwks();
  expect(keys).toHaveLength(1);
  expect(keys[0]).toMatchObject({ kid: cur.kid, alg, use: 'sig', kty: alg === 'ES256' ? 'EC' : 'OKP' });
  expect(Object.keys(keys[0] ?? {}).sort()).toEqual(alg === 'ES256' ? ['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y'] : ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
  expect(JSON.stringify(ks.jwks())).not.toMatch(/"d"/);
});

test('rotation: old token verifies during the overlap, not after; JWKS follows', async () => {
  const ks = await openKeyStore(base());
  const verifyKeys = ks.verifyKeys(); // captured once: must be a live view
  const k1 = ks.current().kid;
  const rotatedAt = T0 + 30 * DAY;
  const signedAt = rotatedAt - 60_000;
  const oldToken = await signSession(claims(signedAt), ks.current(), signedAt);
  // Longer than any real session, so only the key's removal can make it fail later.
  const longLived = await signSession(claims(signedAt, 60 * 86_400), ks.current(), signedAt);

  expect(await ks.rotateIfDue(signedAt)).toBe(false);
  expect(await ks.rotateIfDue(rotatedAt)).toBe(true);
  const k2 = ks.current().kid;
  expect(k2).not.toBe(k1);
  expect(ks.jwks().keys.map((k) => k.kid)).toEqual([k1, k2]);

  // Within the overlap the old key still verifies (the token itself is still within exp too).
  const during = rotatedAt + 60_000;
  expect(await ks.rotateIfDue(during)).toBe(false);
  expect((await verifySession(oldToken, { keys: verifyKeys, issuer: 'auth', audience: 'wiki', nowMs: during })).ok).toBe(true);

  expect((await verifySession(longLived, { keys: verifyKeys, issuer: 'auth', audience: 'wiki', nowMs: during })).ok).toBe(true);

  // After the overlap the old key is gone: even a token whose exp were still ahead would fail.
  const after = rotatedAt + OVERLAP;
  await ks.rotateIfDue(after);
  expect(ks.jwks().keys.map((k) => k.kid)).toEqual([k2]);
  expect(verifyKeys.get(k1)).toBeUndefined();
  expect(await verifySession(longLived, { keys: verifyKeys, issuer: 'auth', audience: 'wiki', nowMs: after })).toMatchObject({
    ok: false,
    reason: 'session_invalid',
    detail: `unknown key id "${k1}"`,
  });
  expect((await verifySession(await signSession(claims(after), ks.current(), after), { keys: verifyKeys, issuer: 'auth', audience: 'wiki', nowMs: after })).ok).toBe(true);
});

test('files: generated on first start with 0600 files in a 0700 dir, reloaded on restart', async () => {
  const keysDir = join(dir, 'keys');
  const ks = await openKeyStore(base({ dir: keysDir }));
  const kid = ks.current().kid;
  expect((await stat(keysDir)).mode & 0o777).toBe(0o700);
  const files = await readdir(keysDir);
  expect(files).toEqual([`${kid}.jwk.json`]);
  expect((await stat(join(keysDir, files[0] ?? ''))).mode & 0o777).toBe(0o600);
  const body = JSON.parse(await readFile(join(keysDir, `${kid}.jwk.json`), 'utf8')) as Record<string, unknown>;
  expect(body).toMatchObject({ kid, alg: 'ES256', created_at: new Date(T0).toISOString() });

  const token = await signSession(claims(T0), ks.current(), T0);
  const again = await openKeyStore(base({ dir: keysDir, nowMs: T0 + DAY }));
  expect(again.current().kid).toBe(kid);
  expect((await verifySession(token, { keys: again.verifyKeys(), issuer: 'auth', audience: 'wiki', nowMs: T0 + 1000 })).ok).toBe(true);
});

test('files: a rotation by another replica is picked up; dropped keys are deleted', async () => {
  const a = await openKeyStore(base({ dir }));
  const b = await openKeyStore(base({ dir, nowMs: T0 + 1000 }));
  expect(b.current().kid).toBe(a.current().kid);
  const old = a.current().kid;
  await a.rotateIfDue(T0 + 30 * DAY);
  const fresh = a.current().kid;
  await b.rotateIfDue(T0 + 30 * DAY + 1000); // b must not rotate again, only adopt a's key
  expect(b.current().kid).toBe(fresh);
  expect((await readdir(dir)).sort()).toEqual([`${old}.jwk.json`, `${fresh}.jwk.json`].sort());
  await a.rotateIfDue(T0 + 30 * DAY + OVERLAP);
  expect(await readdir(dir)).toEqual([`${fresh}.jwk.json`]);
});

test('files: refuses group/other-readable key files and group-writable dirs', async () => {
  const ks = await openKeyStore(base({ dir }));
  const file = join(dir, `${ks.current().kid}.jwk.json`);
  await chmod(file, 0o644);
  await expect(openKeyStore(base({ dir }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('chmod 600') });
  await chmod(file, 0o600);
  await chmod(dir, 0o770);
  await expect(openKeyStore(base({ dir }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('chmod 700') });
});

test('files: a planted key whose kid is not its thumbprint is refused', async () => {
  const ks = await openKeyStore(base({ dir }));
  const real = JSON.parse(await readFile(join(dir, `${ks.current().kid}.jwk.json`), 'utf8')) as Record<string, unknown>;
  const fakeKid = 'A'.repeat(43);
  await writeFile(join(dir, `${fakeKid}.jwk.json`), JSON.stringify({ ...real, kid: fakeKid }), { mode: 0o600 });
  await expect(openKeyStore(base({ dir }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining('thumbprint') });
});

test('files: junk JSON is a config error naming the file; unrelated files are ignored', async () => {
  await writeFile(join(dir, 'README'), 'hello', { mode: 0o600 });
  await openKeyStore(base({ dir }));
  const junk = join(dir, `${'B'.repeat(43)}.jwk.json`);
  await writeFile(junk, '{nope', { mode: 0o600 });
  await expect(openKeyStore(base({ dir }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID', message: expect.stringContaining(junk) });
});

test('rejects a non-positive rotation interval', async () => {
  await expect(openKeyStore(base({ rotateAfterDays: 0 }))).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
});

test('publish delay: a new key verifies at once but signs only once every process has had time to load it', async () => {
  let now = T0;
  const clock = (): number => now;
  const delay = 120_000;
  const a = await openKeyStore(base({ dir, publishDelayMs: delay, clock }));
  // The only key signs at once, however young: there is nothing older to fall back on.
  const first = a.current().kid;
  const b = await openKeyStore(base({ dir, nowMs: T0 + 1000, publishDelayMs: delay, clock }));
  expect(b.current().kid).toBe(first);

  now = T0 + 30 * DAY;
  await a.rotateIfDue(now);
  const fresh = a.jwks().keys.map((k) => k.kid).find((k) => k !== first) as string;
  expect(fresh).toBeDefined();
  // Within the delay the old key keeps signing, on the rotating process too…
  expect(a.current().kid).toBe(first);
  expect(a.verifyKeys().get(fresh)).toBeDefined();
  now += delay - 1;
  expect(a.current().kid).toBe(first);
  // …and once it has passed, both processes (b after its periodic re-read) sign with the new key.
  now += 1;
  await b.rotateIfDue(now);
  expect(a.current().kid).toBe(fresh);
  expect(b.current().kid).toBe(fresh);
  const token = await signSession(claims(now), a.current(), now);
  expect((await verifySession(token, { keys: b.verifyKeys(), issuer: 'auth', audience: 'wiki', nowMs: now })).ok).toBe(true);
});

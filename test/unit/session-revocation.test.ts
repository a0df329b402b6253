import { createMemoryRevocationStore, revokeSignIn } from '../../src/sessions/revocation.js';

const T = Date.UTC(2024, 0, 1, 12);
const S = T / 1000;

test('revoke by sid: refused until untilMs, other sessions unaffected', () => {
  const r = createMemoryRevocationStore();
  r.revokeSession('sid-1', T + 60_000);
  expect(r.isRevoked({ sid: 'sid-1', sub: 'u', iat: S - 100 }, T)).toBe(true);
  expect(r.isRevoked({ sid: 'sid-2', sub: 'u', iat: S - 100 }, T)).toBe(false);
  expect(r.isRevoked({ sid: 'sid-1', sub: 'u', iat: S - 100 }, T + 60_000)).toBe(false);
});

test('revoking a sid twice keeps the later expiry', () => {
  const r = createMemoryRevocationStore();
  r.revokeSession('s', T + 120_000);
  r.revokeSession('s', T + 1_000);
  expect(r.isRevoked({ sid: 's', sub: 'u', iat: S }, T + 60_000)).toBe(true);
});

test('revoke by user: sessions issued before are refused, later logins pass', () => {
  const r = createMemoryRevocationStore();
  r.revokeUser('okta:42', T);
  expect(r.isRevoked({ sid: 'a', sub: 'okta:42', iat: S - 3600 }, T + 1)).toBe(true);
  // Same second as the revocation: refused (fail closed, iat has second precision).
  expect(r.isRevoked({ sid: 'b', sub: 'okta:42', iat: S }, T + 1)).toBe(true);
  expect(r.isRevoked({ sid: 'c', sub: 'okta:42', iat: S + 1 }, T + 2000)).toBe(false);
  expect(r.isRevoked({ sid: 'a', sub: 'okta:7', iat: S - 3600 }, T + 1)).toBe(false);
});

test('an earlier user revocation never undoes a later one', () => {
  const r = createMemoryRevocationStore();
  r.revokeUser('u', T);
  r.revokeUser('u', T - 3_600_000);
  expect(r.isRevoked({ sid: 'a', sub: 'u', iat: S - 60 }, T)).toBe(true);
});

test('user revocations are forgotten after the retention, sid entries after their expiry', () => {
  const r = createMemoryRevocationStore({ userRetentionMs: 3_600_000 });
  r.revokeUser('u', T);
  r.revokeSession('s', T + 1000);
  r.prune(T + 3_600_000);
  // The old token would have expired by now; the entry is gone.
  expect(r.isRevoked({ sid: 'x', sub: 'u', iat: S - 10 }, T + 3_600_000)).toBe(false);
  expect(r.isRevoked({ sid: 's', sub: 'v', iat: S - 10 }, T + 3_600_000)).toBe(false);
});

test('revoking a sign-in lasts until the longest session derived from it could expire, not until the presented one does', () => {
  const r = createMemoryRevocationStore();
  // The presented session ends in 10 minutes; sessions of the same sign-in may live 8 hours.
  expect(revokeSignIn(r, { sid: 's', exp: S + 600 }, T, 8 * 3_600_000)).toBe(T + 8 * 3_600_000);
  expect(r.isRevoked({ sid: 's', sub: 'u', iat: S }, T + 8 * 3_600_000 - 1)).toBe(true);
  // A presented session that outlives the bound (issued under a longer duration) keeps its own expiry.
  expect(revokeSignIn(r, { sid: 't', exp: S + 9 * 3600 }, T, 8 * 3_600_000)).toBe(T + 9 * 3_600_000);
});

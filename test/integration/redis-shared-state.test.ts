/**
 * createSharedState with `redis` configured, as the composition root (src/serve) calls it: two
 * "replicas" (two calls) share every store; a key prefix separates deployments.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createSharedState } from '../../src/stores/create-shared-state.js';
import type { SharedState } from '../../src/stores/shared-state.js';
import { SharedStateError } from '../../src/stores/shared-state-errors.js';
import { waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

let server: PrivateRedis;
const opened: SharedState[] = [];

beforeAll(async () => {
  server = await startPrivateRedis();
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await server.close();
});

async function replica(keyPrefix?: string): Promise<SharedState> {
  const s = await createSharedState({ redis: { url: server.url, ...(keyPrefix ? { keyPrefix } : {}) }, userRetentionMs: 3_600_000 });
  opened.push(s);
  await s.start();
  return s;
}

test('two replicas share revocations, handoffs, SAML IDs and login transactions', async () => {
  const a = await replica();
  const b = await replica();
  expect(a.backend).toBe('redis');
  const now = Date.now();

  expect(await a.handoffs.consume('jti', 60_000, now)).toBe(true);
  expect(await b.handoffs.consume('jti', 60_000, now)).toBe(false);
  expect(await b.samlAssertions.consume('_a1', 60_000, now)).toBe(true);
  expect(await a.samlAssertions.consume('_a1', 60_000, now)).toBe(false);
  expect(await a.samlRequests.consume('_a1', 60_000, now)).toBe(true);

  const tx = { id: 'st', idp: 'okta', app: 'wiki', rd: 'https://wiki.example.com/', secrets: { nonce: 'n' }, createdMs: now };
  await a.transactions.put(tx, 60_000);
  expect(await b.transactions.take('st')).toEqual({ ok: true, tx });
  expect(await a.transactions.take('st')).toEqual({ ok: false, problem: 'replayed' });

  a.revocation.revokeSession('sid', now + 60_000);
  await waitFor('b refuses the session', async () => b.revocation.isRevoked({ sid: 'sid', sub: 'u', iat: 0 }, Date.now()), 1_000, 5);
  expect(a.health().ok && b.health().ok).toBe(true);
});

test('deployments with different key prefixes do not see each other', async () => {
  const one = await replica('dep1:');
  const two = await replica('dep2:');
  expect(await one.handoffs.consume('shared-id', 60_000, Date.now())).toBe(true);
  expect(await two.handoffs.consume('shared-id', 60_000, Date.now())).toBe(true);
  one.revocation.revokeSession('s-dep1', Date.now() + 60_000);
  await one.revocation.flush();
  const probe = await replica('dep2:');
  expect(probe.revocation.isRevoked({ sid: 's-dep1', sub: 'u', iat: 0 }, Date.now())).toBe(false);
  expect(two.revocation.isRevoked({ sid: 's-dep1', sub: 'u', iat: 0 }, Date.now())).toBe(false);
});

test('start() rejects with ERR_STORE_UNAVAILABLE when Redis is not there, and the stores refuse', async () => {
  const s = await createSharedState({ redis: { url: 'redis://127.0.0.1:1', commandTimeoutMs: 200, startTimeoutMs: 300 } });
  opened.push(s);
  const err = await s.start().catch((e: unknown) => e);
  expect(err instanceof SharedStateError && err.code).toBe('ERR_STORE_UNAVAILABLE');
  expect(s.revocation.isRevoked({ sid: 'x', sub: 'u', iat: 0 }, Date.now())).toBe(true);
  const consumed = await s.handoffs.consume('j', 60_000, Date.now()).catch((e: unknown) => e);
  expect(consumed instanceof SharedStateError && consumed.code).toBe('ERR_STORE_UNAVAILABLE');
});

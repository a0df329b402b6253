/**
 * Revocations across two replicas sharing one private Redis: propagation,
 * loading at start, and what is stored in Redis.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { createRedisClient } from '../../src/stores/redis/client.js';
import { createRedisRevocationStore, type RedisRevocationStoreOptions } from '../../src/stores/redis/revocation-store.js';
import { waitForRedisReady } from '../../src/stores/redis/wait-ready.js';
import type { SharedRevocationStore, SharedStateHealth } from '../../src/stores/shared-state.js';
import { waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

let server: PrivateRedis;
let admin: Redis;
const open: { store: SharedRevocationStore; redis: Redis }[] = [];
let prefix = '';
let n = 0;

beforeAll(async () => {
  server = await startPrivateRedis();
  admin = createRedisClient({ url: server.url });
  await waitForRedisReady(admin, 5_000);
});
beforeEach(() => {
  prefix = `rev${++n}:`;
});
afterEach(async () => {
  for (const { store, redis } of open.splice(0)) {
    await store.close();
    redis.disconnect();
  }
});
afterAll(async () => {
  admin.disconnect();
  await server.close();
});

/** A "replica": its own connection and store. */
async function replica(extra: Partial<RedisRevocationStoreOptions> = {}): Promise<SharedRevocationStore> {
  const redis = createRedisClient({ url: server.url });
  const store = createRedisRevocationStore({ redis, prefix, ...extra });
  open.push({ store, redis });
  await store.start();
  return store;
}

const claims = (sid: string, sub = 'user', iat = Math.floor(Date.now() / 1000) - 60) => ({ sid, sub, iat });

test('a session revoked on one replica is refused by the other within a second', async () => {
  const a = await replica();
  const b = await replica();
  expect(b.isRevoked(claims('s1'), Date.now())).toBe(false);
  const t0 = Date.now();
  a.revokeSession('s1', t0 + 60_000);
  // Synchronous on the replica that revoked: no window where it still accepts.
  expect(a.isRevoked(claims('s1'), Date.now())).toBe(true);
  await waitFor('replica b to see the revocation', async () => b.isRevoked(claims('s1'), Date.now()), 1_000, 5);
  expect(Date.now() - t0).toBeLessThan(1_000);
  expect(b.isRevoked(claims('s2'), Date.now())).toBe(false);
});

test('a user revocation propagates the same way', async () => {
  const a = await replica();
  const b = await replica();
  const before = Date.now();
  a.revokeUser('okta:7', before);
  await waitFor('user revocation on b', async () => b.isRevoked(claims('any', 'okta:7'), Date.now()), 1_000, 5);
  expect(b.isRevoked(claims('later', 'okta:7', Math.floor(before / 1000) + 1), before + 2_000)).toBe(false);
});

test('a replica started later loads existing revocations before start() resolves', async () => {
  const a = await replica();
  a.revokeSession('old', Date.now() + 60_000);
  a.revokeUser('gone', Date.now());
  await a.flush();
  const late = await replica();
  expect(late.isRevoked(claims('old'), Date.now())).toBe(true);
  expect(late.isRevoked(claims('x', 'gone'), Date.now())).toBe(true);
  expect(late.health()).toMatchObject({ ok: true, state: 'synced', denyingAll: false, pendingWrites: 0 });
});

test('keys expire when they stop mattering: sid at its expiry, user after the retention', async () => {
  const a = await replica({ userRetentionMs: 30_000 });
  const now = Date.now();
  a.revokeSession('ttl', now + 20_000);
  a.revokeUser('kept', now);
  a.revokeUser('forever-cut', now);
  await a.flush();
  const sidTtl = await admin.pttl(`${prefix}s:ttl`);
  expect(sidTtl).toBeGreaterThan(18_000);
  expect(sidTtl).toBeLessThanOrEqual(20_000);
  const userTtl = await admin.pttl(`${prefix}u:kept`);
  expect(userTtl).toBeGreaterThan(28_000);
  expect(userTtl).toBeLessThanOrEqual(30_000);
  expect(await admin.get(`${prefix}s:ttl`)).toBe(String(now + 20_000));
});

test('without a retention a user revocation never expires in Redis', async () => {
  const a = await replica();
  a.revokeUser('u', Date.now());
  await a.flush();
  expect(await admin.pttl(`${prefix}u:u`)).toBe(-1);
});

test('an earlier revocation never lowers a later one, in Redis or on other replicas', async () => {
  const a = await replica();
  const b = await replica();
  const until = Date.now() + 120_000;
  a.revokeSession('s', until);
  await a.flush();
  b.revokeSession('s', Date.now() + 1_000);
  await b.flush();
  expect(await admin.get(`${prefix}s:s`)).toBe(String(until));
  await waitFor('a sees s', async () => a.isRevoked(claims('s'), Date.now()), 1_000, 5);
  expect(a.isRevoked(claims('s'), until - 1)).toBe(true);
});

test('malformed messages on the channel are ignored', async () => {
  const a = await replica();
  const b = await replica();
  // A numeric string would coerce into a far-future expiry if types were not checked.
  await admin.publish(`${prefix}events`, '{"k":"s","id":"evil","v":"9999999999999"}');
  await admin.publish(`${prefix}events`, '{"k":"x","id":"evil","v":9999999999999}');
  await admin.publish(`${prefix}events`, 'garbage');
  a.revokeSession('marker', Date.now() + 60_000);
  await waitFor('marker on b', async () => b.isRevoked(claims('marker'), Date.now()), 1_000, 5);
  expect(b.isRevoked(claims('evil'), Date.now())).toBe(false);
  expect(b.health().ok).toBe(true);
});

test('health is reported through the callback when synced', async () => {
  const seen: SharedStateHealth[] = [];
  await replica({ onHealth: (h) => seen.push(h) });
  expect(seen.at(-1)).toMatchObject({ ok: true, state: 'synced' });
});

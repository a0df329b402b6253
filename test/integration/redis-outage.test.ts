/**
 * Redis stopped, paused and restarted under live stores: refuse what cannot be
 * decided, say so on health, and recover without help, losing no revocation.
 * The private server has no persistence, so a restart comes back empty.
 */
import { afterAll, afterEach, beforeAll, expect, test } from '@jest/globals';
import type { Redis } from 'ioredis';
import { SharedStateError } from '../../src/stores/shared-state-errors.js';
import { createRedisClient } from '../../src/stores/redis/client.js';
import { createRedisOnceStore } from '../../src/stores/redis/once-store.js';
import { createRedisRevocationStore, type RedisRevocationStoreOptions } from '../../src/stores/redis/revocation-store.js';
import { createRedisTransactionStore } from '../../src/stores/redis/transaction-store.js';
import { waitForRedisReady } from '../../src/stores/redis/wait-ready.js';
import type { SharedRevocationStore, SharedStateHealth } from '../../src/stores/shared-state.js';
import { waitFor } from '../helpers/ports.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

let server: PrivateRedis;
let down = false;
let paused = false;
const clients: Redis[] = [];
const stores: SharedRevocationStore[] = [];
let prefix = '';
let n = 0;

beforeAll(async () => {
  server = await startPrivateRedis();
});
beforeEach(() => {
  prefix = `out${++n}:`;
});
afterEach(async () => {
  if (paused) server.resume();
  if (down) await server.start();
  paused = down = false;
  await Promise.all(stores.splice(0).map((s) => s.close()));
  for (const c of clients.splice(0)) c.disconnect();
});
afterAll(() => server.close());

async function connection(commandTimeoutMs?: number): Promise<Redis> {
  const c = createRedisClient({ url: server.url, ...(commandTimeoutMs ? { commandTimeoutMs } : {}) });
  clients.push(c);
  if (!down) await waitForRedisReady(c, 5_000);
  return c;
}

async function replica(extra: Partial<RedisRevocationStoreOptions> = {}, started = true): Promise<SharedRevocationStore> {
  const store = createRedisRevocationStore({ redis: await connection(), prefix, ...extra });
  stores.push(store);
  if (started) await store.start();
  return store;
}

async function stop(): Promise<void> {
  down = true;
  await server.stop();
}

const fresh = (sid = 'fresh') => ({ sid, sub: 'someone', iat: Math.floor(Date.now() / 1000) - 10 });
const codeOf = (err: unknown): string | undefined => (err instanceof SharedStateError ? err.code : undefined);

test('Redis stopped: health goes false, the mirror answers during the grace, then fail mode applies', async () => {
  const closed = await replica({ graceMs: 5_000 });
  const open = await replica({ graceMs: 0, failMode: 'open-cached' });
  closed.revokeSession('known', Date.now() + 60_000);
  await waitFor('open replica sees known', async () => open.isRevoked(fresh('known'), Date.now()), 1_000, 5);

  await stop();
  await waitFor('closed replica unsynced', async () => closed.health().state === 'unsynced', 3_000, 10);
  const h = closed.health();
  expect(h.ok).toBe(false);
  expect(h.denyingAll).toBe(false);
  expect(h.error).toBeDefined();
  // Inside the grace the mirror decides; from its end on, unknown state means deny.
  expect(closed.isRevoked(fresh(), h.sinceMs + 4_999)).toBe(false);
  expect(closed.isRevoked(fresh(), h.sinceMs + 5_000)).toBe(true);
  expect(closed.isRevoked(fresh('known'), h.sinceMs)).toBe(true);

  await waitFor('open replica unsynced', async () => open.health().state === 'unsynced', 3_000, 10);
  expect(open.health()).toMatchObject({ ok: false, denyingAll: false });
  expect(open.isRevoked(fresh('known'), Date.now())).toBe(true);
  // Long after any grace, open-cached still answers from the mirror.
  expect(open.isRevoked(fresh(), Date.now() + 30_000)).toBe(false);
});

test('the health callback reports the fail-closed switch when the grace runs out', async () => {
  const seen: SharedStateHealth[] = [];
  const r = await replica({ graceMs: 300, onHealth: (h) => seen.push(h) });
  await stop();
  await waitFor('denyingAll reported', async () => seen.some((h) => h.denyingAll), 3_000, 10);
  expect(r.isRevoked(fresh(), Date.now())).toBe(true);
  expect(seen.find((h) => h.denyingAll)).toMatchObject({ ok: false, state: 'unsynced' });
});

test('Redis stopped: single-use and transaction stores refuse quickly with ERR_STORE_UNAVAILABLE', async () => {
  const redis = await connection();
  const once = createRedisOnceStore({ redis, prefix });
  const txs = createRedisTransactionStore({ redis, prefix });
  const tx = { id: 'state', idp: 'okta', app: 'wiki', rd: 'https://wiki.example.com/', secrets: {}, createdMs: Date.now() };
  await txs.put(tx, 60_000);
  await stop();
  const t0 = Date.now();
  await expect(once.consume('jti', 60_000, Date.now()).catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');
  await expect(txs.take('state').catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');
  await expect(txs.put({ ...tx, id: 'other' }, 60_000).catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');
  expect(Date.now() - t0).toBeLessThan(1_500);

  await server.start();
  down = false;
  await waitForRedisReady(redis, 5_000);
  await waitFor('consume works again', async () => once.consume('jti', 60_000, Date.now()).catch(() => undefined), 5_000, 50);
  expect(await once.consume('jti', 60_000, Date.now())).toBe(false);
});

test('restart: revocations made during the outage and those Redis lost reach every replica; nothing is lost', async () => {
  const a = await replica();
  const b = await replica();
  const until = Date.now() + 120_000;
  a.revokeSession('before', until);
  await waitFor('b sees before', async () => b.isRevoked(fresh('before'), Date.now()), 1_000, 5);

  await stop();
  await waitFor('both unsynced', async () => a.health().state === 'unsynced' && b.health().state === 'unsynced', 3_000, 10);
  a.revokeSession('during', until);
  b.revokeUser('fired', Date.now());
  // Applied locally at once, kept for Redis, and reported as not yet shared.
  expect(a.isRevoked(fresh('during'), Date.now())).toBe(true);
  expect(a.health().pendingWrites).toBe(1);
  await expect(a.flush().catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');

  await server.start();
  down = false;
  await waitFor('both healthy again', async () => a.health().ok && b.health().ok, 8_000, 20);
  expect(b.isRevoked(fresh('during'), Date.now())).toBe(true);
  expect(a.isRevoked({ sid: 'x', sub: 'fired', iat: Math.floor(Date.now() / 1000) - 5 }, Date.now())).toBe(true);

  // The restarted Redis came back empty; the replicas wrote everything back.
  const late = await replica();
  expect(late.isRevoked(fresh('before'), Date.now())).toBe(true);
  expect(late.isRevoked(fresh('during'), Date.now())).toBe(true);
  expect(late.isRevoked({ sid: 'y', sub: 'fired', iat: Math.floor(Date.now() / 1000) - 5 }, Date.now())).toBe(true);
  expect(late.isRevoked(fresh('never'), Date.now())).toBe(false);
});

test('a replica started while Redis is down fails closed until it can load, then recovers', async () => {
  await stop();
  const r = await replica({ graceMs: 60_000, startTimeoutMs: 300 }, false);
  await expect(r.start().catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');
  // Never loaded: no grace applies, nothing is known.
  expect(r.isRevoked(fresh(), Date.now())).toBe(true);
  expect(r.health()).toMatchObject({ ok: false, state: 'starting', denyingAll: true });

  await server.start();
  down = false;
  await waitFor('synced after Redis came up', async () => r.health().ok, 8_000, 20);
  expect(r.isRevoked(fresh(), Date.now())).toBe(false);
});

test('a paused Redis is caught by the heartbeat and commands time out instead of hanging', async () => {
  const r = await replica({ heartbeatMs: 200, commandTimeoutMs: 300 });
  const once = createRedisOnceStore({ redis: await connection(300), prefix, commandTimeoutMs: 300 });
  server.pause();
  paused = true;
  await waitFor('heartbeat notices', async () => r.health().state === 'unsynced', 3_000, 20);
  const t0 = Date.now();
  await expect(once.consume('p', 60_000, Date.now()).catch(codeOf)).resolves.toBe('ERR_STORE_UNAVAILABLE');
  expect(Date.now() - t0).toBeLessThan(1_000);

  server.resume();
  paused = false;
  await waitFor('healthy after resume', async () => r.health().ok, 8_000, 20);
  await waitFor('consume works after resume', async () => once.consume('p2', 60_000, Date.now()).catch(() => undefined), 5_000, 50);
});

test("a call's abort stops the wait for a Redis that does not answer; a command aborted before it is sent is never sent", async () => {
  // The command timeout is far away: only the abort can end the wait.
  const once = createRedisOnceStore({ redis: await connection(30_000), prefix, commandTimeoutMs: 30_000 });
  const why = new Error('the call deadline passed');

  const before = new AbortController();
  before.abort(why);
  await expect(once.consume('never-sent', 60_000, Date.now(), before.signal)).rejects.toBe(why);

  server.pause();
  paused = true;
  const during = new AbortController();
  const pending = once.consume('in-flight', 60_000, Date.now(), during.signal);
  let settled = false;
  void pending.catch(() => undefined).finally(() => (settled = true));
  // Redis is stopped: nothing answers the SET while the call still wants it.
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(settled).toBe(false);
  during.abort(why);
  await expect(pending).rejects.toBe(why);

  server.resume();
  paused = false;
  // The aborted-before-sending key was never written: it is still fresh now.
  await waitFor('Redis answering again', async () => once.consume('probe', 60_000, Date.now()), 5_000, 50);
  await expect(once.consume('never-sent', 60_000, Date.now())).resolves.toBe(true);
});

/**
 * One contract for the single-use and transaction stores, run against the
 * memory backend and a private Redis: whatever src/serve picks, the answers are
 * the same. Time is a fake clock for memory and real time for Redis (its
 * expiry runs on the server's clock), hence the short TTLs.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { Redis } from 'ioredis';
import { createMemoryOnceStore } from '../../src/stores/memory/once-store.js';
import { createMemorySharedTransactionStore } from '../../src/stores/memory/transaction-store.js';
import { createMemorySharedRevocationStore } from '../../src/stores/memory/revocation-store.js';
import { createRedisClient } from '../../src/stores/redis/client.js';
import { createRedisOnceStore } from '../../src/stores/redis/once-store.js';
import { createRedisRevocationStore } from '../../src/stores/redis/revocation-store.js';
import { createRedisTransactionStore } from '../../src/stores/redis/transaction-store.js';
import { waitForRedisReady } from '../../src/stores/redis/wait-ready.js';
import type { LoginTransaction, OnceStore, RevocationStore, SharedRevocationStore, SharedTransactionStore } from '../../src/stores/shared-state.js';
import { startPrivateRedis, type PrivateRedis } from '../helpers/redis-server.js';

const TTL = 400;
const REMEMBER = 400;

interface Backend {
  /** A store for `purpose`; the same purpose twice gives stores sharing state where the backend can. */
  once(purpose: string): OnceStore;
  transactions(): SharedTransactionStore;
  /** Revocation stores on two "replicas" (the same store for memory) and a way to wait until b has seen a's writes. */
  revocationPair(): Promise<{ a: RevocationStore; b: RevocationStore; settle(): Promise<void> }>;
  now(): number;
  advance(ms: number): Promise<void>;
}

let server: PrivateRedis;
// Two connections, as two replicas would have.
let clientA: Redis;
let clientB: Redis;
const revocations: SharedRevocationStore[] = [];
let fakeNow = Date.UTC(2024, 0, 1, 12);
let seq = 0;

beforeAll(async () => {
  server = await startPrivateRedis();
  clientA = createRedisClient({ url: server.url });
  clientB = createRedisClient({ url: server.url });
  await Promise.all([waitForRedisReady(clientA, 5_000), waitForRedisReady(clientB, 5_000)]);
});
afterAll(async () => {
  await Promise.all(revocations.map((r) => r.close()));
  clientA.disconnect();
  clientB.disconnect();
  await server.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const memory: Backend = {
  once: () => createMemoryOnceStore(),
  transactions: () => createMemorySharedTransactionStore({ clock: () => fakeNow, rememberMs: REMEMBER }),
  async revocationPair() {
    const a = createMemorySharedRevocationStore();
    return { a, b: a, settle: () => Promise.resolve() };
  },
  now: () => fakeNow,
  advance: (ms) => {
    fakeNow += ms;
    return Promise.resolve();
  },
};

const redis: Backend = {
  // A fresh prefix per test keeps tests independent on the one server.
  once: (purpose) => createRedisOnceStore({ redis: clientA, prefix: `t${seq}:${purpose}:` }),
  transactions: () => createRedisTransactionStore({ redis: clientA, prefix: `t${seq}:tx:`, rememberMs: REMEMBER }),
  async revocationPair() {
    const prefix = `t${seq}:rev:`;
    const a = createRedisRevocationStore({ redis: clientA, prefix });
    const b = createRedisRevocationStore({ redis: clientB, prefix });
    revocations.push(a, b);
    await Promise.all([a.start(), b.start()]);
    let marker = 0;
    return {
      a,
      b,
      // Messages from one connection arrive in order, so once b sees a marker
      // written after everything else, it has seen everything else.
      async settle() {
        const sid = `settle-${++marker}`;
        a.revokeSession(sid, Date.now() + 60_000);
        await a.flush();
        const deadline = Date.now() + 2_000;
        while (!b.isRevoked({ sid, sub: '-', iat: 0 }, Date.now())) {
          if (Date.now() > deadline) throw new Error('replica b never saw replica a');
          await sleep(10);
        }
      },
    };
  },
  now: () => Date.now(),
  advance: (ms) => sleep(ms),
};

function loginTx(id: string, now: number): LoginTransaction {
  return { id, idp: 'okta', app: 'wiki', rd: 'https://wiki.example.com/page?x=1', bind: 'b'.repeat(43), secrets: { verifier: 'v'.repeat(43), nonce: 'n-1' }, createdMs: now };
}

describe.each([
  ['memory', memory],
  ['redis', redis],
] as const)('%s backend', (_name, backend) => {
  beforeEach(() => {
    seq += 1;
  });

  describe('OnceStore', () => {
    test('a key is accepted once, then refused while remembered', async () => {
      const s = backend.once('handoff');
      const now = backend.now();
      expect(await s.consume('jti-1', TTL, now)).toBe(true);
      expect(await s.consume('jti-1', TTL, now)).toBe(false);
      expect(await s.consume('jti-2', TTL, now)).toBe(true);
    });

    test('a key is forgotten after its TTL', async () => {
      const s = backend.once('handoff');
      expect(await s.consume('k', TTL, backend.now())).toBe(true);
      await backend.advance(TTL + 100);
      expect(await s.consume('k', TTL, backend.now())).toBe(true);
    });

    test('purposes do not collide', async () => {
      const handoffs = backend.once('handoff');
      const assertions = backend.once('saml-assertion');
      const now = backend.now();
      expect(await handoffs.consume('same-id', TTL, now)).toBe(true);
      expect(await assertions.consume('same-id', TTL, now)).toBe(true);
    });

    test('of many simultaneous uses exactly one wins', async () => {
      const s = backend.once('handoff');
      const now = backend.now();
      const results = await Promise.all(Array.from({ length: 25 }, () => s.consume('race', TTL, now)));
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    test('a spent TTL is accepted as the shortest one; a non-number TTL is refused', async () => {
      const s = backend.once('handoff');
      const now = backend.now();
      // Redis refuses `PX 0` or negative values; the store must not pass them on.
      expect(await s.consume('late', -5, now)).toBe(true);
      await expect(s.consume('nan', Number.NaN, now)).rejects.toThrow(RangeError);
    });
  });

  describe('SharedTransactionStore', () => {
    test('put then take returns the transaction intact, once', async () => {
      const s = backend.transactions();
      const tx = loginTx('state-1', backend.now());
      await s.put(tx, TTL);
      expect(await s.take('state-1')).toEqual({ ok: true, tx });
      expect(await s.take('state-1')).toEqual({ ok: false, problem: 'replayed' });
    });

    test('an id never stored is unknown', async () => {
      expect(await backend.transactions().take('forged')).toEqual({ ok: false, problem: 'unknown' });
    });

    test('a late take is expired and spends the id; much later it is unknown', async () => {
      const s = backend.transactions();
      await s.put(loginTx('slow', backend.now()), TTL);
      await backend.advance(TTL + 50);
      expect(await s.take('slow')).toEqual({ ok: false, problem: 'expired' });
      expect(await s.take('slow')).toEqual({ ok: false, problem: 'replayed' });
      await backend.advance(REMEMBER + 100);
      expect(await s.take('slow')).toEqual({ ok: false, problem: 'unknown' });
    });

    test('of simultaneous takes exactly one gets the transaction', async () => {
      const s = backend.transactions();
      await s.put(loginTx('dup', backend.now()), TTL);
      const results = await Promise.all(Array.from({ length: 10 }, () => s.take('dup')));
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && r.problem === 'replayed')).toHaveLength(9);
    });
  });

  describe('RevocationStore', () => {
    const T = Date.now() + 3_600_000;
    const S = Math.floor(T / 1000);

    test('a revoked sid is refused until its expiry, the later expiry wins', async () => {
      const { a, b, settle } = await backend.revocationPair();
      a.revokeSession('sid-1', T + 120_000);
      a.revokeSession('sid-1', T + 1_000);
      await settle();
      expect(b.isRevoked({ sid: 'sid-1', sub: 'u', iat: S - 100 }, T + 60_000)).toBe(true);
      expect(b.isRevoked({ sid: 'sid-2', sub: 'u', iat: S - 100 }, T + 60_000)).toBe(false);
      expect(b.isRevoked({ sid: 'sid-1', sub: 'u', iat: S - 100 }, T + 120_000)).toBe(false);
    });

    test('a user revocation refuses sessions issued up to its second, not later ones', async () => {
      const { a, b, settle } = await backend.revocationPair();
      a.revokeUser('okta:42', T);
      a.revokeUser('okta:42', T - 3_600_000);
      await settle();
      expect(b.isRevoked({ sid: 'x', sub: 'okta:42', iat: S - 3600 }, T + 1)).toBe(true);
      expect(b.isRevoked({ sid: 'y', sub: 'okta:42', iat: S }, T + 1)).toBe(true);
      expect(b.isRevoked({ sid: 'z', sub: 'okta:42', iat: S + 1 }, T + 2_000)).toBe(false);
      expect(b.isRevoked({ sid: 'x', sub: 'okta:7', iat: S - 3600 }, T + 1)).toBe(false);
    });
  });
});

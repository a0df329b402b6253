/**
 * What only the memory backends do (bounds, eviction, lifecycle stubs), the
 * shared helpers, and the memory choice of createSharedState. The behaviour
 * both backends share is in test/integration/redis-stores-contract.test.ts.
 */
import { describe, expect, test } from '@jest/globals';
import { createSharedState } from '../../src/stores/create-shared-state.js';
import { SharedStateError } from '../../src/stores/shared-state-errors.js';
import { createMemoryOnceStore } from '../../src/stores/memory/once-store.js';
import { createMemorySharedRevocationStore } from '../../src/stores/memory/revocation-store.js';
import { createMemorySharedTransactionStore } from '../../src/stores/memory/transaction-store.js';
import { runRedisCommand } from '../../src/stores/redis/command.js';
import { checkTtl } from '../../src/stores/shared-state-ttl.js';

const T = Date.UTC(2024, 0, 1, 12);
const codeOf = (err: unknown): string | undefined => (err instanceof SharedStateError ? err.code : undefined);

describe('memory OnceStore', () => {
  test('full of live keys: refuses with ERR_STORE_FULL instead of forgetting one', async () => {
    const s = createMemoryOnceStore({ capacity: 2 });
    expect(await s.consume('a', 1_000, T)).toBe(true);
    expect(await s.consume('b', 5_000, T)).toBe(true);
    await expect(s.consume('c', 1_000, T).catch(codeOf)).resolves.toBe('ERR_STORE_FULL');
    // The refused key was not recorded; a live one is still refused as a replay.
    expect(await s.consume('b', 5_000, T + 10)).toBe(false);
    // Once `a` expires its slot is reused.
    expect(await s.consume('c', 1_000, T + 1_000)).toBe(true);
    expect(s.size).toBe(2);
  });

  test('a live key behind an expired one keeps its own expiry', async () => {
    const s = createMemoryOnceStore();
    await s.consume('long', 10_000, T);
    await s.consume('short', 100, T);
    expect(await s.consume('long', 10_000, T + 5_000)).toBe(false);
    expect(await s.consume('short', 100, T + 5_000)).toBe(true);
  });
});

describe('memory SharedTransactionStore', () => {
  test('when full, the oldest pending login is dropped (and reported unknown)', async () => {
    let now = T;
    const s = createMemorySharedTransactionStore({ capacity: 2, clock: () => now });
    const tx = (id: string) => ({ id, idp: 'i', app: 'a', rd: 'https://a.example/', secrets: {}, createdMs: now });
    await s.put(tx('1'), 60_000);
    await s.put(tx('2'), 60_000);
    now += 1;
    await s.put(tx('3'), 60_000);
    expect(s.size).toBe(2);
    expect(await s.take('1')).toEqual({ ok: false, problem: 'unknown' });
    expect((await s.take('3')).ok).toBe(true);
  });
});

describe('memory SharedRevocationStore', () => {
  test('is healthy until closed, and revokes like the memory store', async () => {
    const r = createMemorySharedRevocationStore({ clock: () => T });
    await r.start();
    r.revokeSession('s', T + 1_000);
    expect(r.isRevoked({ sid: 's', sub: 'u', iat: T / 1000 - 5 }, T)).toBe(true);
    expect(r.health()).toEqual({ ok: true, state: 'synced', denyingAll: false, pendingWrites: 0, sinceMs: T });
    await r.close();
    expect(r.health()).toMatchObject({ ok: false, state: 'stopped' });
  });
});

describe('createSharedState', () => {
  test('without redis everything is in memory and works at once', async () => {
    const shared = await createSharedState({ clock: () => T });
    expect(shared.backend).toBe('memory');
    await shared.start();
    expect(await shared.handoffs.consume('j', 60_000, T)).toBe(true);
    expect(await shared.handoffs.consume('j', 60_000, T)).toBe(false);
    // Separate purposes: the same id in another store is new.
    expect(await shared.samlAssertions.consume('j', 60_000, T)).toBe(true);
    expect(shared.health().ok).toBe(true);
    await shared.close();
  });
});

describe('checkTtl', () => {
  test.each([
    [1.2, 2],
    [0, 1],
    [-5, 1],
    [60_000, 60_000],
  ])('%p ms becomes %p', (input, expected) => {
    expect(checkTtl(input)).toBe(expected);
  });

  test.each([Number.NaN, Infinity])('%p is refused', (input) => {
    expect(() => checkTtl(input)).toThrow(RangeError);
  });
});

describe('runRedisCommand', () => {
  test('passes a reply through', async () => {
    await expect(runRedisCommand('GET', 100, () => Promise.resolve('v'))).resolves.toBe('v');
  });

  test('a command that never answers fails closed after the timeout', async () => {
    const t0 = Date.now();
    const err = await runRedisCommand('SET NX', 50, () => new Promise<string>(() => undefined)).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('ERR_STORE_UNAVAILABLE');
    expect(String(err)).toContain('SET NX');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
  });

  test('rejections and synchronous throws become ERR_STORE_UNAVAILABLE with the cause kept', async () => {
    const cause = new Error('ECONNREFUSED');
    const rejected = await runRedisCommand('GET', 100, () => Promise.reject(cause)).catch((e: unknown) => e);
    expect(codeOf(rejected)).toBe('ERR_STORE_UNAVAILABLE');
    expect((rejected as Error).cause).toBe(cause);
    const thrown = await runRedisCommand('GET', 100, () => {
      throw cause;
    }).catch((e: unknown) => e);
    expect(codeOf(thrown)).toBe('ERR_STORE_UNAVAILABLE');
  });
});

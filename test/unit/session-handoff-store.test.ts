import { HANDOFF_MARGIN_MS, handoffStoreOver } from '../../src/sessions/handoff-store.js';
import { createMemoryOnceStore } from '../../src/stores/memory/once-store.js';

const T = Date.UTC(2024, 0, 1);

test('a jti is accepted once', async () => {
  const s = handoffStoreOver(createMemoryOnceStore());
  await expect(s.consume('j1', T + 60_000, T)).resolves.toBe(true);
  await expect(s.consume('j1', T + 60_000, T + 1000)).resolves.toBe(false);
  await expect(s.consume('j2', T + 60_000, T + 1000)).resolves.toBe(true);
});

test('remembered beyond exp + clock tolerance, forgotten after the margin', async () => {
  const once = createMemoryOnceStore();
  const s = handoffStoreOver(once);
  await s.consume('j1', T + 60_000, T);
  await expect(s.consume('j1', T + 60_000, T + 60_000 + 30_000)).resolves.toBe(false); // jose would still accept the token here
  expect(once.size).toBe(1);
  await s.consume('other', T + 500_000, T + 60_000 + HANDOFF_MARGIN_MS + 1);
  expect(once.size).toBe(1); // j1 pruned
});

test('full of live entries: refuses (rejects) rather than forgetting', async () => {
  const s = handoffStoreOver(createMemoryOnceStore({ capacity: 2 }));
  await expect(s.consume('a', T + 60_000, T)).resolves.toBe(true);
  await expect(s.consume('b', T + 60_000, T)).resolves.toBe(true);
  await expect(s.consume('c', T + 60_000, T)).rejects.toMatchObject({ code: 'ERR_STORE_FULL' });
  await expect(s.consume('a', T + 60_000, T)).resolves.toBe(false);
  // Once they expire there is room again.
  await expect(s.consume('c', T + 300_000, T + 200_000)).resolves.toBe(true);
});

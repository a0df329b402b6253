import { createMemoryHandoffStore } from '../../src/sessions/handoff-store.js';

const T = Date.UTC(2024, 0, 1);

test('a jti is accepted once', () => {
  const s = createMemoryHandoffStore();
  expect(s.consume('j1', T + 60_000, T)).toBe(true);
  expect(s.consume('j1', T + 60_000, T + 1000)).toBe(false);
  expect(s.consume('j2', T + 60_000, T + 1000)).toBe(true);
});

test('remembered beyond exp + clock tolerance, forgotten after the margin', () => {
  const s = createMemoryHandoffStore();
  s.consume('j1', T + 60_000, T);
  expect(s.consume('j1', T + 60_000, T + 60_000 + 30_000)).toBe(false); // jose would still accept the token here
  expect(s.size).toBe(1);
  s.consume('other', T + 500_000, T + 200_000);
  expect(s.size).toBe(1); // j1 pruned
});

test('full of live entries: refuses rather than forgetting', () => {
  const s = createMemoryHandoffStore({ capacity: 2 });
  expect(s.consume('a', T + 60_000, T)).toBe(true);
  expect(s.consume('b', T + 60_000, T)).toBe(true);
  expect(s.consume('c', T + 60_000, T)).toBe(false);
  expect(s.consume('a', T + 60_000, T)).toBe(false);
  // Once they expire there is room again.
  expect(s.consume('c', T + 300_000, T + 200_000)).toBe(true);
});

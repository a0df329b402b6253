import { startMemoryReclaimer } from '../../src/authz/memory-reclaim.js';

/** A reclaimer on a hand-moved clock and gauges; its own timer is stopped, so only `tick` reads them. */
function harness() {
  let t = 0;
  let gauges = { bufferedBytes: 0, sessions: 3, streams: 0 };
  const collected: number[] = [];
  const r = startMemoryReclaimer({
    source: () => gauges,
    collect: () => collected.push(t),
    pressureBufferedBytes: 8 << 20,
    pressureSessions: 256,
    pressureStreams: 2_000,
    quietMs: 5_000,
    minIntervalMs: 30_000,
    checkEveryMs: 1_000,
    now: () => t,
  });
  r.stop();
  /** Sets the gauges and ticks once a second for `seconds`. */
  const run = (g: typeof gauges, seconds: number): void => {
    gauges = g;
    for (let i = 0; i < seconds; i++) {
      t += 1000;
      r.tick();
    }
  };
  return { run, collected };
}

test('a calm port is never collected, however long it runs', () => {
  const h = harness();
  h.run({ bufferedBytes: 64 * 1024, sessions: 8, streams: 0 }, 600);
  expect(h.collected).toEqual([]);
});

test('one collection once an episode has been quiet for quietMs, not before and not again', () => {
  const h = harness();
  h.run({ bufferedBytes: 40 << 20, sessions: 600, streams: 0 }, 10);
  h.run({ bufferedBytes: 0, sessions: 600, streams: 0 }, 10); // connections still held: still the episode
  expect(h.collected).toEqual([]);
  h.run({ bufferedBytes: 0, sessions: 3, streams: 0 }, 4);
  expect(h.collected).toEqual([]);
  h.run({ bufferedBytes: 0, sessions: 3, streams: 0 }, 120); // quiet seen first at 21 s
  expect(h.collected).toEqual([26_000]);
});

test('either gauge alone starts an episode; an episode ending within 30 s of a collection waits for the 30 s', () => {
  const h = harness();
  h.run({ bufferedBytes: 0, sessions: 300, streams: 0 }, 2);
  h.run({ bufferedBytes: 0, sessions: 3, streams: 0 }, 10);
  h.run({ bufferedBytes: 9 << 20, sessions: 3, streams: 0 }, 2);
  h.run({ bufferedBytes: 0, sessions: 3, streams: 0 }, 100);
  expect(h.collected).toEqual([8_000, 38_000]);
});

test('streams held open on a few connections start an episode too (answers not taken, messages never finished)', () => {
  const h = harness();
  h.run({ bufferedBytes: 0, sessions: 20, streams: 10_000 }, 5);
  h.run({ bufferedBytes: 0, sessions: 3, streams: 4 }, 10);
  expect(h.collected).toEqual([11_000]); // quiet first seen at 6 s
});

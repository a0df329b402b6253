import { staggeredRateArgs } from '../lib/load.js';

/** The connections h2load starts per period, the period in ms, and the per-connection rate. */
function parse(args: string[]): { total: number; every: number; periodMs: number; perClient: number } {
  const value = (flag: string): string => args[args.indexOf(flag) + 1] ?? '';
  const opt = (prefix: string): string => args.find((a) => a.startsWith(prefix))?.slice(prefix.length) ?? '';
  return { total: Number(value('-n')), every: Number(value('-r')), periodMs: Number(opt('--rate-period=').replace(/ms$/, '')), perClient: Number(opt('--rps=')) };
}

describe('staggeredRateArgs', () => {
  test.each([
    [500, 10, 4],
    [1000, 10, 4],
    [2000, 10, 4],
    [1000, 1, 3],
    [250, 16, 2],
  ])('%i/s over %i connections starts them all within one interval and runs for the asked time', (rate, clients, seconds) => {
    const a = parse(staggeredRateArgs(rate, clients, seconds));
    // h2load takes a whole rate per connection: the nearest total to the one asked for.
    expect(Math.abs(a.perClient * clients - rate)).toBeLessThanOrEqual(clients / 2);
    expect(a.total).toBe(a.perClient * clients * seconds);
    const clientIntervalMs = 1000 / a.perClient;
    // Starting `every` connections per period, the last one starts before the first client's second request.
    expect((Math.ceil(clients / a.every) - 1) * a.periodMs).toBeLessThan(clientIntervalMs);
    // ...and they are spread out, not started together, whenever the interval leaves room.
    if (clientIntervalMs >= 2 * clients) expect(a.every).toBe(1);
    expect(Number.isInteger(a.periodMs) && a.periodMs >= 1).toBe(true);
  });

  test('1,000/s over 10 connections: one connection each millisecond, 100/s each', () => {
    expect(staggeredRateArgs(1000, 10, 5)).toEqual(['-n', '5000', '-r', '1', '--rate-period=1ms', '--rps=100']);
  });

  test('2,000/s over 10 connections: two connections each millisecond, since h2load spaces them in whole milliseconds', () => {
    expect(staggeredRateArgs(2000, 10, 5)).toEqual(['-n', '10000', '-r', '2', '--rate-period=1ms', '--rps=200']);
  });
});

import { parseCpuList, pinningFrom } from '../lib/processes.js';

describe('BENCH_AUTHZ_CPUS', () => {
  test('unset or blank means no pinning', () => {
    expect(pinningFrom(undefined, 2)).toBeUndefined();
    expect(pinningFrom('  ', 2)).toBeUndefined();
  });

  test('the named CPUs go to the authz server and every other online CPU to the rest', () => {
    expect(pinningFrom('1', 2)).toEqual({ authz: '1', others: '0' });
    expect(pinningFrom('2-3', 4)).toEqual({ authz: '2,3', others: '0,1' });
    expect(pinningFrom('3,1', 8)).toEqual({ authz: '1,3', others: '0,2,4,5,6,7' });
    expect(pinningFrom('1,1-2', 4)).toEqual({ authz: '1,2', others: '0,3' });
  });

  test('a list that leaves no CPU for the load generator and Envoy is refused', () => {
    expect(() => pinningFrom('0-1', 2)).toThrow('leaves no CPU for the load generator and Envoy');
    expect(() => pinningFrom('0', 1)).toThrow('leaves no CPU');
  });

  test.each([
    ['2', 'CPU 2 is not online (this machine has CPUs 0-1)'],
    ['a', '"a" is not a CPU number or range'],
    ['1-', '"1-" is not a CPU number or range'],
    ['-1', '"-1" is not a CPU number or range'],
    ['', '"" is not a CPU number or range'],
    ['3-1', 'range 3-1 runs backwards'],
  ])('%j is refused: %s', (list, message) => {
    expect(() => parseCpuList(list, 2)).toThrow(message);
  });
});

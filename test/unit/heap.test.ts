import { collectLoadGarbage, LARGE_CONFIG_TENANTS } from '../../src/cli/heap.js';

describe('collectLoadGarbage', () => {
  test('does nothing for an ordinary config', () => {
    expect(collectLoadGarbage(10)).toBe(false);
  });

  test('runs a full collection for a large one', () => {
    expect(collectLoadGarbage(LARGE_CONFIG_TENANTS)).toBe(true);
  });
});

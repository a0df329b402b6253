import { CleanupError, CleanupStack } from '../../src/serve/cleanup-stack.js';

test('steps run last registered first, each awaited before the next', async () => {
  const stack = new CleanupStack();
  const ran: string[] = [];
  stack.defer('first', () => {
    ran.push('first');
  });
  stack.defer('second', async () => {
    await Promise.resolve();
    ran.push('second');
  });
  const value = stack.use('third', { name: 'third' }, (v) => {
    ran.push(v.name);
  });
  expect(value).toEqual({ name: 'third' });
  await stack.disposeAsync();
  expect(ran).toEqual(['third', 'second', 'first']);
});

test('a failing step does not stop the others and is reported with its name', async () => {
  const stack = new CleanupStack();
  const ran: string[] = [];
  stack.defer('pool', () => {
    ran.push('pool');
  });
  stack.defer('server', () => {
    throw new Error('port busy');
  });
  const err = await stack.disposeAsync().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(ran).toEqual(['pool']);
  expect(err).toBeInstanceOf(CleanupError);
  expect(err).toMatchObject({ code: 'ERR_CLEANUP_FAILED', step: 'server', message: 'closing server failed: port busy' });
});

test('several failures come back together', async () => {
  const stack = new CleanupStack();
  stack.defer('a', () => Promise.reject(new Error('a broke')));
  stack.defer('b', () => Promise.reject(new Error('b broke')));
  const err = await stack.disposeAsync().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AggregateError);
  expect((err as AggregateError).errors.map((e: CleanupError) => e.step)).toEqual(['b', 'a']);
});

test('disposing twice runs each step once, and nothing can be added afterwards', async () => {
  const stack = new CleanupStack();
  let runs = 0;
  stack.defer('once', () => {
    runs++;
  });
  const first = stack.disposeAsync();
  expect(stack.disposeAsync()).toBe(first);
  await first;
  expect(runs).toBe(1);
  expect(stack.disposed).toBe(true);
  expect(() => stack.defer('late', () => undefined)).toThrow('cannot register "late": the cleanup stack is already disposed');
});

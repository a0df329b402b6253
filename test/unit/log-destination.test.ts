import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { createBatchedDestination, createLogger } from '../../src/observability/logger.js';

describe('the batched log destination', () => {
  let dir: string;
  let file: string;
  let fd: number;
  beforeEach(() => {
    // The deadline is a timer: the tests move the clock to it rather than sleep past it.
    jest.useFakeTimers();
    dir = mkdtempSync(join(tmpdir(), 'bouncer-log-'));
    file = join(dir, 'out.log');
    fd = openSync(file, 'a');
  });
  afterEach(() => {
    jest.useRealTimers();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  });
  const written = (): string => readFileSync(file, 'utf8');

  test('holds a short line until the deadline, writes it then, and keeps no timer afterwards', () => {
    const out = createBatchedDestination({ fd, minLength: 4096, flushAfterMs: 40 });
    expect(out.flushScheduled).toBe(false);
    out.write('one\n');
    jest.advanceTimersByTime(20);
    // A second line joins the batch; the deadline stays that of the first.
    out.write('two\n');
    jest.advanceTimersByTime(19);
    expect(written()).toBe('');
    expect(out.flushScheduled).toBe(true);
    jest.advanceTimersByTime(1);
    expect(written()).toBe('one\ntwo\n');
    // Idle: nothing waits, so nothing is scheduled to wake the process.
    expect(out.flushScheduled).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    out.write('three\n');
    expect(out.flushScheduled).toBe(true);
    jest.advanceTimersByTime(40);
    expect(written()).toBe('one\ntwo\nthree\n');
  });

  test('writes at once when a batch is full', () => {
    const out = createBatchedDestination({ fd, minLength: 64, flushAfterMs: 10_000 });
    const line = `${'x'.repeat(40)}\n`;
    out.write(line);
    expect(written()).toBe('');
    out.write(line);
    expect(written()).toBe(line + line);
    out.flush();
  });

  test('many batches: every line written once, in order', async () => {
    const out = createBatchedDestination({ fd, minLength: 100, flushAfterMs: 10_000 });
    const lines = Array.from({ length: 1000 }, (_, i) => `{"n":${i},"s":"${'é'.repeat(i % 7)}"}\n`);
    for (const line of lines) out.write(line);
    await new Promise<void>((resolve, reject) => out.flush((err) => (err ? reject(err) : resolve())));
    expect(written()).toBe(lines.join(''));
  });

  test('flush writes what waits, calls back, and cancels the deadline', async () => {
    const out = createBatchedDestination({ fd, minLength: 4096, flushAfterMs: 10_000 });
    out.write('pending\n');
    await new Promise<void>((resolve, reject) => out.flush((err) => (err ? reject(err) : resolve())));
    expect(written()).toBe('pending\n');
    expect(out.flushScheduled).toBe(false);
  });

  test('a logger on it writes its lines by the deadline', () => {
    const logger = createLogger('info', createBatchedDestination({ fd, minLength: 4096, flushAfterMs: 20 }));
    logger.info({ check: 1 }, 'hello');
    expect(written()).toBe('');
    jest.advanceTimersByTime(20);
    expect(JSON.parse(written())).toMatchObject({ level: 'info', service: 'bouncer', check: 1, msg: 'hello' });
  });
});

describe("the default logger's lines at process exit", () => {
  const logger = fileURLToPath(new URL('../../dist/src/observability/logger.js', import.meta.url));
  const run = (tail: string): { stdout: string; status: number | null } => {
    const script = `import { createLogger } from ${JSON.stringify(logger)};\nconst l = createLogger('info');\nl.info({ n: 1 }, 'last words');\n${tail}`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    return { stdout: r.stdout, status: r.status };
  };

  test('are written when the process exits on purpose', () => {
    const r = run('process.exit(3);');
    expect(r.status).toBe(3);
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 1, msg: 'last words' });
  });

  test('are written when an uncaught exception ends the process', () => {
    const r = run("throw new Error('boom');");
    expect(r.status).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 1, msg: 'last words' });
  });

  test('are written when the process simply runs out of work', () => {
    // The deadline's timer does not hold the process: it ends with the line still buffered.
    const r = run('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ n: 1, msg: 'last words' });
  });
});

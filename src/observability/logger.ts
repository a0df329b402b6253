import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * Lines are batched up to this many bytes and then written synchronously, in
 * one write(2). Every check writes an audit line; pino's asynchronous mode hands
 * each write to libuv's thread pool, and on a busy two-core machine the wake-up
 * and context switch per write cost more than building the line did (it showed
 * as `writeString` at 12% of the S4 profile). A 4 KiB write to a file, pipe or
 * /dev/null does not block in practice.
 */
const BATCH_BYTES = 4096;
/** …and written at the latest this long after they were logged, so a quiet server's lines still show promptly. */
const BATCH_FLUSH_MS = 100;

/**
 * JSON logs on stdout (or a given stream), one object per line. Buffered lines
 * are flushed on exit (pino registers that for its destinations), so a clean
 * stop loses none.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'bouncer' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ dest: 1, sync: true, minLength: BATCH_BYTES, periodicFlush: BATCH_FLUSH_MS }),
  );
}

/**
 * Writes out buffered lines and resolves once they are written (or after
 * `timeoutMs`, so a stuck stdout never blocks a shutdown). Call before
 * `process.exit`, which would otherwise cut off a write still in flight.
 */
export function flushLogger(logger: Logger, timeoutMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

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
  const stream = destination ?? pino.destination({ dest: 1, sync: true, minLength: BATCH_BYTES, periodicFlush: BATCH_FLUSH_MS });
  // writeInfoLine below writes this format by hand (label level, ISO time,
  // base bindings, no redaction or hooks): change both together.
  const logger = pino(
    {
      level,
      base: { service: 'bouncer' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  ownStreams.set(logger, stream);
  return logger;
}

/** Loggers made by {@link createLogger}, whose line format is known, and where they write. */
const ownStreams = new WeakMap<Logger, DestinationStream>();

/** The ISO time of the last line, reused within the same millisecond. */
let lastMs = -1;
let lastIso = '';

/**
 * Writes the line `logger.info({ [key]: value }, msg)` would write, given the
 * value already as JSON, straight to the logger's destination. pino's generic
 * path (per-key serialization, hooks) cost about twice as much as the line
 * itself, and ext_authz writes one audit line per check. Returns false, having
 * written nothing, for a logger not made by {@link createLogger} (a child, or
 * one from a test), so the caller can fall back to `logger.info`.
 */
export function writeInfoLine(logger: Logger, key: string, valueJson: string, msg: string): boolean {
  const stream = ownStreams.get(logger);
  if (stream === undefined) return false;
  if (!logger.isLevelEnabled('info')) return true;
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  // The bindings string starts with a comma (`,"service":"bouncer"`), as pino keeps it.
  const bindings = (logger as unknown as Record<symbol, string | undefined>)[pino.symbols.chindingsSym] ?? '';
  stream.write(`{"level":"info","time":"${lastIso}"${bindings},${JSON.stringify(key)}:${valueJson},"msg":${JSON.stringify(msg)}}\n`);
  return true;
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

import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * Lines are batched up to about this many characters (bytes, for the ASCII
 * lines logs mostly are) and then written synchronously, in one write(2).
 * Every check writes an audit line; pino's asynchronous mode hands each write
 * to libuv's thread pool, and on a busy machine the wake-up and context
 * switch per write cost more than building the line did (BENCHMARKS.md,
 * "Where the time goes"). A 16 KiB write fits in a Linux pipe's 64 KiB buffer
 * unless the reader is far behind, so it does not block in practice; to a
 * file or /dev/null it never does.
 */
const BATCH_BYTES = 16_384;
/** …and written at the latest this long after they were logged, so a quiet server's lines still show promptly. */
const BATCH_FLUSH_MS = 100;

/** A log destination that batches lines and writes them out by a deadline. */
export interface BatchedDestination extends DestinationStream {
  /** Writes out whatever is buffered; `cb` runs once it is written. */
  flush(cb?: (err?: Error) => void): void;
  /** True while buffered lines wait for the deadline's timer. */
  readonly flushScheduled: boolean;
}

/**
 * A batching destination on a file descriptor (stdout by default): lines go
 * out when `minLength` characters are waiting, or `flushAfterMs` after the
 * first line that is still waiting. The deadline's timer is armed by a write
 * and gone once it fires, so a server with nothing to log has no timer at all.
 * SonicBoom's own `periodicFlush` is a timer that fires every interval for
 * the life of the process, lines or not: ten wake-ups a second, each with an
 * empty write(2), which an idle process pays for.
 *
 * Lines wait here, not in SonicBoom's buffer: its `minLength` mode measures
 * the UTF-8 length of everything buffered on every write, which made the cost
 * of a line grow with the batch. SonicBoom still does
 * the writing, a whole batch at a time, with its handling of short writes and
 * EAGAIN.
 *
 * @example
 * ```ts
 * const out = createBatchedDestination({ fd: 1, minLength: 4096, flushAfterMs: 100 });
 * const logger = createLogger('info', out);
 * ```
 */
export function createBatchedDestination(o: { fd: number; minLength: number; flushAfterMs: number }): BatchedDestination {
  const boom = pino.destination({ dest: o.fd, sync: true });
  let waiting = '';
  let timer: NodeJS.Timeout | undefined;
  const writeWaiting = (): void => {
    if (waiting === '') return;
    const batch = waiting;
    waiting = '';
    boom.write(batch);
  };
  flushedAtExit(() => {
    writeWaiting();
    boom.flushSync();
  });
  const onDeadline = (): void => {
    timer = undefined;
    writeWaiting();
  };
  return {
    write(line: string) {
      waiting += line;
      if (waiting.length >= o.minLength) {
        clearTimeout(timer);
        timer = undefined;
        writeWaiting();
      } else if (timer === undefined) {
        timer = setTimeout(onDeadline, o.flushAfterMs);
        // A pending deadline never keeps the process alive; exit flushes anyway.
        timer.unref();
      }
    },
    flush(cb) {
      clearTimeout(timer);
      timer = undefined;
      try {
        writeWaiting();
      } catch (err) {
        if (cb) return cb(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
      boom.flush(cb);
    },
    get flushScheduled() {
      return timer !== undefined;
    },
  };
}

const atExit = new Set<() => void>();

/**
 * Runs `flushSync` (writing a destination's waiting lines) when the process
 * exits, however it exits (`process.exit`, an uncaught exception): the lines a
 * crash leaves waiting are the ones that explain it. pino registers such a
 * hook only for its asynchronous destinations, and these are synchronous.
 */
function flushedAtExit(flushSync: () => void): void {
  if (atExit.size === 0) {
    process.once('exit', () => {
      for (const f of atExit) {
        try {
          f();
        } catch {
          // stdout is gone (a closed pipe): nothing is left to write to.
        }
      }
    });
  }
  atExit.add(flushSync);
}

/**
 * JSON logs on stdout (or a given stream), one object per line. Lines still
 * buffered when the process exits are written then, so a stop loses none.
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const stream = destination ?? createBatchedDestination({ fd: 1, minLength: BATCH_BYTES, flushAfterMs: BATCH_FLUSH_MS });
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

/**
 * Gives back memory an abuse episode grew, once the episode is over.
 *
 * Hostile clients holding thousands of streams and tens of MiB of request
 * bytes make V8 grow its heap, and V8 shrinks it again only when allocation
 * quiets down (its memory reducer), which a replica under steady Envoy
 * traffic never does: after a soak the process stayed far above its baseline
 * while the legitimate load went on (docs/authz-transport.md, "Memory after
 * abuse"). So the transport's own gauges are watched: once they have been
 * past the pressure marks (an episode) and then below them for `quietMs`, one
 * full garbage collection is asked for. It runs at most once per episode and
 * at most once per `minIntervalMs`, never on a check's path, and never while
 * the port is calm: a warm replica never pays for it.
 */
export interface MemoryReclaimOptions {
  /** The transport's gauges now. */
  readonly source: () => { readonly bufferedBytes: number; readonly sessions: number; readonly streams: number };
  /** A full, compacting collection (V8's `gc()` under `--expose-gc`). */
  readonly collect: () => void;
  /** Buffered request bytes from which the port counts as under abuse. */
  readonly pressureBufferedBytes: number;
  /** Open connections from which the port counts as under abuse. */
  readonly pressureSessions: number;
  /**
   * Streams held open (messages still arriving, answers not taken, relayed streams) from
   * which the port counts as under abuse: a few connections can hold thousands of them.
   */
  readonly pressureStreams: number;
  /** How long both must stay below their marks before collecting. */
  readonly quietMs: number;
  /** Collections at least this far apart, however often episodes end. */
  readonly minIntervalMs: number;
  /** How often the gauges are read. */
  readonly checkEveryMs: number;
  /** Told of each collection: how long it took, and the episode's highest gauges. */
  readonly onCollect?: (e: { readonly ms: number; readonly peakSessions: number; readonly peakBufferedBytes: number; readonly peakStreams: number }) => void;
  /** Milliseconds, monotonic; injected so tests can move time. */
  readonly now?: () => number;
}

export interface MemoryReclaimer {
  /** Reads the gauges once (the timer calls it every `checkEveryMs`); true when it collected. */
  tick(): boolean;
  stop(): void;
}

/** The collector V8 exposes under `--expose-gc`, or undefined without the flag. */
export function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? () => void (gc as () => unknown)() : undefined;
}

export function startMemoryReclaimer(o: MemoryReclaimOptions): MemoryReclaimer {
  const now = o.now ?? (() => performance.now());
  let episode = false;
  let quietSince: number | undefined;
  let lastCollect = -Infinity;
  let peakSessions = 0;
  let peakBufferedBytes = 0;
  let peakStreams = 0;
  const tick = (): boolean => {
    const { bufferedBytes, sessions, streams } = o.source();
    const t = now();
    if (bufferedBytes >= o.pressureBufferedBytes || sessions >= o.pressureSessions || streams >= o.pressureStreams) {
      episode = true;
      quietSince = undefined;
      peakSessions = Math.max(peakSessions, sessions);
      peakBufferedBytes = Math.max(peakBufferedBytes, bufferedBytes);
      peakStreams = Math.max(peakStreams, streams);
      return false;
    }
    if (!episode) return false;
    quietSince ??= t;
    if (t - quietSince < o.quietMs || t - lastCollect < o.minIntervalMs) return false;
    episode = false;
    quietSince = undefined;
    lastCollect = t;
    o.collect();
    o.onCollect?.({ ms: now() - t, peakSessions, peakBufferedBytes, peakStreams });
    peakSessions = 0;
    peakBufferedBytes = 0;
    peakStreams = 0;
    return true;
  };
  const timer = setInterval(tick, o.checkEveryMs);
  timer.unref();
  return { tick, stop: () => clearInterval(timer) };
}

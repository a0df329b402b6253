/**
 * Log lines for connections refused at accept on the ext_authz port, rate
 * limited: a source opening thousands of connections a second must not turn
 * into thousands of log lines a second. The first refusal after a quiet
 * period is logged at once; those that follow within the interval are
 * summed into one line at its end (per reason, and per source for the few
 * sources refused most), and the next interval starts only if there were any.
 */
import type { Logger } from 'pino';
import type { ConnectionRefusal } from './transport-limits.js';

/** At most one summary line per interval. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Sources named in a summary line; the rest are counted together. Bounds the memory a flood of sources can take here. */
export const REFUSAL_LOG_SOURCES = 8;

export interface RefusalLogLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerSource: number;
}

export class RefusalLog {
  private timer: NodeJS.Timeout | undefined;
  private readonly byReason = new Map<ConnectionRefusal, number>();
  private readonly bySource = new Map<string, number>();
  /** Refusals of sources past the first {@link REFUSAL_LOG_SOURCES} of the interval. */
  private otherSources = 0;

  constructor(
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly limits: RefusalLogLimits,
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
  ) {}

  note(reason: ConnectionRefusal, source: string | undefined): void {
    if (this.timer === undefined) {
      this.logger.warn(
        { reason, source, ...this.limitOf(reason) },
        `ext_authz connection refused at accept; any more in the next ${this.intervalMs / 1000} s are summed in one line`,
      );
      this.timer = setTimeout(() => this.flush(), this.intervalMs).unref();
      return;
    }
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    if (source === undefined) return;
    const seen = this.bySource.get(source);
    if (seen !== undefined) this.bySource.set(source, seen + 1);
    else if (this.bySource.size < REFUSAL_LOG_SOURCES) this.bySource.set(source, 1);
    else this.otherSources++;
  }

  /** Stops the timer; what is still unlogged is logged now. */
  stop(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer);
    this.flush(false);
  }

  private limitOf(reason: ConnectionRefusal): { limit: number } {
    return { limit: reason === 'per_source' ? this.limits.maxConnectionsPerSource : this.limits.maxConnections };
  }

  private flush(again = true): void {
    this.timer = undefined;
    if (this.byReason.size === 0) return;
    const refused = Object.fromEntries(this.byReason);
    const sources = Object.fromEntries(this.bySource);
    const total = [...this.byReason.values()].reduce((a, b) => a + b, 0);
    this.logger.warn(
      { refused, sources, refusedFromOtherSources: this.otherSources, maxConnections: this.limits.maxConnections, maxConnectionsPerSource: this.limits.maxConnectionsPerSource },
      `ext_authz connections refused at accept: ${total} more in the last ${this.intervalMs / 1000} s`,
    );
    this.byReason.clear();
    this.bySource.clear();
    this.otherSources = 0;
    // Refusals keep coming: keep summing them, so the next line is again an interval later.
    if (again) this.timer = setTimeout(() => this.flush(), this.intervalMs).unref();
  }
}

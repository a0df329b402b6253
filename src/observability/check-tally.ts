import { Histogram, type Counter, type HistogramConfiguration, type MetricObjectWithValues, type MetricType, type MetricValueWithName } from 'prom-client';

/** What one finished check adds to the metrics. */
export interface CheckRecorder {
  /**
   * `seconds` is how long deciding took (not observed for errors);
   * `certCache` the certificate cache result when the decision looked one up.
   */
  record(outcome: 'allow' | 'deny' | 'error', reason: string, seconds: number | undefined, certCache?: 'hit' | 'miss'): void;
}

/**
 * The per-check metrics, counted in plain numbers on the request path and
 * handed to prom-client only when /metrics is scraped. prom-client's `inc` and
 * `observe` validate and hash the label set on every call (about a microsecond
 * per check in a loop, several under load, where every check pays it); here a
 * check costs two map reads and a few additions.
 */
export class CheckTally implements CheckRecorder {
  /** outcome → reason → checks counted and not yet handed to the counter. */
  private readonly pendingChecks = new Map<string, Map<string, number>>();
  private pendingHits = 0;
  private pendingMisses = 0;
  private readonly durations = new Map<string, DurationSeries>();

  constructor(private readonly bounds: readonly number[]) {}

  record(outcome: string, reason: string, seconds: number | undefined, certCache?: 'hit' | 'miss'): void {
    let byReason = this.pendingChecks.get(outcome);
    if (byReason === undefined) {
      byReason = new Map();
      this.pendingChecks.set(outcome, byReason);
    }
    byReason.set(reason, (byReason.get(reason) ?? 0) + 1);
    if (seconds !== undefined && Number.isFinite(seconds)) {
      let series = this.durations.get(outcome);
      if (series === undefined) {
        series = { buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 };
        this.durations.set(outcome, series);
      }
      let i = 0;
      while (i < this.bounds.length && seconds > (this.bounds[i] as number)) i++;
      series.buckets[i] = (series.buckets[i] as number) + 1;
      series.sum += seconds;
      series.count++;
    }
    if (certCache === 'hit') this.pendingHits++;
    else if (certCache === 'miss') this.pendingMisses++;
  }

  /** Adds what was counted since the last call to the checks and cache counters. */
  flushCounters(checks: Counter<'outcome' | 'reason'>, certCache: Counter<'result'>): void {
    for (const [outcome, byReason] of this.pendingChecks) {
      for (const [reason, n] of byReason) if (n > 0) checks.inc({ outcome, reason }, n);
      byReason.clear();
    }
    if (this.pendingHits > 0) certCache.inc({ result: 'hit' }, this.pendingHits);
    if (this.pendingMisses > 0) certCache.inc({ result: 'miss' }, this.pendingMisses);
    this.pendingHits = 0;
    this.pendingMisses = 0;
  }

  /** The duration histogram's series, cumulative as Prometheus exposes them. */
  durationValues(name: string, labelName: string): MetricValueWithName<string>[] {
    const values: MetricValueWithName<string>[] = [];
    for (const [label, s] of this.durations) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.buckets[i] as number;
        values.push({ metricName: `${name}_bucket`, labels: { [labelName]: label, le }, value: cumulative });
      });
      values.push({ metricName: `${name}_bucket`, labels: { [labelName]: label, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${name}_sum`, labels: { [labelName]: label }, value: s.sum });
      values.push({ metricName: `${name}_count`, labels: { [labelName]: label }, value: s.count });
    }
    return values;
  }

  resetDurations(): void {
    this.durations.clear();
  }
}

interface DurationSeries {
  /** Observations per bucket (not cumulative); the last one is above every bound. */
  readonly buckets: number[];
  sum: number;
  count: number;
}

/**
 * `bouncer_check_duration_seconds`, read from a {@link CheckTally} when scraped.
 * A prom-client Histogram so that the registry, `reset()` and the types treat it
 * as one; its own `observe` is never called.
 */
export class TalliedHistogram extends Histogram<'outcome'> {
  private readonly name: string;
  private readonly help: string;

  constructor(
    private readonly tally: CheckTally,
    config: Omit<HistogramConfiguration<'outcome'>, 'buckets'> & { readonly buckets: readonly number[] },
  ) {
    super({ ...config, buckets: [...config.buckets] });
    this.name = config.name;
    this.help = config.help;
  }

  override get(): Promise<MetricObjectWithValues<MetricValueWithName<'outcome'>>> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      // prom-client's typings declare an enum its JavaScript never exports; the registry reads the string.
      type: 'histogram' as unknown as MetricType,
      aggregator: 'sum',
      collect: () => undefined,
      values: this.tally.durationValues(this.name, 'outcome'),
    });
  }

  /**
   * The registry formats the text exposition from this method when a metric
   * has it (prom-client's Histogram does, untyped); it must see the tally too.
   */
  getForPromString(): Promise<MetricObjectWithValues<MetricValueWithName<'outcome'>>> {
    return this.get();
  }

  override reset(): void {
    super.reset();
    // prom-client's constructor calls reset() before this class's fields are set.
    (this.tally as CheckTally | undefined)?.resetDurations();
  }
}

import { Histogram, Registry } from 'prom-client';
import { createCheckRecorder, createMetrics } from '../../src/observability/metrics.js';

describe('createCheckRecorder', () => {
  test('records the same series as labelling each call would', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const recorder = createCheckRecorder(metrics);
    recorder.record('allow', 'mtls_verified', 0.00004, 'hit');
    recorder.record('allow', 'mtls_verified', 0.00004, 'hit');
    recorder.record('deny', 'client_cert_untrusted', 0.002, 'miss');
    recorder.record('deny', 'tenant_unknown', 0.00001);
    recorder.record('error', 'internal_error', undefined);
    const text = await metrics.registry.metrics();
    expect(text).toContain('bouncer_checks_total{outcome="allow",reason="mtls_verified"} 2');
    expect(text).toContain('bouncer_checks_total{outcome="deny",reason="client_cert_untrusted"} 1');
    expect(text).toContain('bouncer_checks_total{outcome="deny",reason="tenant_unknown"} 1');
    expect(text).toContain('bouncer_checks_total{outcome="error",reason="internal_error"} 1');
    expect(text).toContain('bouncer_check_duration_seconds_count{outcome="allow"} 2');
    expect(text).toContain('bouncer_check_duration_seconds_count{outcome="deny"} 2');
    // Errors are counted but, as before, not timed.
    expect(text).not.toContain('bouncer_check_duration_seconds_count{outcome="error"}');
    expect(text).toContain('bouncer_cert_cache_total{result="hit"} 2');
    expect(text).toContain('bouncer_cert_cache_total{result="miss"} 1');
  });
});

/** `name{labels} value` lines of one metric, labels sorted, so two expositions can be compared. */
function series(text: string, prefix: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => {
      const m = /^([^{\s]+)(?:\{([^}]*)\})? (.+)$/.exec(l);
      if (!m) throw new Error(`unparsable line ${l}`);
      const labels = (m[2] ?? '').split(',').filter(Boolean).sort().join(',');
      return `${m[1]}{${labels}} ${Number(m[3])}`;
    })
    .sort();
}

describe('the check tally behind the metrics', () => {
  const durations = [0.000001, 0.00002, 0.00003, 0.0001, 0.0004, 0.002, 0.05, 0.1, 0.7, 3];

  test('exposes the same histogram series as prom-client observing each value', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const recorder = createCheckRecorder(metrics);
    const plain = new Histogram({
      name: 'bouncer_check_duration_seconds',
      help: 'x',
      labelNames: ['outcome'] as const,
      buckets: [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [],
    });
    durations.forEach((d, i) => {
      const outcome = i % 3 === 0 ? 'deny' : 'allow';
      recorder.record(outcome, 'policy_allow', d);
      plain.observe({ outcome }, d);
    });
    const ours = series(await metrics.registry.metrics(), 'bouncer_check_duration_seconds');
    const registry = new Registry();
    registry.registerMetric(plain);
    expect(ours.length).toBeGreaterThan(0);
    expect(ours).toEqual(series(await registry.metrics(), 'bouncer_check_duration_seconds'));
    expect(ours).toContain('bouncer_check_duration_seconds_bucket{le="+Inf",outcome="allow"} 6');
    expect(ours).toContain('bouncer_check_duration_seconds_bucket{le="0.00002",outcome="allow"} 1');
  });

  test('counters add what was counted since the last scrape, once', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const recorder = createCheckRecorder(metrics);
    recorder.record('allow', 'mtls_verified', 0.0001, 'hit');
    await metrics.registry.metrics();
    // A second scrape with nothing new must not count again.
    let text = await metrics.registry.metrics();
    expect(text).toContain('bouncer_checks_total{outcome="allow",reason="mtls_verified"} 1');
    expect(text).toContain('bouncer_cert_cache_total{result="hit"} 1');
    recorder.record('allow', 'mtls_verified', 0.0001, 'hit');
    recorder.record('deny', 'client_cert_untrusted', 0.0001, 'miss');
    text = await metrics.registry.metrics();
    expect(text).toContain('bouncer_checks_total{outcome="allow",reason="mtls_verified"} 2');
    expect(text).toContain('bouncer_checks_total{outcome="deny",reason="client_cert_untrusted"} 1');
    expect(text).toContain('bouncer_cert_cache_total{result="hit"} 2');
    expect(text).toContain('bouncer_cert_cache_total{result="miss"} 1');
    expect(text).toContain('bouncer_check_duration_seconds_count{outcome="allow"} 2');
    // The JSON form reads the same tally.
    const json = await metrics.registry.getMetricsAsJSON();
    const hist = json.find((m) => m.name === 'bouncer_check_duration_seconds');
    const values = (hist?.values ?? []) as Array<{ metricName?: string; labels: Record<string, string | number>; value: number }>;
    expect(values.find((v) => v.metricName === 'bouncer_check_duration_seconds_count' && v.labels.outcome === 'allow')?.value).toBe(2);
  });

  test('two recorders on one set of metrics add up, and resetMetrics starts over', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    createCheckRecorder(metrics).record('allow', 'mtls_verified', 0.0001);
    createCheckRecorder(metrics).record('allow', 'mtls_verified', 0.0001);
    expect(await metrics.registry.metrics()).toContain('bouncer_checks_total{outcome="allow",reason="mtls_verified"} 2');
    metrics.registry.resetMetrics();
    const text = await metrics.registry.metrics();
    expect(text).not.toContain('bouncer_checks_total{outcome="allow"');
    expect(text).not.toContain('bouncer_check_duration_seconds_count{outcome="allow"}');
  });

  test('a duration that is not a finite number is counted as a check but not observed', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    createCheckRecorder(metrics).record('allow', 'mtls_verified', Number.NaN);
    const text = await metrics.registry.metrics();
    expect(text).toContain('bouncer_checks_total{outcome="allow",reason="mtls_verified"} 1');
    expect(text).not.toContain('bouncer_check_duration_seconds_count{outcome="allow"}');
  });
});

describe('the event-loop delay metrics', () => {
  test('catch a stall longer than their sampling interval', async () => {
    const metrics = createMetrics();
    await new Promise((resolve) => setTimeout(resolve, 250));
    // Block the loop for 300 ms, as a runaway synchronous job would.
    const until = Date.now() + 300;
    while (Date.now() < until);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const text = await metrics.registry.metrics();
    const max = /^bouncer_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(text);
    expect(max).not.toBeNull();
    expect(Number(max?.[1])).toBeGreaterThan(0.15);
    expect(text).toMatch(/^bouncer_nodejs_eventloop_lag_p99_seconds \S+$/m);
  });
});

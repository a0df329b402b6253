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

// Which OTEL_* settings turn tracing on, and the clear refusal of settings bouncer cannot honour.
import { describe, expect, it } from '@jest/globals';
import { tracingFromEnv, TracingConfigError } from '../../src/observability/tracing.js';

const ENDPOINT = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' };

describe('tracingFromEnv', () => {
  it('is off without an OTLP endpoint, with the SDK disabled, or with the exporter "none"', () => {
    expect(tracingFromEnv({})).toBeUndefined();
    expect(tracingFromEnv({ OTEL_SERVICE_NAME: 'x', OTEL_TRACES_SAMPLER: 'always_on' })).toBeUndefined();
    expect(tracingFromEnv({ ...ENDPOINT, OTEL_SDK_DISABLED: 'true' })).toBeUndefined();
    expect(tracingFromEnv({ ...ENDPOINT, OTEL_TRACES_EXPORTER: 'none' })).toBeUndefined();
  });

  it('is on with either endpoint variable, and every standard sampler', async () => {
    for (const env of [ENDPOINT, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }]) {
      const t = tracingFromEnv(env);
      expect(t).toBeDefined();
      await t?.shutdown();
    }
    for (const sampler of ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio']) {
      const t = tracingFromEnv({ ...ENDPOINT, OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: '0.25' });
      expect(t).toBeDefined();
      await t?.shutdown();
    }
  });

  it.each([
    [{ OTEL_TRACES_SAMPLER: 'sometimes' }, /OTEL_TRACES_SAMPLER "sometimes" is not one of always_on/],
    [{ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }, /OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got "2"/],
    [{ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, /OTLP protocol "grpc": bouncer sends traces as OTLP\/HTTP protobuf only/],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' }, /OTLP protocol "http\/json"/],
    [{ OTEL_TRACES_EXPORTER: 'zipkin' }, /OTEL_TRACES_EXPORTER "zipkin": bouncer exports traces over OTLP only/],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }, /the OTLP endpoint "not a url" is not a URL/],
  ])('refuses %j with ERR_TRACING_CONFIG', (extra, message) => {
    let caught: unknown;
    try {
      tracingFromEnv({ ...ENDPOINT, ...extra });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TracingConfigError);
    expect((caught as TracingConfigError).code).toBe('ERR_TRACING_CONFIG');
    expect((caught as Error).message).toMatch(message);
  });
});

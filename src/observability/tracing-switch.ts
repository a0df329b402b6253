/**
 * Whether the OTEL_* variables ask for traces at all. Kept apart from
 * tracing.ts so a process that traces nothing never loads the OpenTelemetry
 * SDK: app.ts imports tracing.ts only when this says yes.
 */
export function tracingRequested(env: NodeJS.ProcessEnv): boolean {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint === undefined || endpoint.trim() === '') return false;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  return !(env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').some((e) => e.trim().toLowerCase() === 'none');
}

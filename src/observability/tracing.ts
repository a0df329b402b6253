/**
 * OpenTelemetry traces over OTLP/HTTP (protobuf), on when the standard
 * OTEL_* variables name an endpoint. Off, {@link tracingFromEnv} returns
 * undefined and the servers take their untraced path: no span objects, no
 * context, one `undefined` check per request.
 *
 * On, it gives:
 * - a SERVER span per ext_authz Check, continuing the checked request's W3C
 *   `traceparent`, with the request id, tenant, decision, reason and status;
 * - a SERVER span per request to the login service, likewise;
 * - CLIENT child spans for what those wait on: tenant-store lookups
 *   (PostgreSQL) and shared-state calls (Redis), through {@link Tracing.traced}
 *   proxies; IdP logins (`finish` covers the OIDC token call or the SAML
 *   response's verification); and every outgoing HTTP request made with
 *   fetch (IdP discovery, token and JWKS calls, OCSP, CRLs), seen on undici's
 *   diagnostics channels.
 * A child span is made only inside a Check or a login-service request; work
 * in the background (reconnects, refreshes) makes none.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import diagnostics from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { defaultTextMapGetter, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOffSampler, AlwaysOnSampler, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler } from '@opentelemetry/sdk-trace';
import { TRACING_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';
import { BUILD_INFO } from '../version.js';
import { tracingRequested } from './tracing-switch.js';

/** The OTEL_* variables do not describe a tracing setup bouncer can run. */
export class TracingConfigError extends BouncerError<'ERR_TRACING_CONFIG'> {
  static readonly code = 'ERR_TRACING_CONFIG';
  constructor(message: string) {
    super('ERR_TRACING_CONFIG', message);
  }
}

/** What a Check span records when the decision is made. */
export interface CheckSpanOutcome {
  readonly requestId: string;
  readonly host: string;
  readonly tenant: string | undefined;
  readonly allow: boolean;
  readonly reason: string;
  /** The HTTP status Envoy answers with (200 for an allow). */
  readonly status: number;
}

export interface CheckSpan {
  end(outcome: CheckSpanOutcome): void;
  /** The check could not be decided (bouncer answered a gRPC error). */
  fail(err: unknown): void;
}

export interface Tracing {
  /**
   * Runs `run` inside a Check span. Its parent is the `traceparent` of the gRPC
   * call (Envoy's ext_authz span, when Envoy traces), else that of the checked
   * request, else none.
   */
  check<T>(headers: Readonly<Record<string, string>> | undefined, run: (span: CheckSpan) => T, metadata?: IncomingHttpHeaders): T;
  /** A login-service request: starts its span and calls `next` inside it; the span ends with the response. */
  httpRequest(req: IncomingMessage, res: ServerResponse, next: () => void): void;
  /**
   * `target`, with a child span around each method call that returns a promise
   * inside a traced request (a cache hit answers synchronously and makes none).
   * Objects it holds (`shared.revocation`, …) are traced too, named `<system> <property>.<method>`.
   */
  traced<T extends object>(target: T, system: 'postgresql' | 'redis' | 'idp'): T;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;

function samplerFrom(env: NodeJS.ProcessEnv): Sampler {
  const name = (env.OTEL_TRACES_SAMPLER ?? TRACING_DEFAULTS.sampler).trim().toLowerCase();
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG;
    if (raw === undefined || raw.trim() === '') return 1;
    const r = Number(raw);
    if (!Number.isFinite(r) || r < 0 || r > 1) throw new TracingConfigError(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got ${JSON.stringify(raw)}`);
    return r;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new TracingConfigError(`OTEL_TRACES_SAMPLER ${JSON.stringify(name)} is not one of ${SAMPLERS.join(', ')}`);
  }
}

/**
 * Tracing as the OTEL_* variables set it up, or undefined when they set up
 * none: no OTLP endpoint, `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
 * Throws {@link TracingConfigError} on settings bouncer cannot honour.
 */
export function tracingFromEnv(env: NodeJS.ProcessEnv = process.env, onError?: (err: Error) => void): Tracing | undefined {
  if (!tracingRequested(env)) return undefined;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '';
  const exporters = (env.OTEL_TRACES_EXPORTER ?? 'otlp').split(',').map((e) => e.trim().toLowerCase());
  const unknown = exporters.filter((e) => e !== 'otlp');
  if (unknown.length > 0) throw new TracingConfigError(`OTEL_TRACES_EXPORTER ${JSON.stringify(unknown.join(','))}: bouncer exports traces over OTLP only ("otlp" or "none")`);
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf').trim();
  if (protocol !== 'http/protobuf') throw new TracingConfigError(`OTLP protocol ${JSON.stringify(protocol)}: bouncer sends traces as OTLP/HTTP protobuf only ("http/protobuf")`);
  try {
    new URL(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${endpoint.replace(/\/+$/, '')}/v1/traces`);
  } catch {
    throw new TracingConfigError(`the OTLP endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  const sampler = samplerFrom(env);
  // The SDK reports failed exports here (by default on the console): into bouncer's own log instead.
  if (onError !== undefined) setGlobalErrorHandler((err) => onError(err instanceof Error ? err : new Error(String(err))));
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': TRACING_DEFAULTS.serviceName, 'service.version': BUILD_INFO.version }))
    // OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME over it.
    .merge(detectResources({ detectors: [envDetector] }));
  const provider = new TracerProvider({
    resource,
    sampler,
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter(),
        maxQueueSize: TRACING_DEFAULTS.maxQueueSize,
        maxExportBatchSize: TRACING_DEFAULTS.maxExportBatchSize,
        scheduledDelayMillis: TRACING_DEFAULTS.scheduledDelayMs,
        exportTimeoutMillis: TRACING_DEFAULTS.shutdownTimeoutMs,
      }),
    ],
  });
  return createTracing(provider.getTracer('bouncer', BUILD_INFO.version), () => provider.shutdown());
}

const propagator = new W3CTraceContextPropagator();
const CHECK_SPAN = 'envoy.service.auth.v3.Authorization/Check';

/** Wall-clock time now, in the high-resolution form spans take. */
const nowTime = (): number => performance.timeOrigin + performance.now();

function failSpan(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  span.end();
}

/** Tracing over `tracer` ({@link tracingFromEnv} gives it the SDK's, exporting over OTLP). */
export function createTracing(tracer: Tracer, stop: () => Promise<void>): Tracing {
  const active = new AsyncLocalStorage<Context>();

  // Outgoing fetch requests (undici), made inside a traced request.
  const outgoing = new WeakMap<object, Span>();
  type UndiciRequest = { method: string; origin: string; path: string };
  const onCreate = (message: unknown): void => {
    const parent = active.getStore();
    if (parent === undefined) return;
    const request = (message as { request: UndiciRequest }).request;
    const path = request.path.split('?', 1)[0] ?? '';
    let host = '';
    try {
      host = new URL(request.origin).host;
    } catch {
      host = String(request.origin);
    }
    outgoing.set(
      request,
      tracer.startSpan(`${request.method} ${host}`, { kind: SpanKind.CLIENT, attributes: { 'http.request.method': request.method, 'server.address': host, 'url.full': `${request.origin}${path}` } }, parent),
    );
  };
  const onHeaders = (message: unknown): void => {
    const { request, response } = message as { request: object; response: { statusCode: number } };
    const span = outgoing.get(request);
    if (span === undefined) return;
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  };
  const onDone = (message: unknown): void => {
    const { request } = message as { request: object };
    const span = outgoing.get(request);
    if (span === undefined) return;
    outgoing.delete(request);
    span.end();
  };
  const onError = (message: unknown): void => {
    const { request, error } = message as { request: object; error: unknown };
    const span = outgoing.get(request);
    if (span === undefined) return;
    outgoing.delete(request);
    failSpan(span, error);
  };
  const channels: Array<[string, (message: unknown) => void]> = [
    ['undici:request:create', onCreate],
    ['undici:request:headers', onHeaders],
    ['undici:request:trailers', onDone],
    ['undici:request:error', onError],
  ];
  for (const [name, fn] of channels) diagnostics.subscribe(name, fn);

  const proxies = new WeakMap<object, object>();
  const traced = <T extends object>(target: T, system: string, prefix = ''): T => {
    const known = proxies.get(target);
    if (known !== undefined) return known as T;
    const proxy = new Proxy(target, {
      get(t, property) {
        const value: unknown = Reflect.get(t, property, t);
        if (typeof property !== 'string') return value;
        if (typeof value === 'function') {
          const method = value as (...args: unknown[]) => unknown;
          return (...args: unknown[]): unknown => {
            const parent = active.getStore();
            if (parent === undefined) return Reflect.apply(method, t, args);
            const operation = `${prefix}${property}`;
            if (system === 'idp') {
              // A login step is always awaited: its span is made first, and what it calls (the IdP, Redis) nests under it.
              const span = tracer.startSpan(`idp ${operation}`, { kind: SpanKind.INTERNAL, attributes: { 'bouncer.idp.operation': operation } }, parent);
              try {
                const result = active.run(trace.setSpan(parent, span), () => Reflect.apply(method, t, args));
                if (result instanceof Promise) result.then(() => span.end(), (err: unknown) => failSpan(span, err));
                else span.end();
                return result;
              } catch (err) {
                failSpan(span, err);
                throw err;
              }
            }
            const startTime = nowTime();
            const result = Reflect.apply(method, t, args);
            if (!(result instanceof Promise)) return result;
            const span = tracer.startSpan(`${system} ${operation}`, { kind: SpanKind.CLIENT, startTime, attributes: { 'db.system.name': system, 'db.operation.name': operation } }, parent);
            result.then(
              () => span.end(),
              (err: unknown) => failSpan(span, err),
            );
            return result;
          };
        }
        // Sub-stores (`shared.revocation`, `shared.transactions`…): plain objects and class instances, not data.
        if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Map) && !(value instanceof Set) && !ArrayBuffer.isView(value)) {
          return traced(value, system, `${prefix}${property}.`);
        }
        return value;
      },
    });
    proxies.set(target, proxy);
    return proxy;
  };

  return {
    check(headers, run, metadata) {
      const carrier = metadata?.traceparent !== undefined ? metadata : headers;
      const parent = carrier === undefined ? ROOT_CONTEXT : propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
      const requestId = headers?.['x-request-id'];
      const attributes: Attributes = { 'rpc.system': 'grpc', 'rpc.service': 'envoy.service.auth.v3.Authorization', 'rpc.method': 'Check' };
      if (requestId !== undefined) attributes['http.request.header.x-request-id'] = [requestId];
      const span = tracer.startSpan(CHECK_SPAN, { kind: SpanKind.SERVER, attributes }, parent);
      let ended = false;
      const checkSpan: CheckSpan = {
        end(o) {
          if (ended) return;
          ended = true;
          span.setAttributes({
            'bouncer.request_id': o.requestId,
            'server.address': o.host,
            'bouncer.decision': o.allow ? 'allow' : 'deny',
            'bouncer.reason': o.reason,
            'http.response.status_code': o.status,
            ...(o.tenant !== undefined ? { 'bouncer.tenant': o.tenant } : {}),
          });
          span.end();
        },
        fail(err) {
          if (ended) return;
          ended = true;
          failSpan(span, err);
        },
      };
      return active.run(trace.setSpan(parent, span), () => run(checkSpan));
    },

    httpRequest(req, res, next) {
      const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter);
      const method = req.method ?? 'GET';
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
      const attributes: Attributes = { 'http.request.method': method, 'url.path': path };
      const host = req.headers.host;
      if (host !== undefined) attributes['server.address'] = host;
      const requestId = req.headers['x-request-id'];
      if (typeof requestId === 'string') attributes['http.request.header.x-request-id'] = [requestId];
      const span = tracer.startSpan(`${method} ${path}`, { kind: SpanKind.SERVER, attributes }, parent);
      res.once('close', () => {
        span.setAttribute('http.response.status_code', res.statusCode);
        if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      });
      active.run(trace.setSpan(parent, span), next);
    },

    traced: (target, system) => traced(target, system),

    async shutdown() {
      for (const [name, fn] of channels) diagnostics.unsubscribe(name, fn);
      await stop();
    },
  };
}

import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { loadSync } from '@grpc/proto-loader';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { Logger } from 'pino';
import { AUTHZ_MEMORY_RECLAIM, CONFIG_DEFAULTS } from '../config/defaults.js';
import type { AuthzTransport } from '../config/types.js';
import type { CheckInput, Decision } from '../core/decision.js';
import { decideCheck, type AuthzState, type CheckOutcome } from './decide-check.js';
import type { SyncOrAsync } from './sync-or-async.js';
import { toAuditRecord, writeAudit } from '../observability/audit.js';
import { createCheckRecorder, type Metrics } from '../observability/metrics.js';
import type { CheckSpan, Tracing } from '../observability/tracing.js';
import { decodeCheckRequest, type CheckRequestMessage } from './check-request.js';
import { encodeCheckDecision } from './check-response.js';
import { grpcFailureOf } from './grpc-errors.js';
import { addUnaryToGrpcJs, grpcJsServerOptions } from './grpc-js-check.js';
import { GrpcStatus, GrpcTransport, listenWithFallback, MESSAGE_PREFIX_BYTES, type CallContext, type UnaryMethod, type UnaryReply } from './grpc-transport.js';
import { createHealthCheckMethod, type ServingStatus } from './health-check.js';
import { exposedGc, startMemoryReclaimer } from './memory-reclaim.js';
import { DEFAULT_TRANSPORT_LIMITS, type ConnectionRefusal, type TransportEvents, type TransportLimits } from './transport-limits.js';
import { ConnectionGate } from './connection-gate.js';
import { RefusalLog } from './refusal-log.js';
import { CallAbortedError } from './unary-call.js';
import { loadAuthzPackageDefinition } from './proto.js';
import { RepeatedStrings } from './repeated-strings.js';

export const AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';

export type { AuthzState } from './decide-check.js';

export interface AuthzServerDeps {
  getState: () => AuthzState;
  logger: Logger;
  metrics: Metrics;
  /** Milliseconds since the epoch; injected so tests can move time. */
  now?: () => number;
  /** Called once per decision (the admin API's recent-decisions log). Must not throw or block. */
  onDecision?: (input: CheckInput, decision: Decision, nowMs: number) => void;
  /** What serves the port (`authz.transport`); native unless told. Both serve the same Check, health and reflection. */
  transport?: AuthzTransport;
  /** The transport's limits (config `authz.limits`); each one left out keeps its default. */
  limits?: Partial<TransportLimits>;
  /** OpenTelemetry tracing; absent when off, and then no Check does any tracing work. */
  tracing?: Tracing | undefined;
}

export interface AuthzServer {
  /** Binds and starts serving; resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number>;
  /** Reports NOT_SERVING, lets in-flight checks finish (up to `graceMs`), then stops. */
  close(graceMs?: number): Promise<void>;
  setServing(serving: boolean): void;
}

/** Kept out of the Check handler so the untraced path's code stays as small as it was. */
function endCheckSpan(span: CheckSpan, input: CheckInput, decision: Decision): void {
  span.end({ requestId: input.requestId, host: input.authority, tenant: decision.tenant, allow: decision.allow, reason: decision.reason, status: decision.allow ? 200 : decision.status });
}

/**
 * The gRPC ext_authz server: Authorization/Check, grpc.health.v1 and server
 * reflection on one port. The Check handler is a thin adapter around the pure
 * `evaluate`, and the same handler runs on either transport: the native one
 * (grpc-transport.ts), or grpc-js (grpc-js-check.ts).
 */
export function createAuthzServer(deps: AuthzServerDeps): AuthzServer {
  const now = deps.now ?? Date.now;
  /** Largest CheckRequest accepted (transport-limits.ts says why); grpc-js's relayed methods keep the same. */
  const maxMessageBytes = deps.limits?.maxMessageBytes ?? DEFAULT_TRANSPORT_LIMITS.maxMessageBytes;
  const recorder = createCheckRecorder(deps.metrics);
  const definition = loadAuthzPackageDefinition();
  const native = (deps.transport ?? CONFIG_DEFAULTS.authz.transport) === 'native';
  // Natively, grpc-js serves health Watch and reflection on loopback, behind
  // the transport, and Check is served by the transport (grpc-transport.ts
  // explains why). With `grpc-js`, it serves everything and faces clients itself.
  const fallback = new grpc.Server(
    native
      ? {
          'grpc.enable_channelz': 0,
          'grpc.max_concurrent_streams': 1000,
          'grpc.max_receive_message_length': maxMessageBytes,
        }
      : grpcJsServerOptions({ ...DEFAULT_TRANSPORT_LIMITS, ...deps.limits }),
  );
  // Health Check is answered by the transport (health-check.ts); grpc-js keeps
  // the same statuses for Watch, which stays relayed.
  const serving = new Map<string, ServingStatus>([
    ['', 'SERVING'],
    [AUTHZ_SERVICE, 'SERVING'],
  ]);
  const health = new HealthImplementation(Object.fromEntries(serving));
  health.addToServer(fallback);
  const setHealth = (status: ServingStatus): void => {
    for (const service of serving.keys()) {
      serving.set(service, status);
      health.setStatus(service, status);
    }
  };
  // Reflection lists every service we serve, so grpcurl and friends can discover health too.
  new ReflectionService({ ...definition, ...loadSync(healthProtoPath, { keepCase: true }) }).addToServer(fallback);

  const decide = (request: CheckRequestMessage, call: CallContext): SyncOrAsync<CheckOutcome> => decideCheck(deps.getState(), request, now, call);

  /** One Check call: decide, record, audit, and answer (or fail closed with INTERNAL). */
  const check = (request: CheckRequestMessage, reply: UnaryReply, call: CallContext, span?: CheckSpan): void => {
    const started = performance.now();
    const answer = ({ decision, input, headers }: CheckOutcome): void => {
      const response = encodeCheckDecision(decision, input.requestId, headers, MESSAGE_PREFIX_BYTES);
      const elapsed = performance.now() - started;
      // Verdicts of the certificate verifier (tenant_trust_unusable is one: it is cached per device like the others).
      const lookedUp =
        decision.reason === 'mtls_verified' ||
        (!decision.allow && ((decision.reason.startsWith('client_cert_') && decision.reason !== 'client_cert_missing') || decision.reason === 'tenant_trust_unusable'));
      recorder.record(decision.allow ? 'allow' : 'deny', decision.reason, elapsed / 1000, lookedUp ? (decision.cacheHit ? 'hit' : 'miss') : undefined);
      writeAudit(deps.logger, toAuditRecord(input, decision, elapsed));
      deps.onDecision?.(input, decision, now());
      if (span !== undefined) endCheckSpan(span, input, decision);
      reply(null, response, true);
    };
    const fail = (err: unknown): void => {
      if (err instanceof CallAbortedError) {
        // Already answered DEADLINE_EXCEEDED by the transport, or nobody is left to answer.
        recorder.record('error', err.why === 'deadline' ? 'deadline_exceeded' : 'cancelled', undefined);
        span?.fail(err);
        return;
      }
      // The server cannot decide: answer with a gRPC error so Envoy fails closed.
      const failure = grpcFailureOf(err);
      recorder.record('error', failure.details, undefined);
      deps.logger.error({ err }, 'check failed');
      span?.fail(err);
      reply(failure);
    };
    try {
      const outcome = decide(request, call);
      if (outcome instanceof Promise)
        outcome
          .then((o) => {
            call.signal.throwIfAborted();
            answer(o);
          })
          .catch(fail);
      else answer(outcome);
    } catch (err) {
      fail(err);
    }
  };

  const strings = new RepeatedStrings();
  // Chosen once: without tracing, a Check runs exactly the untraced handler.
  const tracing = deps.tracing;
  const checkMethod: UnaryMethod = {
    path: `/${AUTHZ_SERVICE}/Check`,
    handle(message, reply, call) {
      let request: CheckRequestMessage;
      try {
        request = decodeCheckRequest(message, strings);
      } catch (err) {
        reply({ code: GrpcStatus.INTERNAL, details: `the CheckRequest could not be decoded: ${err instanceof Error ? err.message : String(err)}` });
        return;
      }
      if (tracing === undefined) check(request, reply, call);
      else tracing.check(request.attributes?.request?.http?.headers, (span) => check(request, reply, call, span), call.metadata);
    },
  };
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS, ...deps.limits };
  const refusals = new RefusalLog(deps.logger, limits);
  const connectionDropped = (reason: ConnectionRefusal, source: string | undefined): void => {
    deps.metrics.authzTransport.connectionsDropped.inc({ reason });
    refusals.note(reason, source);
  };
  return native
    ? serveNatively(deps, fallback, checkMethod, serving, setHealth, connectionDropped, refusals)
    : serveOnGrpcJs(fallback, checkMethod, setHealth, limits, deps.metrics, connectionDropped, refusals);
}

/** Check and health Check on the native transport, everything else relayed to `fallback` on loopback. */
function serveNatively(
  deps: AuthzServerDeps,
  fallback: grpc.Server,
  checkMethod: UnaryMethod,
  serving: ReadonlyMap<string, ServingStatus>,
  setHealth: (status: ServingStatus) => void,
  connectionDropped: TransportEvents['connectionDropped'],
  refusals: RefusalLog,
): AuthzServer {
  const counted = deps.metrics.authzTransport;
  const events: TransportEvents = {
    sessionOpened: () => counted.sessionsOpened.inc(),
    sessionClosed: (reason) => counted.sessionsClosed.inc({ reason }),
    streamRefused: (reason) => counted.streamsRefused.inc({ reason }),
    connectionDropped,
  };
  const transport = new GrpcTransport({ ...deps.limits, events });
  counted.setSource(() => ({ sessions: transport.sessionCount, bufferedBytes: transport.bufferedBytes, sources: transport.sourceCount }));
  transport.addUnary(createHealthCheckMethod((service) => serving.get(service)));
  transport.addUnary(checkMethod);
  // Memory an abuse episode grew is given back once it is over (memory-reclaim.ts); only where V8's gc() is exposed (`bouncer serve`).
  const collect = exposedGc();
  const { pressureBufferedShare, ...reclaim } = AUTHZ_MEMORY_RECLAIM;
  const reclaimer =
    collect === undefined
      ? undefined
      : startMemoryReclaimer({
          ...reclaim,
          pressureBufferedBytes: transport.limits.maxBufferedBytesTotal * pressureBufferedShare,
          source: () => ({ bufferedBytes: transport.bufferedBytes, sessions: transport.sessionCount, streams: transport.heldStreams }),
          collect,
          // warn: the port was abused (thousands of streams or tens of MiB held at once), which Envoy alone never does.
          onCollect: (e) =>
            deps.logger.warn(
              { gcMs: Math.round(e.ms), peakSessions: e.peakSessions, peakBufferedBytes: e.peakBufferedBytes, peakStreams: e.peakStreams },
              'memory_reclaimed: abuse of the ext_authz port is over; one full garbage collection gave back what it grew',
            ),
        });

  return {
    listen(host, port) {
      return listenWithFallback(transport, fallback, host, port);
    },
    ...servingControls(
      setHealth,
      (done) => {
        reclaimer?.stop();
        void transport.close().then(() => fallback.tryShutdown(done));
      },
      () => {
        reclaimer?.stop();
        void transport.close(true);
        fallback.forceShutdown();
      },
      () => refusals.stop(),
    ),
  };
}

/**
 * `setServing` and `close` of either transport. Closing (once, however often
 * called) reports NOT_SERVING, then `drain` lets in-flight calls finish;
 * whatever is still open after `graceMs` is cut by `force`.
 */
function servingControls(
  setHealth: (status: ServingStatus) => void,
  drain: (done: () => void) => void,
  force: () => void,
  /** Called once closed, by drain or by force. */
  closed: () => void,
): Pick<AuthzServer, 'setServing' | 'close'> {
  let closing: Promise<void> | undefined;
  return {
    setServing(on) {
      setHealth(on ? 'SERVING' : 'NOT_SERVING');
    },
    close(graceMs = 10_000) {
      closing ??= new Promise<void>((resolve) => {
        setHealth('NOT_SERVING');
        const timer = setTimeout(() => {
          force();
          resolve();
        }, graceMs);
        timer.unref();
        drain(() => {
          clearTimeout(timer);
          resolve();
        });
      }).finally(closed);
      return closing;
    },
  };
}

/**
 * Everything on grpc-js. The port's socket is a {@link ConnectionGate}, as on
 * the native transport, so max_connections and max_connections_per_source
 * close a connection at accept here too; the connections let through are
 * handed to grpc-js's connection injector, which serves them as it would
 * its own.
 */
function serveOnGrpcJs(
  server: grpc.Server,
  checkMethod: UnaryMethod,
  setHealth: (status: ServingStatus) => void,
  limits: TransportLimits,
  metrics: Metrics,
  connectionDropped: TransportEvents['connectionDropped'],
  refusals: RefusalLog,
): AuthzServer {
  addUnaryToGrpcJs(server, checkMethod);
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const ignore = (): void => undefined;
  const gate = new ConnectionGate(limits, { sessionOpened: ignore, sessionClosed: ignore, streamRefused: ignore, connectionDropped }, (socket) => injector.injectConnection(socket));
  // grpc-js keeps its own connection and buffer figures; the gate knows its sources.
  metrics.authzTransport.setSource(() => ({ sessions: 0, bufferedBytes: 0, sources: gate.sources.sources }));
  return {
    listen(host, port) {
      return gate.listen(host, port);
    },
    ...servingControls(
      setHealth,
      // The gate stops accepting at once; grpc-js sends GOAWAY and waits for calls in flight.
      (done) => {
        gate.close(ignore);
        server.tryShutdown(() => done());
      },
      () => {
        gate.close(ignore);
        server.forceShutdown();
      },
      () => refusals.stop(),
    ),
  };
}

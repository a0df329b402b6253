/**
 * Check served by @grpc/grpc-js (`authz.transport: grpc-js`) with the very
 * handler the native transport runs: grpc-js hands over the request bytes
 * unparsed, the handler decodes and answers them, and the answer goes out as
 * the bytes the handler encoded. So the two transports differ only in the
 * HTTP/2 and gRPC framing, which is what the Envoy tests run on both to check.
 */
import type { IncomingHttpHeaders } from 'node:http';
import * as grpc from '@grpc/grpc-js';
import { BouncerError } from '../core/errors.js';
import { MESSAGE_PREFIX_BYTES, type CallContext, type GrpcFailure, type UnaryMethod } from './grpc-wire.js';
import type { TransportLimits } from './transport-limits.js';
import { CallAbortedError } from './unary-call.js';

const passBytes = (b: Buffer): Buffer => b;

/** The message a reply carries, without the prefix room the native transport fills in (grpc-js frames it itself). */
function messageBytes(response: Uint8Array | undefined, prefixed: boolean): Buffer {
  if (response === undefined) return Buffer.alloc(0);
  const skip = prefixed ? MESSAGE_PREFIX_BYTES : 0;
  return Buffer.from(response.buffer, response.byteOffset + skip, response.byteLength - skip);
}

/**
 * grpc-js options for a server that faces clients itself: the limits the
 * native transport keeps (transport-limits.ts), as far as grpc-js has them.
 * grpc-js has no equivalent of the per-connection buffer budget, the delivery
 * deadline or SETTINGS_MAX_HEADER_LIST_SIZE. The connection cap and the
 * per-source limit are kept in front of it, at accept (server.ts,
 * connection-gate.ts).
 */
export function grpcJsServerOptions(limits: TransportLimits): grpc.ServerOptions {
  return {
    'grpc.enable_channelz': 0,
    'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
    'grpc.max_receive_message_length': limits.maxMessageBytes,
    'grpc.max_connection_idle_ms': limits.maxConnectionIdleMs,
    'grpc.max_connection_age_ms': limits.maxConnectionAgeMs,
    'grpc.max_connection_age_grace_ms': limits.closeGraceMs,
    'grpc.keepalive_time_ms': limits.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': limits.keepaliveTimeoutMs,
    'grpc-node.max_session_memory': limits.maxSessionMemoryMb,
  };
}

/**
 * The call's signal, made on first read as the native transport's is: aborted
 * with {@link CallAbortedError} when grpc-js reports the caller gone, or when
 * the grpc-timeout deadline passes (grpc-js answers DEADLINE_EXCEEDED itself).
 */
class GrpcJsCall implements CallContext {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly call: grpc.ServerUnaryCall<Buffer, Buffer>) {}

  /** The call's metadata as headers (made on first read): tracing reads the caller's `traceparent` there. */
  get metadata(): IncomingHttpHeaders {
    const headers: IncomingHttpHeaders = {};
    for (const [key, value] of Object.entries(this.call.metadata.getMap())) if (typeof value === 'string') headers[key] = value;
    return headers;
  }

  get signal(): AbortSignal {
    if (this.controller) return this.controller.signal;
    const controller = new AbortController();
    this.controller = controller;
    if (this.call.cancelled) {
      controller.abort(new CallAbortedError('cancelled'));
      return controller.signal;
    }
    this.call.once('cancelled', () => this.abort('cancelled'));
    const deadline = this.call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    if (Number.isFinite(at)) {
      // grpc-js keeps the deadline in wall-clock time; so must its timer.
      this.timer = setTimeout(() => this.abort('deadline'), Math.max(0, at - Date.now()));
      this.timer.unref();
    }
    return controller.signal;
  }

  private abort(why: 'deadline' | 'cancelled'): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.controller && !this.controller.signal.aborted) this.controller.abort(new CallAbortedError(why));
  }

  done(): void {
    if (this.timer) clearTimeout(this.timer);
  }
}

/** Adds `method` (a unary method of the native transport) to `server` as-is. */
export function addUnaryToGrpcJs(server: grpc.Server, method: UnaryMethod): void {
  const [, service, name] = /^\/([^/]+)\/([^/]+)$/.exec(method.path) ?? [];
  if (service === undefined || name === undefined) throw new BouncerError('ERR_INTERNAL', `not a gRPC method path: ${method.path}`);
  const definition: grpc.ServiceDefinition = {
    [name]: {
      path: method.path,
      requestStream: false,
      responseStream: false,
      requestSerialize: passBytes,
      requestDeserialize: passBytes,
      responseSerialize: passBytes,
      responseDeserialize: passBytes,
    },
  };
  const handler: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => {
    const context = new GrpcJsCall(call);
    method.handle(
      call.request,
      (failure: GrpcFailure | null, response?: Uint8Array, prefixed?: boolean) => {
        context.done();
        if (failure) {
          callback({ code: failure.code, details: failure.details });
          return;
        }
        callback(null, messageBytes(response, prefixed === true));
      },
      context,
    );
  };
  server.addService(definition, { [name]: handler });
}

/**
 * ext_authz's gRPC transport. Envoy makes one unary call per request it
 * checks, so that call is served straight on node:http2: under load grpc-js's
 * per-call machinery (interceptors, metadata objects, listeners, filters) cost
 * about twice what the HTTP/2 stream itself did, more than bouncer's whole
 * decision. grpc.health.v1 Check is served here too (health-check.ts); the
 * rest of the port (health Watch, server reflection) is low-volume and stays
 * with grpc-js: those streams are relayed, frames untouched, to a grpc-js
 * server that listens on loopback for this transport alone.
 *
 * The port is meant for Envoy alone but must hold against any client: every
 * limit it keeps (message size from the prefix, buffered bytes, delivery
 * time, deadlines, relayed streams, idle/old/silent connections, connection
 * count, connections per source) is in transport-limits.ts, with its anchor
 * in grpc-go and Envoy. The listening socket is connection-gate.ts's.
 */
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { ConnectionGate } from './connection-gate.js';
import { parseGrpcTimeout } from './grpc-timeout.js';
import { encodeGrpcMessage, GrpcStatus, trailersOnly, type UnaryMethod } from './grpc-wire.js';
import { SessionKeeper, type SessionInfo } from './session-keeper.js';
import { DEFAULT_TRANSPORT_LIMITS, type TransportEvents, type TransportLimits } from './transport-limits.js';
import { UnaryCall, type CallHost } from './unary-call.js';

export { encodeGrpcMessage, GrpcStatus, MESSAGE_PREFIX_BYTES, unframe, type CallContext, type GrpcFailure, type UnaryMethod, type UnaryReply } from './grpc-wire.js';

export interface GrpcTransportOptions extends Partial<TransportLimits> {
  /** Told of connections and refused streams (the server counts them in Prometheus). */
  readonly events?: TransportEvents | undefined;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
const ignore = (): void => undefined;

function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const key of Object.keys(headers)) if (key === HTTP2_HEADER_STATUS || !key.startsWith(':')) out[key] = headers[key];
  return out;
}

/**
 * An h2c server: registered unary methods served here, every other stream
 * relayed to the grpc-js fallback.
 */
export class GrpcTransport implements CallHost {
  readonly limits: TransportLimits;
  readonly events: TransportEvents | undefined;
  readonly arriving = new Map<ServerHttp2Stream, UnaryCall>();
  private readonly methods = new Map<string, UnaryMethod>();
  private readonly server: http2.Http2Server;
  /** Listens and accepts: connections over a limit are closed there, before http2 sees them. */
  private readonly gate: ConnectionGate;
  private readonly keeper: SessionKeeper;
  private fallback: ClientHttp2Session | undefined;
  /** Port of the grpc-js server on 127.0.0.1 that answers every other path; 0 until set. */
  private fallbackPort = 0;
  private closed = false;
  private buffered = 0;
  private relayed = 0;

  constructor(options: GrpcTransportOptions = {}) {
    const { events, ...limits } = options;
    this.limits = Object.freeze({ ...DEFAULT_TRANSPORT_LIMITS, ...limits });
    this.events = events;
    this.keeper = new SessionKeeper(this.limits, events, (now) => this.sweepCalls(now));
    this.server = http2.createServer({
      settings: { maxConcurrentStreams: this.limits.maxConcurrentStreams, maxHeaderListSize: this.limits.maxHeaderListBytes },
      maxSessionMemory: this.limits.maxSessionMemoryMb,
    });
    this.gate = new ConnectionGate(this.limits, events, (socket) => this.server.emit('connection', socket));
    this.server.on('session', (session) => this.keeper.add(session));
    this.server.on('sessionError', ignore);
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Request bytes held right now in messages still arriving, across all connections. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Connections open right now. */
  get sessionCount(): number {
    return this.keeper.sessions.size;
  }

  /** Streams held open right now: calls whose message is still arriving, answers not yet taken, relayed streams. */
  get heldStreams(): number {
    let n = this.arriving.size + this.relayed;
    for (const info of this.keeper.sessions.values()) n += info.unread;
    return n;
  }

  addUnary(method: UnaryMethod): void {
    this.methods.set(method.path, method);
  }

  setFallbackPort(port: number): void {
    this.fallbackPort = port;
  }

  /** Sources with a connection open now, each counted toward max_connections_per_source (trusted ones are not). */
  get sourceCount(): number {
    return this.gate.sources.sources;
  }

  /** Binds and resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return this.gate.listen(host, port);
  }

  /**
   * Stops accepting connections and sends every client GOAWAY, so calls in
   * flight finish and new ones go elsewhere; resolves when all sessions are
   * gone. `force` instead cuts every session at once.
   */
  close(force = false): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      let pending = 1 + this.keeper.sessions.size;
      const done = (): void => {
        if (--pending === 0) {
          this.keeper.stop();
          resolve();
        }
      };
      this.gate.close(done);
      for (const info of this.keeper.sessions.values()) {
        const session = info.session;
        if (session.closed || session.destroyed) done();
        else {
          session.once('close', done);
          if (force) this.keeper.destroy(info, 'shutdown');
          else this.keeper.close(info, 'shutdown');
        }
      }
      this.fallback?.close();
    });
  }

  reserve(info: SessionInfo, bytes: number): boolean {
    if (info.buffered + bytes > this.limits.maxBufferedBytesPerConnection || this.buffered + bytes > this.limits.maxBufferedBytesTotal) return false;
    info.buffered += bytes;
    this.buffered += bytes;
    return true;
  }

  release(info: SessionInfo, bytes: number): void {
    info.buffered -= bytes;
    this.buffered -= bytes;
  }

  streamError(info: SessionInfo): void {
    this.keeper.streamError(info);
  }

  private sweepCalls(now: number): void {
    const deliveryMs = this.limits.messageDeliveryMs;
    for (const call of this.arriving.values()) call.sweep(now, deliveryMs);
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // Resets and aborted sessions surface as errors on the stream; 'close' handles the rest.
    stream.on('error', ignore);
    const info = this.keeper.sessions.get(stream.session as http2.Http2Session) ?? this.keeper.add(stream.session as http2.Http2Session);
    info.lastStreamAt = this.keeper.now;
    const method = this.methods.get(headers[':path'] ?? '');
    if (method === undefined) this.relay(stream, headers, info);
    else this.serveUnary(method, stream, headers, info);
  }

  private serveUnary(method: UnaryMethod, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, info: SessionInfo): void {
    // Refusals below keep reading (and dropping) whatever body comes, so the
    // client is not left blocked on flow control.
    if (headers[':method'] !== 'POST') {
      stream.respond({ [HTTP2_HEADER_STATUS]: 405, allow: 'POST' }, { endStream: true });
      stream.resume();
      return;
    }
    const contentType = headers['content-type'];
    if (contentType === undefined || !GRPC_CONTENT_TYPE.test(contentType)) {
      stream.respond({ [HTTP2_HEADER_STATUS]: 415, 'content-type': 'text/plain' });
      stream.end('a gRPC call needs content-type application/grpc\n');
      stream.resume();
      return;
    }
    const encoding = headers['grpc-encoding'];
    if (encoding !== undefined && encoding !== 'identity') {
      trailersOnly(stream, { code: GrpcStatus.UNIMPLEMENTED, details: `message encoding "${encoding}" is not supported; send messages uncompressed (identity)` });
      stream.resume();
      return;
    }
    let deadlineAt = 0;
    const timeout = headers['grpc-timeout'] as string | undefined;
    if (timeout !== undefined) {
      const ms = parseGrpcTimeout(timeout);
      if (ms === undefined) {
        this.events?.streamRefused('malformed');
        trailersOnly(stream, { code: GrpcStatus.INTERNAL, details: `malformed grpc-timeout "${timeout}": 1 to 8 digits and a unit (H, M, S, m, u, n)` });
        stream.resume();
        return;
      }
      deadlineAt = performance.now() + ms;
    }
    const call = new UnaryCall(this, info, method, stream, deadlineAt, headers);
    this.arriving.set(stream, call);
    stream.on('data', call.onData);
    stream.once('end', call.onEnd);
  }

  private fallbackSession(): ClientHttp2Session {
    const current = this.fallback;
    if (current && !current.closed && !current.destroyed) return current;
    if (this.fallbackPort === 0) throw new Error('no fallback server is listening');
    const session = http2.connect(`http://127.0.0.1:${this.fallbackPort}`);
    session.on('error', ignore);
    session.once('close', () => {
      if (this.fallback === session) this.fallback = undefined;
    });
    this.fallback = session;
    return session;
  }

  /** Relays one stream to the grpc-js server, both ways, trailers included, within the relay's stream limits. */
  private relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, info: SessionInfo): void {
    if (this.closed) return trailersOnly(stream, { code: GrpcStatus.UNAVAILABLE, details: 'the server is shutting down' });
    const own = info.relayed >= this.limits.maxRelayedStreamsPerConnection;
    if (own || this.relayed >= this.limits.maxRelayedStreamsTotal) {
      this.events?.streamRefused('relay_limit');
      trailersOnly(stream, { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'too many health Watch or reflection streams are open; close some and retry' });
      stream.close(NGHTTP2_NO_ERROR);
      if (own) this.keeper.streamError(info);
      return;
    }
    let upstream: http2.ClientHttp2Stream;
    try {
      // All of the client's headers, pseudo-headers included, as grpc-js expects them.
      upstream = this.fallbackSession().request({ ...headers }, { endStream: false });
    } catch (err) {
      trailersOnly(stream, { code: GrpcStatus.UNAVAILABLE, details: `health and reflection are not available: ${err instanceof Error ? err.message : String(err)}` });
      stream.resume();
      return;
    }
    info.relayed++;
    this.relayed++;
    upstream.on('error', ignore);
    let trailers: IncomingHttpHeaders | undefined;
    upstream.on('response', (h, flags) => {
      if (stream.destroyed || stream.closed) return;
      if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
        stream.respond(responseHeaders(h), { endStream: true });
        return;
      }
      stream.respond(responseHeaders(h), { waitForTrailers: true });
      upstream.pipe(stream);
    });
    upstream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('wantTrailers', () => {
      stream.sendTrailers(trailers ? responseHeaders(trailers) : { 'grpc-status': String(GrpcStatus.INTERNAL), 'grpc-message': encodeGrpcMessage('the call ended without a status') });
    });
    upstream.once('close', () => {
      if (stream.destroyed || stream.closed) return;
      if (!stream.headersSent) trailersOnly(stream, { code: GrpcStatus.UNAVAILABLE, details: 'health and reflection are not available right now' });
      else if (upstream.rstCode !== undefined && upstream.rstCode !== NGHTTP2_NO_ERROR && !stream.writableEnded) stream.close(NGHTTP2_INTERNAL_ERROR);
    });
    stream.once('close', () => {
      info.relayed--;
      this.relayed--;
      if (!upstream.closed && !upstream.destroyed) upstream.close(NGHTTP2_CANCEL);
    });
    stream.pipe(upstream);
  }
}

/**
 * Starts `fallback` (grpc-js, with whatever services it has) on an ephemeral
 * loopback port for `transport` to relay to, then `transport` on host:port.
 * Resolves to the transport's bound port; on failure the fallback is stopped.
 */
export async function listenWithFallback(transport: GrpcTransport, fallback: grpc.Server, host: string, port: number): Promise<number> {
  const fallbackPort = await new Promise<number>((resolve, reject) => {
    fallback.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  transport.setFallbackPort(fallbackPort);
  try {
    return await transport.listen(host, port);
  } catch (err) {
    fallback.forceShutdown();
    throw err;
  }
}

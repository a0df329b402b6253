/**
 * ext_authz's gRPC transport. Envoy makes one unary call per request it
 * checks, so that call is served straight on node:http2: under load grpc-js's
 * per-call machinery (interceptors, metadata objects, listeners, filters) cost
 * about twice what the HTTP/2 stream itself did, more than bouncer's whole
 * decision. Everything else on the port (grpc.health.v1, server reflection) is
 * low-volume and stays with grpc-js: those streams are relayed, frames
 * untouched, to a grpc-js server that listens on loopback for this transport
 * alone.
 *
 * What a unary call must look like is in gRPC's "PROTOCOL-HTTP2" document: a
 * POST with content-type application/grpc[+proto], a body of length-prefixed
 * messages (one byte compressed-flag, four bytes big-endian length), and an
 * answer of headers, the framed response and trailers carrying grpc-status, or
 * for an error a single HEADERS frame carrying the status ("trailers-only").
 */
import http2, { type ClientHttp2Session, type Http2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import * as grpc from '@grpc/grpc-js';

/** gRPC status codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  INTERNAL: 13,
  UNIMPLEMENTED: 12,
  RESOURCE_EXHAUSTED: 8,
  UNAVAILABLE: 14,
} as const;

export interface GrpcFailure {
  readonly code: number;
  readonly details: string;
}

/** Bytes before each message on the wire: the compressed flag and a 4-byte length. */
export const MESSAGE_PREFIX_BYTES = 5;

/**
 * Answers a unary call once: a failure, or the serialized response message.
 * With `prefixed`, `response` starts with {@link MESSAGE_PREFIX_BYTES} free
 * bytes before the message, which the transport fills in rather than copying
 * the message into a buffer of its own.
 */
export type UnaryReply = (failure: GrpcFailure | null, response?: Uint8Array, prefixed?: boolean) => void;

export interface UnaryMethod {
  /** `/package.Service/Method` */
  readonly path: string;
  /** Called once per call with the request message (unframed); must call `reply` once. */
  handle(message: Buffer, reply: UnaryReply): void;
}

export interface GrpcTransportOptions {
  /** Largest request message accepted, in bytes. */
  readonly maxMessageBytes: number;
  readonly maxConcurrentStreams: number;
}

const { HTTP2_HEADER_STATUS, NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = http2.constants;

const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
// node:http2 copies, validates and serializes every response header and
// trailer of every call, a few hundred nanoseconds each; a successful call
// carries only what gRPC requires. Node's `date` header is left out for the
// same reason: gRPC clients never read it.
const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  'content-type': 'application/grpc+proto',
});
const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const OK_TRAILERS: OutgoingHttpHeaders = Object.freeze({ 'grpc-status': '0' });
/** A failure answers in one HEADERS frame, and tells the client which message encoding works. */
const FAILURE_HEADERS: OutgoingHttpHeaders = Object.freeze({ ...RESPONSE_HEADERS, 'grpc-accept-encoding': 'identity' });
const RESPOND_AND_END = Object.freeze({ endStream: true, sendDate: false });
const EMPTY = Buffer.alloc(0);

/** grpc-message is percent-encoded: every byte outside printable ASCII, and `%` itself. */
export function encodeGrpcMessage(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : Array.from(Buffer.from(text, 'utf8'), (b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/**
 * The one message of a unary request body, or why there is not exactly one.
 * Exported for tests: every malformed body must be a clear INTERNAL status.
 */
export function unframe(body: Buffer, maxMessageBytes: number): Buffer | GrpcFailure {
  if (body.length === 0) return { code: GrpcStatus.INTERNAL, details: 'the request carried no message' };
  if (body.length < 5) return { code: GrpcStatus.INTERNAL, details: 'the request message is cut short: a gRPC message starts with a 5-byte prefix' };
  const flag = body[0];
  if (flag === 1) return { code: GrpcStatus.INTERNAL, details: 'the request message is marked compressed but the call declares no grpc-encoding' };
  if (flag !== 0) return { code: GrpcStatus.INTERNAL, details: `the request message has an invalid compressed-flag byte ${String(flag)}` };
  const length = body.readUInt32BE(1);
  if (length > maxMessageBytes) return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the request message is ${length} bytes; at most ${maxMessageBytes} are accepted` };
  if (body.length < 5 + length) return { code: GrpcStatus.INTERNAL, details: `the request message is cut short: ${body.length - 5} of ${length} bytes arrived` };
  if (body.length > 5 + length) return { code: GrpcStatus.INTERNAL, details: 'the request carried more than one message; this method takes exactly one' };
  return body.subarray(5);
}

function trailersOnly(stream: ServerHttp2Stream, failure: GrpcFailure): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ...FAILURE_HEADERS, 'grpc-status': String(failure.code), 'grpc-message': encodeGrpcMessage(failure.details) }, RESPOND_AND_END);
}

function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

function responseHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const key of Object.keys(headers)) if (key === HTTP2_HEADER_STATUS || !key.startsWith(':')) out[key] = headers[key];
  return out;
}

/**
 * An h2c server: registered unary methods served here, every other stream
 * relayed to the grpc-js fallback.
 */
export class GrpcTransport {
  private readonly methods = new Map<string, UnaryMethod>();
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<Http2Session>();
  private fallback: ClientHttp2Session | undefined;
  /** Port of the grpc-js server on 127.0.0.1 that answers every other path; 0 until set. */
  private fallbackPort = 0;
  private closed = false;

  constructor(private readonly options: GrpcTransportOptions) {
    this.server = http2.createServer({
      settings: { maxConcurrentStreams: options.maxConcurrentStreams },
      // As grpc-js does: concurrent streams already bound what a session holds,
      // and Node's default (10 MB) answers a burst of checks with ENHANCE_YOUR_CALM.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    this.server.on('session', (session) => {
      this.sessions.add(session);
      // A peer that resets or vanishes mid-stream is not the server's failure.
      session.on('error', () => undefined);
      session.once('close', () => this.sessions.delete(session));
    });
    this.server.on('sessionError', () => undefined);
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  addUnary(method: UnaryMethod): void {
    this.methods.set(method.path, method);
  }

  setFallbackPort(port: number): void {
    this.fallbackPort = port;
  }

  /** Binds and resolves to the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : port);
      });
    });
  }

  /**
   * Stops accepting connections and sends every client GOAWAY, so calls in
   * flight finish and new ones go elsewhere; resolves when all sessions are
   * gone. `force` instead cuts every session at once.
   */
  close(force = false): Promise<void> {
    this.closed = true;
    return new Promise((resolve) => {
      let pending = 1 + this.sessions.size;
      const done = (): void => {
        if (--pending === 0) resolve();
      };
      if (this.server.listening) this.server.close(() => done());
      else done();
      for (const session of this.sessions) {
        if (session.closed || session.destroyed) done();
        else {
          session.once('close', done);
          if (force) session.destroy();
          else session.close();
        }
      }
      this.fallback?.close();
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    // Resets and aborted sessions surface as errors on the stream; 'close' handles the rest.
    stream.on('error', () => undefined);
    const method = this.methods.get(headers[':path'] ?? '');
    if (method === undefined) this.relay(stream, headers);
    else this.serveUnary(method, stream, headers);
  }

  private serveUnary(method: UnaryMethod, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
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
    const limit = 5 + this.options.maxMessageBytes;
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let failed = false;
    stream.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        first = undefined;
        chunks = undefined;
        trailersOnly(stream, { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the request is over ${this.options.maxMessageBytes} bytes` });
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    });
    stream.once('end', () => {
      if (failed) return;
      const body = chunks ? Buffer.concat(chunks, size) : (first ?? EMPTY);
      // Node hands DATA frames over as views of a whole socket read (up to 64 KiB,
      // often shared by a burst of calls). These listeners live as long as the
      // stream does, past the answer until the trailers are sent, so a view
      // kept here was often alive at a young-generation GC: the read was then
      // moved to the old generation, and only a full collection freed it.
      // Under load that was tens of MB, and a 20-50 ms pause when it came.
      first = undefined;
      chunks = undefined;
      const message = unframe(body, this.options.maxMessageBytes);
      if (!Buffer.isBuffer(message)) return trailersOnly(stream, message);
      let answered = false;
      const reply: UnaryReply = (failure, response, prefixed) => {
        if (answered) return;
        answered = true;
        if (failure !== null || response === undefined) {
          trailersOnly(stream, failure ?? { code: GrpcStatus.INTERNAL, details: 'the method gave no response' });
          return;
        }
        // The caller gave up (Envoy's timeout, a reset): there is no one to answer.
        if (stream.destroyed || stream.closed) return;
        let framed: Buffer;
        if (prefixed === true) {
          if (response.length < MESSAGE_PREFIX_BYTES) {
            trailersOnly(stream, { code: GrpcStatus.INTERNAL, details: 'the method gave a response shorter than its frame prefix' });
            return;
          }
          framed = Buffer.isBuffer(response) ? response : Buffer.from(response.buffer, response.byteOffset, response.length);
        } else {
          framed = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + response.length);
          framed.set(response, MESSAGE_PREFIX_BYTES);
        }
        framed[0] = 0;
        framed.writeUInt32BE(framed.length - MESSAGE_PREFIX_BYTES, 1);
        stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
        stream.once('wantTrailers', sendOkTrailers);
        stream.end(framed);
      };
      try {
        method.handle(message, reply);
      } catch (err) {
        reply({ code: GrpcStatus.INTERNAL, details: `the method failed: ${err instanceof Error ? err.message : String(err)}` });
      }
    });
  }

  private fallbackSession(): ClientHttp2Session {
    const current = this.fallback;
    if (current && !current.closed && !current.destroyed) return current;
    if (this.fallbackPort === 0) throw new Error('no fallback server is listening');
    const session = http2.connect(`http://127.0.0.1:${this.fallbackPort}`);
    session.on('error', () => undefined);
    session.once('close', () => {
      if (this.fallback === session) this.fallback = undefined;
    });
    this.fallback = session;
    return session;
  }

  /** Relays one stream to the grpc-js server, both ways, trailers included. */
  private relay(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    if (this.closed) return trailersOnly(stream, { code: GrpcStatus.UNAVAILABLE, details: 'the server is shutting down' });
    let upstream: http2.ClientHttp2Stream;
    try {
      // All of the client's headers, pseudo-headers included, as grpc-js expects them.
      upstream = this.fallbackSession().request({ ...headers }, { endStream: false });
    } catch (err) {
      trailersOnly(stream, { code: GrpcStatus.UNAVAILABLE, details: `health and reflection are not available: ${err instanceof Error ? err.message : String(err)}` });
      stream.resume();
      return;
    }
    upstream.on('error', () => undefined);
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

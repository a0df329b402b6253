/**
 * One unary call on the transport, from its first DATA byte to its answer.
 *
 * The message is checked as it arrives: the 5-byte prefix is read first, and
 * a declared length over the limit is refused at once, before any of the
 * message is kept. A message that arrives in one read is used where it lies;
 * one that arrives in pieces is copied into a single buffer of its declared
 * length, reserved against the connection's and the process's budget of
 * buffered request bytes (refused RESOURCE_EXHAUSTED when either is spent).
 * The grpc-timeout deadline is kept: a call whose deadline passes is answered
 * DEADLINE_EXCEEDED and its signal aborted, so the work behind it stops.
 */
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { performance } from 'node:perf_hooks';
import { cutShort, flagProblem, GrpcStatus, MESSAGE_PREFIX_BYTES, MORE_THAN_ONE, RESPONSE_HEADERS, tooLarge, trailersOnly, type CallContext, type GrpcFailure, type UnaryMethod, type UnaryReply } from './grpc-wire.js';
import type { SessionInfo } from './session-keeper.js';
import type { StreamRefusal, TransportEvents, TransportLimits } from './transport-limits.js';

const { NGHTTP2_NO_ERROR } = http2.constants;

const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false });
const OK_TRAILERS = Object.freeze({ 'grpc-status': '0' });

function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(OK_TRAILERS);
}

/** From this size Buffer.allocUnsafe no longer slices its shared pool, so a message buffer owns its memory. */
const OWN_BUFFER_MIN = 4096;

/** A message buffer of the call's own: its memory can be given back without touching anyone else's. */
function allocMessage(length: number): Buffer {
  return length >= OWN_BUFFER_MIN ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
}

/**
 * Gives a message buffer that no one else can see back to the allocator at
 * once (ArrayBuffer.prototype.transfer detaches it), instead of at the next
 * full collection: a refused or abandoned stream's buffer has usually lived
 * long enough to reach V8's old generation, and under abuse the next round's
 * buffers would otherwise be allocated beside it. Pooled slices and views of
 * a socket read are left alone.
 */
export function releaseMessageBuffer(buf: Buffer | undefined): void {
  if (buf === undefined || buf.byteLength < OWN_BUFFER_MIN || buf.byteOffset !== 0 || buf.buffer.byteLength !== buf.byteLength) return;
  (buf.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
}

/** What a call needs from its transport. */
export interface CallHost {
  readonly limits: TransportLimits;
  readonly events: TransportEvents | undefined;
  /** Calls still waiting for their message, for the sweep's delivery deadline. */
  readonly arriving: Map<ServerHttp2Stream, UnaryCall>;
  /** Reserves `bytes` on the connection and the process; false when either budget is spent. */
  reserve(info: SessionInfo, bytes: number): boolean;
  release(info: SessionInfo, bytes: number): void;
  /** A stream refused for the connection's own fault; too many and the connection is cut. */
  streamError(info: SessionInfo): void;
}

/** Why a call's signal aborted: its deadline passed, or the caller went away. */
export class CallAbortedError extends Error {
  static readonly code = 'ERR_CALL_ABORTED';
  readonly code = CallAbortedError.code;
  constructor(readonly why: 'deadline' | 'cancelled') {
    super(why === 'deadline' ? 'the call deadline passed' : 'the caller cancelled the call');
    this.name = 'CallAbortedError';
  }
}

export class UnaryCall implements CallContext {
  /** Declared message length, -1 until the prefix is read. */
  private declared = -1;
  private prefix: Buffer | undefined;
  private prefixFill = 0;
  /** The whole message as it lies in the socket read it came in. */
  private view: Buffer | undefined;
  /** The message being put together from several reads. */
  private body: Buffer | undefined;
  private filled = 0;
  private reserved = 0;
  private done = false;
  private answered = false;
  private controller: AbortController | undefined;
  /** Why the call was abandoned, once it was: the signal may be asked for only afterwards. */
  private abandoned: 'deadline' | 'cancelled' | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When the sweep first saw this call still arriving; 0 until then. */
  seenAt = 0;

  constructor(
    private readonly host: CallHost,
    private readonly info: SessionInfo,
    private readonly method: UnaryMethod,
    private readonly stream: ServerHttp2Stream,
    /** performance.now() by which the answer is due; 0 without grpc-timeout. */
    private readonly deadlineAt: number,
    readonly metadata?: IncomingHttpHeaders,
  ) {}

  readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    if (this.declared < 0) {
      let at: number;
      let header: Buffer;
      if (this.prefixFill === 0 && chunk.length >= MESSAGE_PREFIX_BYTES) {
        header = chunk;
        at = MESSAGE_PREFIX_BYTES;
      } else {
        header = this.prefix ??= Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES);
        at = Math.min(MESSAGE_PREFIX_BYTES - this.prefixFill, chunk.length);
        chunk.copy(header, this.prefixFill, 0, at);
        this.prefixFill += at;
        if (this.prefixFill < MESSAGE_PREFIX_BYTES) return;
      }
      const bad = flagProblem(header[0] as number);
      if (bad) return this.refuse('malformed', bad, true);
      const length = header.readUInt32BE(1);
      const max = this.host.limits.maxMessageBytes;
      if (length > max) return this.refuse('message_too_large', tooLarge(length, max), true);
      this.declared = length;
      const rest = chunk.length - at;
      if (rest > length) return this.refuse('malformed', MORE_THAN_ONE, true);
      if (rest === length && header === chunk) {
        this.view = chunk.subarray(at);
        this.filled = length;
        return;
      }
      if (!this.reserve(length)) return;
      this.body = allocMessage(length);
      chunk.copy(this.body, 0, at);
      this.filled = rest;
      return;
    }
    if (chunk.length === 0) return;
    if (this.body === undefined || this.filled + chunk.length > this.declared) return this.refuse('malformed', MORE_THAN_ONE, true);
    chunk.copy(this.body, this.filled);
    this.filled += chunk.length;
  };

  readonly onEnd = (): void => {
    this.host.arriving.delete(this.stream);
    if (this.done) return;
    if (this.declared < 0) {
      return this.refuse('malformed', this.prefixFill === 0 ? { code: GrpcStatus.INTERNAL, details: 'the request carried no message' } : { code: GrpcStatus.INTERNAL, details: 'the request message is cut short: a gRPC message starts with a 5-byte prefix' }, false);
    }
    if (this.filled < this.declared) return this.refuse('malformed', cutShort(this.filled, this.declared), false);
    const message = (this.view ?? this.body) as Buffer;
    // Node hands DATA frames over as views of a whole socket read (up to 64 KiB,
    // often shared by a burst of calls). These listeners live as long as the
    // stream does, so a view kept here would often still be alive at a
    // young-generation GC, which then moves the whole read to the old
    // generation where only a full collection frees it.
    this.view = undefined;
    this.body = undefined;
    this.done = true;
    this.releaseReserved();
    if (this.deadlineAt !== 0 && performance.now() >= this.deadlineAt) {
      this.answered = true;
      this.host.events?.streamRefused('deadline_exceeded');
      trailersOnly(this.stream, { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'the deadline passed before the request was read' });
      return;
    }
    try {
      this.method.handle(message, this.reply, this);
    } catch (err) {
      this.reply({ code: GrpcStatus.INTERNAL, details: `the method failed: ${err instanceof Error ? err.message : String(err)}` });
    }
    if (this.answered) return;
    // Answered later: keep the deadline, and notice a caller that leaves first.
    if (this.deadlineAt !== 0) this.timer = setTimeout(this.onDeadline, Math.max(0, this.deadlineAt - performance.now()));
    this.stream.once('close', this.onGone);
  };

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abandoned !== undefined) this.controller.abort(new CallAbortedError(this.abandoned));
    }
    return this.controller.signal;
  }

  readonly reply: UnaryReply = (failure, response, prefixed) => {
    if (this.answered) return;
    this.answered = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const stream = this.stream;
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
    // The answer's DATA waits for the client's flow-control window; the sweep cuts a connection whose answers stay unread.
    this.info.unread++;
    stream.once('close', this.onAnswerClosed);
    stream.end(framed);
  };

  private readonly onAnswerClosed = (): void => {
    this.info.unread--;
    this.info.answersClosed++;
  };

  /** Called by the sweep for a call still waiting for its message. */
  sweep(now: number, deliveryMs: number): void {
    if (this.stream.destroyed || this.stream.closed) {
      this.host.arriving.delete(this.stream);
      this.done = true;
      this.view = undefined;
      releaseMessageBuffer(this.body);
      this.body = undefined;
      this.releaseReserved();
      return;
    }
    if (this.seenAt === 0) this.seenAt = now;
    // The delivery clock starts at the first sweep that sees the call: up to one sweep later than its headers.
    if (now - this.seenAt >= deliveryMs) {
      this.refuse('delivery_timeout', { code: GrpcStatus.DEADLINE_EXCEEDED, details: `the request message did not arrive within ${deliveryMs} ms` }, true);
      return;
    }
    // A whole message waiting for END_STREAM must not keep its socket read alive: copy it out, against the budget.
    const view = this.view;
    if (view !== undefined && this.reserve(view.length)) {
      this.body = allocMessage(view.length);
      view.copy(this.body);
      this.view = undefined;
    }
  }

  private readonly onDeadline = (): void => {
    this.timer = undefined;
    if (this.answered) return;
    this.answered = true;
    this.abandoned = 'deadline';
    this.host.events?.streamRefused('deadline_exceeded');
    trailersOnly(this.stream, { code: GrpcStatus.DEADLINE_EXCEEDED, details: 'the deadline passed before bouncer could decide' });
    this.controller?.abort(new CallAbortedError('deadline'));
  };

  private readonly onGone = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.answered) return;
    this.answered = true;
    this.abandoned = 'cancelled';
    this.controller?.abort(new CallAbortedError('cancelled'));
  };

  private reserve(bytes: number): boolean {
    if (!this.host.reserve(this.info, bytes)) {
      // Only the connection's own budget is its fault: the process's may have been spent by others.
      const own = this.info.buffered + bytes > this.host.limits.maxBufferedBytesPerConnection;
      this.refuse('buffer_budget', { code: GrpcStatus.RESOURCE_EXHAUSTED, details: 'too many request bytes are waiting on this connection or server; retry' }, true, own);
      return false;
    }
    if (this.reserved === 0) this.stream.once('close', this.releaseReserved);
    this.reserved += bytes;
    return true;
  }

  private readonly releaseReserved = (): void => {
    if (this.reserved === 0) return;
    this.host.release(this.info, this.reserved);
    this.reserved = 0;
  };

  /** Answers a failure before the method runs; `stopSending` resets the stream so the client stops sending a body nobody reads. */
  private refuse(why: StreamRefusal, failure: GrpcFailure, stopSending: boolean, ownFault = true): void {
    this.done = true;
    this.answered = true;
    this.view = undefined;
    // Refused before the method ran: nothing else holds the message.
    releaseMessageBuffer(this.body);
    this.body = undefined;
    this.releaseReserved();
    this.host.arriving.delete(this.stream);
    this.host.events?.streamRefused(why);
    trailersOnly(this.stream, failure);
    // RFC 9113 §8.1: a server that answered early may ask the client to stop with RST_STREAM NO_ERROR.
    if (stopSending && !this.stream.destroyed) this.stream.close(NGHTTP2_NO_ERROR);
    if (ownFault) this.host.streamError(this.info);
  }
}

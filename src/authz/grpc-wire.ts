/**
 * The gRPC-over-HTTP/2 shapes the transport and its methods share: status
 * codes, the message prefix, how a failure is answered. What a unary call
 * must look like is in gRPC's "PROTOCOL-HTTP2" document: a POST with
 * content-type application/grpc[+proto], a body of length-prefixed messages
 * (one byte compressed-flag, four bytes big-endian length), and an answer of
 * headers, the framed response and trailers carrying grpc-status, or for an
 * error a single HEADERS frame carrying the status ("trailers-only").
 */
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

/** gRPC status codes used here (grpc/doc/statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
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

/** What a method may ask of its call beyond the message. */
export interface CallContext {
  /**
   * Aborted when the call's grpc-timeout passes (the caller has already been
   * answered DEADLINE_EXCEEDED) or the caller cancels. Made on first read:
   * a method answering synchronously should not touch it.
   */
  readonly signal: AbortSignal;
  /** The call's request headers (gRPC metadata): tracing reads the caller's `traceparent` there. */
  readonly metadata?: IncomingHttpHeaders | undefined;
}

export interface UnaryMethod {
  /** `/package.Service/Method` */
  readonly path: string;
  /** Called once per call with the request message (unframed); must call `reply` once. */
  handle(message: Buffer, reply: UnaryReply, call: CallContext): void;
}

const { HTTP2_HEADER_STATUS } = http2.constants;

// node:http2 copies, validates and serializes every response header and
// trailer of every call, a few hundred nanoseconds each; a successful call
// carries only what gRPC requires. Node's `date` header is left out for the
// same reason: gRPC clients never read it.
export const RESPONSE_HEADERS: OutgoingHttpHeaders = Object.freeze({
  [HTTP2_HEADER_STATUS]: 200,
  'content-type': 'application/grpc+proto',
});
/** A failure answers in one HEADERS frame, and tells the client which message encoding works. */
const FAILURE_HEADERS: OutgoingHttpHeaders = Object.freeze({ ...RESPONSE_HEADERS, 'grpc-accept-encoding': 'identity' });
const RESPOND_AND_END = Object.freeze({ endStream: true, sendDate: false });

/** grpc-message is percent-encoded: every byte outside printable ASCII, and `%` itself. */
export function encodeGrpcMessage(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text) ? text : Array.from(Buffer.from(text, 'utf8'), (b) => (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

/** Answers with a status alone, in one HEADERS frame that ends the stream. */
export function trailersOnly(stream: ServerHttp2Stream, failure: GrpcFailure): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ...FAILURE_HEADERS, 'grpc-status': String(failure.code), 'grpc-message': encodeGrpcMessage(failure.details) }, RESPOND_AND_END);
}

/**
 * The one message of a unary request body, or why there is not exactly one.
 * The transport checks the same things as bytes arrive; this whole-body form
 * is kept for tests and tools.
 */
export function unframe(body: Buffer, maxMessageBytes: number): Buffer | GrpcFailure {
  if (body.length === 0) return { code: GrpcStatus.INTERNAL, details: 'the request carried no message' };
  if (body.length < 5) return { code: GrpcStatus.INTERNAL, details: 'the request message is cut short: a gRPC message starts with a 5-byte prefix' };
  const flag = body[0] as number;
  const bad = flagProblem(flag);
  if (bad) return bad;
  const length = body.readUInt32BE(1);
  if (length > maxMessageBytes) return tooLarge(length, maxMessageBytes);
  if (body.length < 5 + length) return cutShort(body.length - 5, length);
  if (body.length > 5 + length) return MORE_THAN_ONE;
  return body.subarray(5);
}

export function flagProblem(flag: number): GrpcFailure | undefined {
  if (flag === 0) return undefined;
  if (flag === 1) return { code: GrpcStatus.INTERNAL, details: 'the request message is marked compressed but the call declares no grpc-encoding' };
  return { code: GrpcStatus.INTERNAL, details: `the request message has an invalid compressed-flag byte ${String(flag)}` };
}

export function tooLarge(length: number, max: number): GrpcFailure {
  return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `the request message is ${length} bytes; at most ${max} are accepted` };
}

export function cutShort(arrived: number, length: number): GrpcFailure {
  return { code: GrpcStatus.INTERNAL, details: `the request message is cut short: ${arrived} of ${length} bytes arrived` };
}

export const MORE_THAN_ONE: GrpcFailure = Object.freeze({ code: GrpcStatus.INTERNAL, details: 'the request carried more than one message; this method takes exactly one' });

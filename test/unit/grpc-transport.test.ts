import http2 from 'node:http2';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { GrpcTransport, encodeGrpcMessage, listenWithFallback, unframe, type CallContext, type UnaryMethod, type UnaryReply } from '../../src/authz/grpc-transport.js';
import { rawUnaryClient } from '../helpers/grpc-client.js';

// ext_authz's Check is served straight on node:http2 (grpc-transport.ts) and
// every other path is relayed to grpc-js. These tests hold the transport to
// the gRPC wire protocol with a raw HTTP/2 client (so every malformed call is
// tried) and with grpc-js's own client (so a real client works end to end).

const MAX = 1024;

function frame(message: Buffer, flag = 0): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

interface RawAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  body: Buffer;
}

/** One HTTP/2 request with a raw client: whatever headers and body a test wants. */
function raw(port: number, o: { path: string; method?: string; headers?: http2.OutgoingHttpHeaders; body?: Buffer }): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': o.method ?? 'POST', ':path': o.path, 'content-type': 'application/grpc', te: 'trailers', ...o.headers }, { endStream: false });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    const chunks: Buffer[] = [];
    req.on('response', (h) => (headers = h));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve({ status: Number(headers[':status']), headers, trailers, body: Buffer.concat(chunks) });
    });
    req.end(o.body ?? Buffer.alloc(0));
  });
}

/** grpc-status and grpc-message, wherever the answer put them (trailers, or headers for trailers-only). */
function statusOf(a: RawAnswer): { code: number; message: string | undefined } {
  const where = a.trailers?.['grpc-status'] !== undefined ? a.trailers : a.headers;
  return { code: Number(where['grpc-status']), message: where['grpc-message'] as string | undefined };
}

describe('unframe', () => {
  test.each([
    ['an empty body', Buffer.alloc(0), 13, 'no message'],
    ['a body shorter than the prefix', Buffer.from([0, 0, 0]), 13, 'cut short'],
    ['a compressed flag without grpc-encoding', frame(Buffer.from('x'), 1), 13, 'marked compressed'],
    ['an unknown flag byte', frame(Buffer.from('x'), 7), 13, 'invalid compressed-flag byte 7'],
    ['a length over the limit', Buffer.from([0, 0, 0, 0x10, 0]), 8, '4096 bytes; at most 1024'],
    ['a message cut short', frame(Buffer.from('abcdef')).subarray(0, 8), 13, '3 of 6 bytes'],
    ['two messages', Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]), 13, 'more than one message'],
  ])('%s is refused with a clear status', (_name, body, code, words) => {
    const out = unframe(body, MAX);
    expect(Buffer.isBuffer(out)).toBe(false);
    expect(out).toMatchObject({ code });
    expect((out as { details: string }).details).toContain(words);
  });

  test('one message comes back without its prefix, empty ones included', () => {
    expect(unframe(frame(Buffer.from('hello')), MAX)).toEqual(Buffer.from('hello'));
    expect(unframe(frame(Buffer.alloc(0)), MAX)).toEqual(Buffer.alloc(0));
  });
});

test('grpc-message is percent-encoded outside printable ASCII, and % itself', () => {
  expect(encodeGrpcMessage('plain text: ok')).toBe('plain text: ok');
  expect(encodeGrpcMessage('100% sure')).toBe('100%25 sure');
  expect(encodeGrpcMessage('line\nbreak')).toBe('line%0Abreak');
  expect(encodeGrpcMessage('café')).toBe('caf%C3%A9');
});

describe('GrpcTransport', () => {
  let transport: GrpcTransport;
  let fallback: grpc.Server;
  let health: HealthImplementation;
  let port: number;
  /** What the test method does with each call; replaced per test. */
  let behave: (message: Buffer, reply: UnaryReply, call: CallContext) => void;
  const echo: UnaryMethod = { path: '/test.Echo/Say', handle: (m, r, c) => behave(m, r, c) };

  beforeEach(async () => {
    behave = (m, r) => r(null, Buffer.concat([Buffer.from('echo:'), m]));
    fallback = new grpc.Server();
    health = new HealthImplementation({ '': 'SERVING' });
    health.addToServer(fallback);
    transport = new GrpcTransport({ maxMessageBytes: MAX, maxConcurrentStreams: 100 });
    transport.addUnary(echo);
    port = await listenWithFallback(transport, fallback, '127.0.0.1', 0);
  });

  afterEach(async () => {
    await transport.close(true);
    fallback.forceShutdown();
  });

  test('a unary call: headers, one framed response, trailers with grpc-status 0', async () => {
    const a = await raw(port, { path: echo.path, body: frame(Buffer.from('hi')) });
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toBe('application/grpc+proto');
    expect(a.body).toEqual(frame(Buffer.from('echo:hi')));
    expect(a.trailers?.['grpc-status']).toBe('0');
    // Only what gRPC requires: every extra header is copied and encoded on every call.
    expect(Object.keys(a.headers).filter((k) => k !== ':status').sort()).toEqual(['content-type']);
    expect(Object.keys(a.trailers ?? {})).toEqual(['grpc-status']);
  });

  test('a response built with room for the prefix goes out as it is, framed in place', async () => {
    behave = (m, r) => {
      const out = Buffer.alloc(5 + 5 + m.length, 0xff);
      out.write('room:', 5);
      m.copy(out, 10);
      r(null, out, true);
    };
    const a = await raw(port, { path: echo.path, body: frame(Buffer.from('hi')) });
    expect(a.body).toEqual(frame(Buffer.from('room:hi')));
    expect(statusOf(a).code).toBe(0);
    // Shorter than the prefix it claims to have room for: the method is broken, and says so.
    behave = (_m, r) => r(null, Buffer.alloc(3), true);
    const broken = await raw(port, { path: echo.path, body: frame(Buffer.from('hi')) });
    expect(statusOf(broken).code).toBe(13);
    expect(decodeURIComponent(statusOf(broken).message ?? '')).toContain('shorter than its frame prefix');
  });

  test('grpc-js, a real client, calls through it', async () => {
    const client = rawUnaryClient(port, echo.path);
    try {
      const answer = await new Promise<Buffer | undefined>((resolve, reject) => client.call(Buffer.from('there'), {}, (err, r) => (err ? reject(err) : resolve(r))));
      expect(answer?.toString()).toBe('echo:there');
      behave = (_m, r) => r({ code: grpc.status.PERMISSION_DENIED, details: 'not you: 100% sure' });
      const err = await new Promise<grpc.ServiceError>((resolve) => client.call(Buffer.from('x'), {}, (e) => resolve(e as grpc.ServiceError)));
      expect(err.code).toBe(grpc.status.PERMISSION_DENIED);
      expect(err.details).toBe('not you: 100% sure');
    } finally {
      client.close();
    }
  });

  test('a request split over many DATA frames is put back together', async () => {
    const big = Buffer.alloc(900, 'z');
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const req = session.request({ ':method': 'POST', ':path': echo.path, 'content-type': 'application/grpc' });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise<void>((resolve) => req.on('close', () => resolve()));
    const framed = frame(big);
    for (let i = 0; i < framed.length; i += 100) req.write(framed.subarray(i, i + 100));
    req.end();
    await done;
    session.close();
    expect(Buffer.concat(chunks)).toEqual(frame(Buffer.concat([Buffer.from('echo:'), big])));
  });

  test.each([
    ['no message', Buffer.alloc(0), 13, 'no message'],
    ['two messages', Buffer.concat([frame(Buffer.from('a')), frame(Buffer.from('b'))]), 13, 'more than one message'],
    ['a compressed flag', frame(Buffer.from('a'), 1), 13, 'marked compressed'],
    ['a body over the limit', frame(Buffer.alloc(MAX + 1)), 8, `${MAX + 1} bytes; at most ${MAX}`],
  ])('a call with %s gets a trailers-only error, and the method never runs', async (_name, body, code, words) => {
    let ran = false;
    behave = (_m, r) => {
      ran = true;
      r(null, Buffer.alloc(0));
    };
    const a = await raw(port, { path: echo.path, body });
    expect(a.status).toBe(200);
    expect(a.trailers).toBeUndefined();
    expect(statusOf(a).code).toBe(code);
    expect(decodeURIComponent(statusOf(a).message ?? '')).toContain(words);
    expect(ran).toBe(false);
  });

  test('compressed messages are refused as UNIMPLEMENTED, naming the encoding', async () => {
    const a = await raw(port, { path: echo.path, headers: { 'grpc-encoding': 'gzip' }, body: frame(Buffer.from('a'), 1) });
    expect(statusOf(a).code).toBe(12);
    expect(decodeURIComponent(statusOf(a).message ?? '')).toContain('"gzip" is not supported');
    expect(a.headers['grpc-accept-encoding']).toBe('identity');
  });

  test('not gRPC at all: a GET is 405 and another content type is 415', async () => {
    expect((await raw(port, { path: echo.path, method: 'GET' })).status).toBe(405);
    const a = await raw(port, { path: echo.path, headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });
    expect(a.status).toBe(415);
    expect(a.body.toString()).toContain('application/grpc');
  });

  test('a refused call with a large body still completes: the body is read and dropped', async () => {
    // Larger than HTTP/2's initial 64 KiB window: unread, the client would wait forever.
    const big = Buffer.alloc(300 * 1024, 'x');
    const json = await raw(port, { path: echo.path, headers: { 'content-type': 'application/json' }, body: big });
    expect(json.status).toBe(415);
    const gzip = await raw(port, { path: echo.path, headers: { 'grpc-encoding': 'gzip' }, body: big });
    expect(statusOf(gzip).code).toBe(12);
    const oversize = await raw(port, { path: echo.path, body: frame(big) });
    expect(statusOf(oversize).code).toBe(8);
  });

  test('a method that throws answers INTERNAL with the reason, and the server goes on', async () => {
    behave = () => {
      throw new Error('boom');
    };
    const a = await raw(port, { path: echo.path, body: frame(Buffer.from('x')) });
    expect(statusOf(a)).toEqual({ code: 13, message: 'the method failed: boom' });
    behave = (m, r) => r(null, m);
    expect((await raw(port, { path: echo.path, body: frame(Buffer.from('y')) })).body).toEqual(frame(Buffer.from('y')));
  });

  test('a second reply, and a reply after the caller left, are ignored', async () => {
    behave = (m, r) => {
      r(null, m);
      r({ code: 13, details: 'again' });
    };
    const a = await raw(port, { path: echo.path, body: frame(Buffer.from('once')) });
    expect(statusOf(a).code).toBe(0);
    // The method holds the call; the test goes on when it has it, and again when the server has seen the cancel.
    const held = new Promise<{ reply: UnaryReply; call: CallContext }>((resolve) => {
      behave = (_m, reply, call) => resolve({ reply, call });
    });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const req = session.request({ ':method': 'POST', ':path': echo.path, 'content-type': 'application/grpc' });
    req.on('error', () => undefined);
    req.end(frame(Buffer.from('bye')));
    const { reply: late, call } = await held;
    const cancelled = new Promise<unknown>((resolve) => call.signal.addEventListener('abort', () => resolve(call.signal.reason), { once: true }));
    req.close(http2.constants.NGHTTP2_CANCEL);
    expect(await cancelled).toMatchObject({ why: 'cancelled' });
    expect(() => late(null, Buffer.from('too late'))).not.toThrow();
    session.close();
    // The server is still fine.
    behave = (m, r) => r(null, m);
    expect(statusOf(await raw(port, { path: echo.path, body: frame(Buffer.from('z')) })).code).toBe(0);
  });

  test('a call waiting for its answer does not keep the socket read its request arrived in', () => {
    // The request's DATA is a view of the socket read; the transport must let
    // go of it once the message is taken, or every call in flight holds that
    // read's memory (see serveUnary). Checked in a process of its own, on the
    // build, because Jest's sandbox keeps such objects alive by itself.
    const script = fileURLToPath(new URL('../helpers/transport-retention.mjs', import.meta.url));
    expect(execFileSync(process.execPath, ['--expose-gc', script], { encoding: 'utf8', timeout: 20_000 }).trim()).toBe('released');
  });

  test('other paths reach grpc-js: unknown methods are UNIMPLEMENTED, health answers and streams its changes', async () => {
    const unknown = await raw(port, { path: '/nope.Service/Method', body: frame(Buffer.alloc(0)) });
    expect(statusOf(unknown).code).toBe(grpc.status.UNIMPLEMENTED);

    const Health = grpc.makeGenericClientConstructor(
      {
        Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b },
        Watch: { path: '/grpc.health.v1.Health/Watch', requestStream: false, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b },
      },
      'Health',
    );
    const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
      Check(m: Buffer, cb: (err: grpc.ServiceError | null, r?: Buffer) => void): void;
      Watch(m: Buffer): grpc.ClientReadableStream<Buffer>;
    };
    try {
      // HealthCheckResponse{status: SERVING (1)} is 08 01.
      const checked = await new Promise<Buffer | undefined>((resolve, reject) => client.Check(Buffer.alloc(0), (err, r) => (err ? reject(err) : resolve(r))));
      expect(checked).toEqual(Buffer.from([0x08, 0x01]));
      const watch = client.Watch(Buffer.alloc(0));
      const seen: string[] = [];
      const twoUpdates = new Promise<void>((resolve) => {
        watch.on('data', (b: Buffer) => {
          seen.push(b.toString('hex'));
          if (seen.length === 1) health.setStatus('', 'NOT_SERVING');
          if (seen.length === 2) resolve();
        });
      });
      watch.on('error', () => undefined);
      await twoUpdates;
      watch.cancel();
      // SERVING, then NOT_SERVING (2).
      expect(seen).toEqual(['0801', '0802']);
    } finally {
      client.close();
    }
  });

  test('with grpc-js gone, relayed calls fail UNAVAILABLE while Check still works', async () => {
    fallback.forceShutdown();
    const a = await raw(port, { path: '/grpc.health.v1.Health/Check', body: frame(Buffer.alloc(0)) });
    expect(statusOf(a).code).toBe(grpc.status.UNAVAILABLE);
    expect(statusOf(await raw(port, { path: echo.path, body: frame(Buffer.from('still')) })).code).toBe(0);
  });

  test('close lets a call in flight finish, then refuses connections', async () => {
    // Closing starts once the call has reached the method, not after a guessed pause.
    const held = new Promise<() => void>((resolve) => {
      behave = (m, r) => resolve(() => r(null, m));
    });
    const inFlight = raw(port, { path: echo.path, body: frame(Buffer.from('last')) });
    const hold = await held;
    const closed = transport.close();
    hold();
    const a = await inFlight;
    expect(statusOf(a).code).toBe(0);
    expect(a.body).toEqual(frame(Buffer.from('last')));
    await closed;
    await expect(raw(port, { path: echo.path, body: frame(Buffer.from('x')) })).rejects.toThrow();
  });

  test('listening on a port already taken rejects with the system error', async () => {
    const other = new GrpcTransport({ maxMessageBytes: MAX, maxConcurrentStreams: 10 });
    await expect(other.listen('127.0.0.1', port)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await other.close(true);
  });
});

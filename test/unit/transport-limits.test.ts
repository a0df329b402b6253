/**
 * The ext_authz transport against hostile and broken clients, in-process with
 * small limits so each one trips fast: prefixes that lie, bodies that trickle,
 * streams parked unfinished, deadlines, protocol errors, idle and old
 * connections, ping floods, relayed streams. test/integration/authz-abuse
 * does the same against a real bouncer process and measures it.
 */
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { GrpcTransport, listenWithFallback, type CallContext, type UnaryReply } from '../../src/authz/grpc-transport.js';
import { parseGrpcTimeout } from '../../src/authz/grpc-timeout.js';
import { releaseMessageBuffer } from '../../src/authz/unary-call.js';
import { createHealthCheckMethod, decodeHealthService } from '../../src/authz/health-check.js';
import type { SessionCloseReason, StreamRefusal, TransportEvents, TransportLimits } from '../../src/authz/transport-limits.js';
import { encodeFrame, FrameType, Flag, grpcHeaders, grpcPrefix, headerBlock, HostileH2 } from '../helpers/hostile-h2.js';

const PATH = '/test.Echo/Say';

interface Rig {
  transport: GrpcTransport;
  fallback: grpc.Server;
  port: number;
  closed: SessionCloseReason[];
  refused: StreamRefusal[];
  /** Connections closed at accept because the cap was reached. */
  dropped: number;
  clients: HostileH2[];
}

let rig: Rig;
let behave: (m: Buffer, r: UnaryReply, c: CallContext) => void;

async function start(limits: Partial<TransportLimits>): Promise<Rig> {
  const closed: SessionCloseReason[] = [];
  const refused: StreamRefusal[] = [];
  const events: TransportEvents = { sessionOpened: () => undefined, sessionClosed: (r) => closed.push(r), streamRefused: (r) => refused.push(r), connectionDropped: () => rig.dropped++ };
  const transport = new GrpcTransport({ maxMessageBytes: 1024, ...limits, events });
  transport.addUnary({ path: PATH, handle: (m, r, c) => behave(m, r, c) });
  const fallback = new grpc.Server();
  new HealthImplementation({ '': 'SERVING' }).addToServer(fallback);
  const port = await listenWithFallback(transport, fallback, '127.0.0.1', 0);
  rig = { transport, fallback, port, closed, refused, dropped: 0, clients: [] };
  return rig;
}

async function connect(): Promise<HostileH2> {
  const c = await HostileH2.connect(rig.port);
  rig.clients.push(c);
  return c;
}

/** Waits for `cond`, polling; fails after `ms`. */
async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** One call with node:http2; resolves to grpc-status (from trailers or trailers-only headers). */
function call(port: number, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<{ code: number; message: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', ...headers });
    let status: http2.IncomingHttpHeaders = {};
    req.on('response', (h) => (status = h));
    req.on('trailers', (t) => (status = t));
    req.on('data', () => undefined);
    req.on('error', () => undefined);
    req.on('close', () => {
      session.close();
      resolve({ code: Number(status['grpc-status']), message: decodeURIComponent(String(status['grpc-message'] ?? '')), ms: Date.now() - started });
    });
    req.end(body);
  });
}

function frame(message: Buffer): Buffer {
  return Buffer.concat([grpcPrefix(message.length), message]);
}

beforeEach(() => {
  behave = (m, r) => r(null, m);
});

afterEach(async () => {
  for (const c of rig.clients) c.destroy();
  await rig.transport.close(true);
  rig.fallback.forceShutdown();
});

describe('messages', () => {
  test.each([
    ['16 MiB', 16 * 1024 * 1024],
    ['4 GiB - 1', 0xffffffff],
  ])('a prefix declaring %s is refused at once, before any of the message arrives', async (_name, declared) => {
    await start({});
    const c = await connect();
    const id = c.startCall(PATH);
    await c.data(id, grpcPrefix(declared));
    await until('the refusal', () => c.ended.has(id) || c.resets.has(id));
    expect(rig.refused).toEqual(['message_too_large']);
    expect(rig.transport.bufferedBytes).toBe(0);
  });

  test('a message trickled in one-byte frames is put together and answered', async () => {
    await start({});
    const c = await connect();
    const id = c.startCall(PATH);
    await c.data(id, frame(Buffer.from('trickled')), { frameSize: 1, endStream: true });
    await until('the answer', () => c.ended.has(id));
    expect(rig.refused).toEqual([]);
    expect(rig.transport.bufferedBytes).toBe(0);
  });

  test('unfinished messages hold at most the connection budget; a reset gives its share back', async () => {
    await start({ maxBufferedBytesPerConnection: 3000, maxBufferedBytesTotal: 5000 });
    const c = await connect();
    const ids = [c.startCall(PATH), c.startCall(PATH), c.startCall(PATH), c.startCall(PATH)];
    for (const id of ids) await c.data(id, Buffer.concat([grpcPrefix(1000), Buffer.alloc(10)]));
    await until('the fourth to be refused', () => rig.refused.length === 1);
    expect(rig.refused).toEqual(['buffer_budget']);
    expect(rig.transport.bufferedBytes).toBe(3000);
    // A second connection may use what is left of the process's budget, and no more.
    const d = await connect();
    const other = [d.startCall(PATH), d.startCall(PATH), d.startCall(PATH)];
    for (const id of other) await d.data(id, Buffer.concat([grpcPrefix(1000), Buffer.alloc(10)]));
    await until('the process budget to stop the third', () => rig.refused.length === 2);
    expect(rig.transport.bufferedBytes).toBe(5000);
    c.rst(ids[0] as number);
    await until('the reset to release its bytes', () => rig.transport.bufferedBytes === 4000);
    // Finished messages release theirs and are answered.
    await d.data(other[0] as number, Buffer.alloc(990), { endStream: true });
    await until('the answer', () => d.ended.has(other[0] as number));
    expect(rig.transport.bufferedBytes).toBe(3000);
  });

  test("a refused message's own buffer is given back at once; pooled slices and views of a shared read are left alone", () => {
    const own = Buffer.allocUnsafeSlow(64 * 1024).fill(1);
    releaseMessageBuffer(own);
    expect(own.byteLength).toBe(0);
    const pooled = Buffer.allocUnsafe(100).fill(2);
    const read = Buffer.allocUnsafeSlow(64 * 1024).fill(3);
    const view = read.subarray(5, 5 + 8192);
    const whole = read.subarray(0, 8192);
    for (const b of [pooled, view, whole]) releaseMessageBuffer(b);
    expect([pooled.byteLength, view.byteLength, whole.byteLength, read.byteLength]).toEqual([100, 8192, 8192, 64 * 1024]);
    expect(pooled[0]).toBe(2);
    expect(view[0]).toBe(3);
  });

  test('a stream that does not deliver its message in time is answered DEADLINE_EXCEEDED and its bytes released', async () => {
    await start({ messageDeliveryMs: 1000 });
    const c = await connect();
    const id = c.startCall(PATH);
    await c.data(id, Buffer.concat([grpcPrefix(500), Buffer.alloc(10)]));
    await until('the buffered bytes', () => rig.transport.bufferedBytes === 500);
    await until('the delivery deadline', () => c.ended.has(id) || c.resets.has(id), 5000);
    expect(rig.refused).toEqual(['delivery_timeout']);
    expect(rig.transport.bufferedBytes).toBe(0);
  });
});

describe('deadlines', () => {
  test('grpc-timeout is kept: DEADLINE_EXCEEDED in time and the signal aborted', async () => {
    await start({});
    let signal: AbortSignal | undefined;
    behave = (_m, _r, c) => {
      signal = c.signal;
    };
    const a = await call(rig.port, frame(Buffer.from('x')), { 'grpc-timeout': '200m' });
    expect(a.code).toBe(4);
    expect(a.ms).toBeLessThan(2000);
    expect(signal?.aborted).toBe(true);
    expect(rig.refused).toEqual(['deadline_exceeded']);
  });

  test('an answer in time is OK; a late one is dropped; a malformed grpc-timeout is refused', async () => {
    await start({});
    expect((await call(rig.port, frame(Buffer.from('x')), { 'grpc-timeout': '1S' })).code).toBe(0);
    let late: UnaryReply | undefined;
    behave = (_m, r) => {
      late = r;
    };
    expect((await call(rig.port, frame(Buffer.from('x')), { 'grpc-timeout': '100m' })).code).toBe(4);
    expect(() => late?.(null, Buffer.from('late'))).not.toThrow();
    behave = (m, r) => r(null, m);
    const bad = await call(rig.port, frame(Buffer.from('x')), { 'grpc-timeout': '1 second' });
    expect(bad.code).toBe(13);
    expect(bad.message).toContain('malformed grpc-timeout');
  });

  test('a caller that cancels aborts the signal', async () => {
    await start({});
    let signal: AbortSignal | undefined;
    behave = (_m, _r, c) => {
      signal = c.signal;
    };
    const c = await connect();
    const id = c.startCall(PATH);
    await c.data(id, frame(Buffer.from('x')), { endStream: true });
    await until('the method', () => signal !== undefined);
    c.rst(id);
    await until('the abort', () => signal?.aborted === true);
  });

  test.each([
    ['200m', 200],
    ['1S', 1000],
    ['2M', 120_000],
    ['1H', 3_600_000],
    ['5000u', 5],
    ['99999999n', 99.999999],
  ])('parseGrpcTimeout(%s) is %d ms', (text, ms) => {
    expect(parseGrpcTimeout(text)).toBeCloseTo(ms, 6);
  });

  test.each(['', 'S', '10', '123456789S', '10s', '-1S', '1.5S'])('parseGrpcTimeout(%j) is malformed', (text) => {
    expect(parseGrpcTimeout(text)).toBeUndefined();
  });
});

describe('connections', () => {
  test.each([
    ['DATA inside a header block', (c: HostileH2, id: number, block: Buffer) => {
      c.headers(id, block.subarray(0, 5), 0);
      c.frame(FrameType.DATA, 0, id, Buffer.alloc(3));
    }],
    ['a frame over the size limit', (c: HostileH2, id: number) => c.frame(FrameType.DATA, 0, id, Buffer.alloc(20_000))],
    ['a CONTINUATION shorter than its length', (c: HostileH2, id: number, block: Buffer) => {
      c.headers(id, block.subarray(0, 5), 0);
      c.frame(FrameType.CONTINUATION, Flag.END_HEADERS, id, block.subarray(5), block.length);
    }],
  ])('after %s the connection is closed, not left in CLOSE_WAIT', async (_name, abuse) => {
    await start({ keepaliveTimeMs: 500, keepaliveTimeoutMs: 1000 });
    const c = await connect();
    abuse(c, c.newStreamId(), grpcHeaders(PATH));
    c.end();
    await Promise.race([c.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 6000).unref())]);
    await until('the session to be counted closed', () => rig.transport.sessionCount === 0);
    expect(rig.closed.length).toBe(1);
  });

  test('an idle connection is sent GOAWAY and closed', async () => {
    await start({ maxConnectionIdleMs: 1000 });
    const c = await connect();
    await until('GOAWAY', () => c.goaways.length > 0, 5000);
    expect(c.goaways[0]).toBe(0);
    c.end();
    await until('the close', () => rig.closed.length === 1, 5000);
    expect(rig.closed).toEqual(['idle']);
  });

  test('a busy connection past its maximum age is sent GOAWAY, and cut after the grace', async () => {
    await start({ maxConnectionAgeMs: 1000, closeGraceMs: 1000 });
    const c = await connect();
    const held = c.startCall(PATH);
    behave = () => undefined;
    await c.data(held, frame(Buffer.from('x')), { endStream: true });
    await until('GOAWAY', () => c.goaways.length > 0, 5000);
    await Promise.race([c.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 5000))]);
    await until('the count', () => rig.closed.length === 1);
    expect(rig.closed).toEqual(['close_grace']);
  });

  test('a silent peer that does not answer pings is cut', async () => {
    await start({ keepaliveTimeMs: 500, keepaliveTimeoutMs: 500 });
    const c = await connect();
    await until("the server's SETTINGS", () => c.serverSettingsSeen);
    // Stop reading: the server's PING goes unanswered.
    c.socket.pause();
    await until('the cut', () => rig.closed.length === 1, 6000);
    expect(rig.closed).toEqual(['keepalive_timeout']);
  });

  test('a ping flood earns GOAWAY ENHANCE_YOUR_CALM', async () => {
    await start({});
    const c = await connect();
    for (let i = 0; i < 5; i++) c.ping();
    await until('GOAWAY', () => c.goaways.length > 0, 5000);
    expect(c.goaways[0]).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    await until('the close', () => rig.closed.length === 1, 5000);
    expect(rig.closed).toEqual(['ping_abuse']);
  });

  test('a connection that earns too many stream refusals is sent GOAWAY ENHANCE_YOUR_CALM and cut; others keep answering', async () => {
    await start({ maxStreamErrorsPerConnection: 5 });
    const c = await connect();
    for (let i = 0; i < 20 && c.isOpen; i++) await c.data(c.startCall(PATH), grpcPrefix(4096));
    await Promise.race([c.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 5000))]);
    expect(c.goaways.length).toBeGreaterThan(0);
    expect(new Set(c.goaways)).toEqual(new Set([http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]));
    await until('the count', () => rig.closed.length === 1);
    expect(rig.closed).toEqual(['stream_errors']);
    // Refusals stopped once the connection was cut: the rest of its streams cost nothing.
    expect(rig.refused.length).toBeLessThanOrEqual(6);
    expect((await call(rig.port, frame(Buffer.from('still')))).code).toBe(0);
  });

  test('refusals caused by the whole process running short are not held against a connection', async () => {
    await start({ maxStreamErrorsPerConnection: 2, maxBufferedBytesTotal: 1000, maxMessageBytes: 4096 });
    const c = await connect();
    for (let i = 0; i < 5; i++) await c.data(c.startCall(PATH), Buffer.concat([grpcPrefix(2000), Buffer.alloc(10)]));
    await until('five refusals', () => rig.refused.length === 5);
    expect(rig.refused).toEqual(Array(5).fill('buffer_budget'));
    expect(c.isOpen).toBe(true);
  });

  test.each([
    ['sends nothing', (s: net.Socket) => s.write(Buffer.alloc(0))],
    ['sends half the preface', (s: net.Socket) => s.write(Buffer.from('PRI * HTTP/2.0\r\n'))],
    ['sends the preface but no SETTINGS', (s: net.Socket) => s.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'))],
  ])('a connection that %s is cut at the handshake limit', async (_name, send) => {
    await start({ handshakeTimeoutMs: 300 });
    const socket = net.connect(rig.port, '127.0.0.1');
    socket.on('error', () => undefined);
    // Read (and drop) the server's SETTINGS, so the client sees the FIN that follows.
    socket.resume();
    const gone = new Promise((resolve) => socket.once('close', resolve));
    socket.once('connect', () => send(socket));
    await Promise.race([gone, new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 5000))]);
    await until('the count', () => rig.closed.length === 1);
    expect(rig.closed).toEqual(['handshake_timeout']);
  });

  test('broken connections opened many a second never fill the connection cap; legitimate clients still connect and are answered', async () => {
    const limits = { maxConnections: 60, handshakeTimeoutMs: 300, pressureConnections: 10, pressureKeepaliveMs: 300, keepaliveTimeMs: 2000, keepaliveTimeoutMs: 2000 };
    await start(limits);
    const raw: net.Socket[] = [];
    const kinds: Array<() => Promise<void>> = [
      // Silent after the TCP handshake.
      async () => {
        const s = net.connect(rig.port, '127.0.0.1');
        s.on('error', () => undefined);
        raw.push(s);
      },
      // A protocol error: DATA inside a header block.
      async () => {
        const c = await connect();
        const id = c.newStreamId();
        c.headers(id, grpcHeaders(PATH).subarray(0, 5), 0);
        c.frame(FrameType.DATA, 0, id, Buffer.alloc(3));
      },
      // A complete handshake, then deaf: the server's pings go unanswered.
      async () => {
        const c = await connect();
        await until('the SETTINGS ack', () => c.socket.bytesRead > 0, 2000);
        c.socket.pause();
      },
    ];
    let peak = 0;
    let opened = 0;
    const legit: Array<{ code: number }> = [];
    // 60 broken connections a second for 4 s: 240 in all, four times the cap.
    for (let tick = 0; tick < 40; tick++) {
      for (let k = 0; k < 6; k++) {
        await (kinds[(tick * 6 + k) % kinds.length] as () => Promise<void>)();
        opened++;
      }
      if (tick % 4 === 0) legit.push(await call(rig.port, frame(Buffer.from('legit'))));
      peak = Math.max(peak, rig.transport.sessionCount);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(opened).toBe(240);
    expect(rig.dropped).toBe(0);
    expect(peak).toBeLessThan(limits.maxConnections);
    expect(legit.map((r) => r.code)).toEqual(Array(10).fill(0));
    // Below the pressure mark the last deaf connections go by the ordinary keepalive (2 s + 2 s here).
    await until('every broken connection reaped', () => rig.transport.sessionCount === 0, 12_000).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${rig.transport.sessionCount} open, closed ${JSON.stringify(rig.closed.reduce<Record<string, number>>((m, r) => ({ ...m, [r]: (m[r] ?? 0) + 1 }), {}))}`);
    });
    const count = (r: SessionCloseReason): number => rig.closed.filter((x) => x === r).length;
    process.stdout.write(`broken-connection storm: peak ${peak} connections; closed ${JSON.stringify(Object.fromEntries(['handshake_timeout', 'keepalive_timeout', 'error', 'peer'].map((r) => [r, count(r as SessionCloseReason)])))}\n`);
    expect(count('handshake_timeout')).toBe(80);
    expect(count('keepalive_timeout')).toBe(80);
    expect(count('error')).toBe(80);
    for (const s of raw) s.destroy();
  }, 30_000);

  test('relayed streams are limited per connection; the transport answers meanwhile', async () => {
    await start({ maxRelayedStreamsPerConnection: 2 });
    const c = await connect();
    const watches = [c.startCall('/grpc.health.v1.Health/Watch'), c.startCall('/grpc.health.v1.Health/Watch'), c.startCall('/grpc.health.v1.Health/Watch')];
    for (const id of watches) await c.data(id, grpcPrefix(0), { endStream: true });
    await until('the third to be refused', () => rig.refused.length === 1);
    expect(rig.refused).toEqual(['relay_limit']);
    expect((await call(rig.port, frame(Buffer.from('still')))).code).toBe(0);
  });
});

describe('health served on the transport', () => {
  test('HealthCheckRequest decoding: service, empty, unknown fields, garbage', () => {
    expect(decodeHealthService(Buffer.alloc(0))).toBe('');
    expect(decodeHealthService(Buffer.from([0x0a, 0x03, 0x61, 0x62, 0x63]))).toBe('abc');
    expect(decodeHealthService(Buffer.from([0x10, 0x05, 0x0a, 0x01, 0x78]))).toBe('x');
    expect(decodeHealthService(Buffer.from([0x0a, 0x09, 0x61]))).toBeUndefined();
    expect(decodeHealthService(Buffer.from([0x0f]))).toBeUndefined();
  });

  test('answers SERVING, NOT_SERVING and NOT_FOUND like grpc-health-check', () => {
    const statuses = new Map([['', 'SERVING' as const], ['down', 'NOT_SERVING' as const]]);
    const method = createHealthCheckMethod((s) => statuses.get(s));
    const answers: unknown[] = [];
    const ctx = { signal: new AbortController().signal };
    method.handle(Buffer.alloc(0), (f, r) => answers.push(f ?? r), ctx);
    method.handle(Buffer.from([0x0a, 0x04, ...Buffer.from('down')]), (f, r) => answers.push(f ?? r), ctx);
    method.handle(Buffer.from([0x0a, 0x01, 0x78]), (f, r) => answers.push(f ?? r), ctx);
    expect(answers).toEqual([Buffer.from([8, 1]), Buffer.from([8, 2]), { code: 5, details: 'Health status unknown for service x' }]);
  });
});

describe('answers the client does not read', () => {
  /** SETTINGS_INITIAL_WINDOW_SIZE 0: the server may send HEADERS but no DATA until a WINDOW_UPDATE. */
  const zeroWindow = (c: HostileH2): void => c.frame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0]));
  const windowUpdate = (c: HostileH2, id: number, bytes: number): void => {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(bytes);
    c.frame(FrameType.WINDOW_UPDATE, 0, id, p);
  };
  const completeCall = (c: HostileH2): number => {
    const id = c.startCall(PATH);
    c.frame(FrameType.DATA, Flag.END_STREAM, id, frame(Buffer.from('hi')));
    return id;
  };

  test('a connection whose answers stay unread is sent GOAWAY ENHANCE_YOUR_CALM and cut; others keep answering', async () => {
    await start({ responseDeliveryMs: 1000 });
    const c = await connect();
    zeroWindow(c);
    for (let i = 0; i < 50; i++) completeCall(c);
    const answered = await call(rig.port, frame(Buffer.from('meanwhile')));
    expect(answered.code).toBe(0);
    await Promise.race([c.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('still open')), 6000).unref())]);
    expect(c.goaways.length).toBeGreaterThan(0);
    expect(new Set(c.goaways)).toEqual(new Set([http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]));
    // None of the answers got through: only their headers could be sent.
    expect(c.ended.size).toBe(0);
    await until('the count', () => rig.closed.includes('not_reading'));
    // The other connection (the call meanwhile) closed on its own.
    expect(rig.closed.filter((r) => r !== 'peer')).toEqual(['not_reading']);
    expect((await call(rig.port, frame(Buffer.from('after')))).code).toBe(0);
  });

  test('a client that takes its answers slowly, but takes them, is not cut', async () => {
    await start({ responseDeliveryMs: 1500 });
    const c = await connect();
    zeroWindow(c);
    const ids = Array.from({ length: 4 }, () => completeCall(c));
    // One answer taken every 800 ms: 3.2 s in all, more than twice the limit, never 1.5 s without progress.
    for (const id of ids) {
      await new Promise((resolve) => setTimeout(resolve, 800));
      windowUpdate(c, id, 1024);
    }
    await until('every answer', () => ids.every((id) => c.ended.has(id)));
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(c.isOpen).toBe(true);
    expect(rig.closed).toEqual([]);
  });

  test('an unread answer whose stream the client resets no longer counts', async () => {
    await start({ responseDeliveryMs: 1000 });
    const c = await connect();
    zeroWindow(c);
    const id = completeCall(c);
    await new Promise((resolve) => setTimeout(resolve, 200));
    c.rst(id);
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(c.isOpen).toBe(true);
    expect(rig.closed).toEqual([]);
  });
});

/**
 * Floods that node:http2 (nghttp2) ends by itself. Kept as tests so an upgrade of
 * Node that loses one of these guards is noticed: each connection must be closed
 * within seconds while another client's call is answered.
 */
describe('floods the HTTP/2 layer ends', () => {
  const rstPayload = Buffer.from([0, 0, 0, 8]);
  const floods: Array<[string, (c: HostileH2) => Buffer]> = [
    // CVE-2023-44487: a stream opened and reset at once, over and over.
    ['rapid reset', (c) => {
      const parts: Buffer[] = [];
      for (let i = 0; i < 5000; i++) {
        const id = c.newStreamId();
        parts.push(encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, id, grpcHeaders(PATH)), encodeFrame(FrameType.DATA, Flag.END_STREAM, id, grpcPrefix(0)), encodeFrame(FrameType.RST_STREAM, 0, id, rstPayload));
      }
      return Buffer.concat(parts);
    }],
    // SETTINGS frames never acknowledged in time (node's maxOutstandingSettings).
    ['SETTINGS flood', () => Buffer.concat(Array.from({ length: 20_000 }, () => encodeFrame(FrameType.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0xff, 0xff]))))],
    // CVE-2024-27316 class: a header block that never ends, far over the header list limit.
    ['CONTINUATION flood', (c) => {
      const id = c.newStreamId();
      const more = headerBlock([['x-a', 'b'.repeat(1000)]]);
      return Buffer.concat([encodeFrame(FrameType.HEADERS, 0, id, grpcHeaders(PATH)), ...Array.from({ length: 2000 }, () => encodeFrame(FrameType.CONTINUATION, 0, id, more))]);
    }],
    // HPACK amplification: one 4 KB entry in the dynamic table referenced 15,000 times in one block.
    ['HPACK bomb', (c) => {
      const entry = Buffer.concat([Buffer.from([0x40, 0x03]), Buffer.from('x-b'), Buffer.from([0x7f, 0x81, 0x1e]), Buffer.alloc(127 + 0x01 + 0x1e * 128, 0x61)]);
      return encodeFrame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, c.newStreamId(), Buffer.concat([grpcHeaders(PATH), entry, Buffer.alloc(15_000, 0xbe)]));
    }],
    // CVE-2019-9518: empty DATA frames that cost the server work and carry nothing.
    ['empty DATA frames', (c) => {
      const id = c.newStreamId();
      return Buffer.concat([encodeFrame(FrameType.HEADERS, Flag.END_HEADERS, id, grpcHeaders(PATH)), ...Array.from({ length: 20_000 }, () => encodeFrame(FrameType.DATA, 0, id, Buffer.alloc(0)))]);
    }],
    // CVE-2019-9513/9515-like: WINDOW_UPDATE and PRIORITY frames with nothing to do.
    ['WINDOW_UPDATE and PRIORITY flood', () => Buffer.concat(Array.from({ length: 40_000 }, (_v, i) => (i % 2 === 0 ? encodeFrame(FrameType.WINDOW_UPDATE, 0, 0, Buffer.from([0, 0, 0, 1])) : encodeFrame(2, 0, 3, Buffer.from([0, 0, 0, 1, 10])))))],
  ];

  test.each(floods)('%s: the connection is closed and other clients are answered', async (_name, build) => {
    await start({});
    const c = await connect();
    await until("the server's SETTINGS", () => c.serverSettingsSeen);
    // Written at once, not read back meanwhile, as an attacker would.
    c.socket.pause();
    c.write(build(c));
    c.socket.resume();
    await Promise.race([c.closed, new Promise((_r, reject) => setTimeout(() => reject(new Error('the flooding connection is still open')), 8000).unref())]);
    expect((await call(rig.port, frame(Buffer.from('meanwhile')))).code).toBe(0);
  });
});

/**
 * A hostile HTTP/2 client: frames written by hand over a plain TCP socket, so
 * a test can send what node:http2 never would (DATA inside a header block, a
 * CONTINUATION shorter than it says, an oversized frame, a message prefix that
 * lies, bytes trickled one frame at a time). It keeps just enough state to be
 * a well-behaved peer where the test wants one: it acknowledges SETTINGS and
 * PING and honours flow control when asked to send a body.
 *
 * Frame layout: RFC 9113 §4.1; header blocks use HPACK literals without
 * indexing and without Huffman coding (RFC 7541 §6.2.2), which every decoder
 * must accept.
 */
import net from 'node:net';

export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const DEFAULT_WINDOW = 65_535;

export interface ReceivedFrame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

function hpackInteger(value: number, prefixBits: number, firstByte: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByte | value]);
  const out = [firstByte | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 7, 0), bytes]);
}

/** A header block of literal fields without indexing (RFC 7541 §6.2.2). */
export function headerBlock(fields: ReadonlyArray<readonly [string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

/** The request headers of a gRPC call to `path`, plus any extra fields. */
export function grpcHeaders(path: string, extra: ReadonlyArray<readonly [string, string]> = []): Buffer {
  return headerBlock([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'bouncer'], ['content-type', 'application/grpc'], ['te', 'trailers'], ...extra]);
}

/** One frame; `lengthField` overrides the declared length to lie about it. */
export function encodeFrame(type: number, flags: number, streamId: number, payload: Buffer, lengthField = payload.length): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(lengthField, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** The 5-byte gRPC message prefix declaring `length` bytes (uncompressed). */
export function grpcPrefix(length: number): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(length >>> 0, 1);
  return head;
}

export class HostileH2 {
  readonly socket: net.Socket;
  private inbound: Buffer = Buffer.alloc(0);
  private sendWindow = DEFAULT_WINDOW;
  private initialStreamWindow = DEFAULT_WINDOW;
  private readonly streamWindows = new Map<number, number>();
  private windowWaiters: Array<() => void> = [];
  private nextId = 1;
  /** Every GOAWAY's error code received, in order. */
  readonly goaways: number[] = [];
  /** RST_STREAM error codes received, by stream. */
  readonly resets = new Map<number, number>();
  /** Streams the server ended (END_STREAM seen on HEADERS or DATA). */
  readonly ended = new Set<number>();
  /** Streams this client opened (sent HEADERS on). */
  readonly opened = new Set<number>();
  /** Whether the server's SETTINGS (its side of the connection preface) has arrived. */
  serverSettingsSeen = false;
  /** Resolves when the server closes the TCP connection (FIN or reset). */
  readonly closed: Promise<void>;
  private isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.isClosed = true;
        for (const w of this.windowWaiters.splice(0)) w();
        resolve();
      }),
    );
  }

  /** Connects, sends the preface and an empty SETTINGS frame. */
  static connect(port: number, host = '127.0.0.1'): Promise<HostileH2> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        const client = new HostileH2(socket);
        socket.write(Buffer.concat([PREFACE, encodeFrame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]));
        resolve(client);
      });
    });
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  /** A new odd stream id (client-initiated, RFC 9113 §5.1.1). */
  newStreamId(): number {
    const id = this.nextId;
    this.nextId += 2;
    return id;
  }

  write(bytes: Buffer): void {
    if (!this.isClosed) this.socket.write(bytes);
  }

  frame(type: number, flags: number, streamId: number, payload: Buffer, lengthField?: number): void {
    this.write(encodeFrame(type, flags, streamId, payload, lengthField));
  }

  headers(streamId: number, block: Buffer, flags: number = Flag.END_HEADERS): void {
    this.opened.add(streamId);
    this.frame(FrameType.HEADERS, flags, streamId, block);
  }

  /** Starts a gRPC call to `path` and returns its stream id. */
  startCall(path: string, extra: ReadonlyArray<readonly [string, string]> = []): number {
    const id = this.newStreamId();
    this.headers(id, grpcHeaders(path, extra));
    return id;
  }

  /** Sends body bytes in DATA frames of at most `frameSize`, waiting for flow-control credit. */
  async data(streamId: number, payload: Buffer, o: { endStream?: boolean; frameSize?: number } = {}): Promise<void> {
    const frameSize = o.frameSize ?? 16_384;
    let offset = 0;
    do {
      // The server answered or reset the stream: nothing more to send on it.
      if (this.isClosed || this.resets.has(streamId) || this.ended.has(streamId)) return;
      const room = Math.min(this.sendWindow, this.streamWindows.get(streamId) ?? this.initialStreamWindow);
      if (room <= 0 && payload.length > 0) {
        await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
        continue;
      }
      const size = Math.min(frameSize, payload.length - offset, room);
      const last = offset + size >= payload.length;
      this.sendWindow -= size;
      this.streamWindows.set(streamId, (this.streamWindows.get(streamId) ?? this.initialStreamWindow) - size);
      this.frame(FrameType.DATA, last && o.endStream === true ? Flag.END_STREAM : 0, streamId, payload.subarray(offset, offset + size));
      offset += size;
    } while (offset < payload.length);
  }

  rst(streamId: number, code = 8): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(code);
    this.frame(FrameType.RST_STREAM, 0, streamId, p);
  }

  ping(payload = Buffer.alloc(8)): void {
    this.frame(FrameType.PING, 0, 0, payload);
  }

  /** Closes our side of the TCP connection (FIN) without a GOAWAY. */
  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Resolves once the server has sent a GOAWAY (or closed the connection). */
  async goawayOrClose(): Promise<void> {
    while (this.goaways.length === 0 && !this.isClosed) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  private onData(chunk: Buffer): void {
    this.inbound = this.inbound.length === 0 ? chunk : Buffer.concat([this.inbound, chunk]);
    while (this.inbound.length >= 9) {
      const length = this.inbound.readUIntBE(0, 3);
      if (this.inbound.length < 9 + length) break;
      const frame: ReceivedFrame = { type: this.inbound[3] as number, flags: this.inbound[4] as number, streamId: this.inbound.readUInt32BE(5) & 0x7fffffff, payload: this.inbound.subarray(9, 9 + length) };
      this.inbound = this.inbound.subarray(9 + length);
      this.onFrame(frame);
    }
  }

  private onFrame(f: ReceivedFrame): void {
    switch (f.type) {
      case FrameType.SETTINGS:
        if ((f.flags & Flag.ACK) === 0) {
          for (let i = 0; i + 6 <= f.payload.length; i += 6) {
            // SETTINGS_INITIAL_WINDOW_SIZE (0x4) changes every stream's window by the difference (RFC 9113 §6.9.2).
            if (f.payload.readUInt16BE(i) === 0x4) {
              const next = f.payload.readUInt32BE(i + 2);
              const delta = next - this.initialStreamWindow;
              this.initialStreamWindow = next;
              for (const [id, w] of this.streamWindows) this.streamWindows.set(id, w + delta);
            }
          }
          this.frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0));
          this.serverSettingsSeen = true;
          this.wake();
        }
        break;
      case FrameType.PING:
        if ((f.flags & Flag.ACK) === 0) this.frame(FrameType.PING, Flag.ACK, 0, f.payload);
        break;
      case FrameType.WINDOW_UPDATE: {
        const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
        if (f.streamId === 0) this.sendWindow += inc;
        else this.streamWindows.set(f.streamId, (this.streamWindows.get(f.streamId) ?? this.initialStreamWindow) + inc);
        this.wake();
        break;
      }
      case FrameType.GOAWAY:
        this.goaways.push(f.payload.length >= 8 ? f.payload.readUInt32BE(4) : -1);
        break;
      case FrameType.RST_STREAM:
        this.resets.set(f.streamId, f.payload.readUInt32BE(0));
        this.wake();
        break;
      case FrameType.HEADERS:
      case FrameType.DATA:
        if ((f.flags & Flag.END_STREAM) !== 0) this.ended.add(f.streamId);
        break;
      default:
        break;
    }
  }

  private wake(): void {
    for (const w of this.windowWaiters.splice(0)) w();
  }
}

/**
 * Keeps the ext_authz port's HTTP/2 connections honest: every connection is
 * closed (GOAWAY, then cut after a grace) when idle or too old, pinged when
 * silent and cut when the ping goes unanswered, and sent GOAWAY
 * ENHANCE_YOUR_CALM when it pings too often. Apart from a new connection's
 * handshake timer, one coarse timer, once a second, does it all for every
 * connection, so a call pays for none of it.
 *
 * Broken connections must not fill the connection cap, so they go in
 * seconds: one that has not sent its preface and SETTINGS within the
 * handshake limit is cut by its own timer; above the pressure mark silent
 * connections are pinged after a second and cut when they do not answer; a
 * connection that earns too many stream refusals is sent GOAWAY
 * ENHANCE_YOUR_CALM and cut at once (so is one that pings too often). A
 * protocol error (DATA inside a header block, a frame over the size limit)
 * makes node:http2 destroy the session itself.
 */
import http2, { type Http2Session } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { SessionCloseReason, TransportEvents, TransportLimits } from './transport-limits.js';

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;
export const SWEEP_MS = 1000;

/** What the transport tracks per connection. */
export class SessionInfo {
  /** Request bytes reserved by this connection's messages still arriving. */
  buffered = 0;
  /** Relayed streams open on this connection. */
  relayed = 0;
  lastStreamAt: number;
  quietSince: number;
  lastBytesRead = 0;
  pingSentAt = 0;
  closingAt = 0;
  reason: SessionCloseReason = 'peer';
  lastPingAt = 0;
  pingStrikes = 0;
  /** Streams refused for this connection's own faults. */
  streamErrors = 0;
  /** Answers written whose stream has not closed: their DATA may be waiting for the client's flow-control window. */
  unread = 0;
  /** Answered streams closed so far; unchanged across sweeps while `unread` > 0 means the client takes none. */
  answersClosed = 0;
  answersClosedSeen = 0;
  /** When the sweep first saw answers waiting and none taken; 0 otherwise. */
  stuckSince = 0;
  handshakeTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly session: Http2Session,
    readonly openedAt: number,
  ) {
    this.lastStreamAt = openedAt;
    this.quietSince = openedAt;
  }
}

export class SessionKeeper {
  /** Milliseconds (performance.now), moved on by the sweep: a per-call clock read costs more than it tells. */
  now = performance.now();
  readonly sessions = new Map<Http2Session, SessionInfo>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limits: TransportLimits,
    private readonly events: TransportEvents | undefined,
    /** Called on every sweep, after the sessions, with the current time. */
    private readonly onSweep: (now: number) => void,
  ) {}

  add(session: Http2Session): SessionInfo {
    const info = new SessionInfo(session, this.now);
    this.sessions.set(session, info);
    this.events?.sessionOpened();
    // A peer that resets or vanishes mid-stream is not the server's failure.
    session.on('error', () => {
      if (info.reason === 'peer') info.reason = 'error';
    });
    session.on('ping', () => this.onPing(info));
    info.handshakeTimer = setTimeout(() => this.destroy(info, 'handshake_timeout'), this.limits.handshakeTimeoutMs).unref();
    session.once('remoteSettings', () => clearTimeout(info.handshakeTimer));
    session.once('close', () => {
      clearTimeout(info.handshakeTimer);
      this.sessions.delete(session);
      this.events?.sessionClosed(info.reason);
    });
    this.timer ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return info;
  }

  /** Sends GOAWAY and lets streams in flight finish; cut after the close grace. */
  close(info: SessionInfo, reason: SessionCloseReason): void {
    if (info.closingAt !== 0 || info.session.destroyed) return;
    info.reason = reason;
    info.closingAt = this.now;
    info.session.close();
  }

  destroy(info: SessionInfo, reason: SessionCloseReason, code?: number): void {
    if (info.session.destroyed) return;
    info.reason = reason;
    // destroy(undefined, code) would send NO_ERROR (Node reads the defaulted first argument as the code), hence an error with it.
    if (code === undefined) info.session.destroy();
    else info.session.destroy(new Error(`connection cut: ${reason}`), code);
  }

  /** Counts a stream refused for the connection's own fault; past the limit the connection goes. */
  streamError(info: SessionInfo): void {
    if (++info.streamErrors >= this.limits.maxStreamErrorsPerConnection) this.cut(info, 'stream_errors', 'too_many_stream_errors');
  }

  /**
   * GOAWAY ENHANCE_YOUR_CALM with `debug` (grpc clients read "too_many_pings"
   * to slow their keepalive), and the session destroyed at once with the same
   * code: frames already read in the same socket read cost nothing more.
   */
  private cut(info: SessionInfo, reason: SessionCloseReason, debug: string): void {
    const session = info.session;
    if (session.destroyed) return;
    try {
      session.goaway(NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from(debug));
    } catch {
      // The session is already closing: the destroy below is all that is left.
    }
    this.destroy(info, reason, NGHTTP2_ENHANCE_YOUR_CALM);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** grpc-go's keepalive enforcement: pings closer than the minimum interval with no stream between them are strikes. */
  private onPing(info: SessionInfo): void {
    const now = this.now;
    if (info.lastPingAt !== 0 && now - info.lastPingAt < this.limits.minClientPingIntervalMs && info.lastStreamAt <= info.lastPingAt) {
      if (++info.pingStrikes > this.limits.maxPingStrikes) {
        // GOAWAY ENHANCE_YOUR_CALM ("too_many_pings" in grpc-go), then the connection goes.
        this.cut(info, 'ping_abuse', 'too_many_pings');
        return;
      }
    } else if (info.lastStreamAt > info.lastPingAt) info.pingStrikes = 0;
    info.lastPingAt = now;
  }

  sweep(): void {
    const now = (this.now = performance.now());
    const l = this.limits;
    const pressed = this.sessions.size > l.pressureConnections;
    const keepaliveTimeMs = pressed ? Math.min(l.pressureKeepaliveMs, l.keepaliveTimeMs) : l.keepaliveTimeMs;
    const keepaliveTimeoutMs = pressed ? Math.min(l.pressureKeepaliveMs, l.keepaliveTimeoutMs) : l.keepaliveTimeoutMs;
    for (const info of this.sessions.values()) {
      const session = info.session;
      if (session.destroyed) continue;
      const read = session.socket?.bytesRead ?? 0;
      if (read !== info.lastBytesRead) {
        info.lastBytesRead = read;
        info.quietSince = now;
      }
      if (info.closingAt !== 0) {
        if (now - info.closingAt >= l.closeGraceMs) this.destroy(info, 'close_grace');
        continue;
      }
      if (info.pingSentAt !== 0 && now - info.pingSentAt >= keepaliveTimeoutMs) {
        this.destroy(info, 'keepalive_timeout');
        continue;
      }
      if (info.unread > 0 && info.answersClosed === info.answersClosedSeen) {
        if (info.stuckSince === 0) info.stuckSince = now;
        else if (now - info.stuckSince >= l.responseDeliveryMs) {
          this.cut(info, 'not_reading', 'answers_not_read');
          continue;
        }
      } else {
        info.answersClosedSeen = info.answersClosed;
        info.stuckSince = 0;
      }
      if (now - info.openedAt >= l.maxConnectionAgeMs) this.close(info, 'max_age');
      else if (now - info.lastStreamAt >= l.maxConnectionIdleMs) this.close(info, 'idle');
      else if (info.pingSentAt === 0 && now - info.quietSince >= keepaliveTimeMs) this.ping(info);
    }
    this.onSweep(now);
  }

  private ping(info: SessionInfo): void {
    info.pingSentAt = this.now;
    try {
      const sent = info.session.ping((err) => {
        // An answered ping clears the mark; a cancelled one (session gone) needs nothing.
        if (!err) {
          info.pingSentAt = 0;
          info.quietSince = this.now;
        }
      });
      if (!sent) this.destroy(info, 'keepalive_timeout');
    } catch {
      this.destroy(info, 'keepalive_timeout');
    }
  }
}

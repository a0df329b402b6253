import { CONFIG_DEFAULTS } from '../config/defaults.js';

/**
 * Every limit of the ext_authz port, with the default each is anchored to.
 * docs/authz-transport.md tells the same story for operators; keep the two
 * in step. The anchors are grpc-go's server defaults (internal/transport,
 * keepalive, server.go) and Envoy's HTTP/2 and connection-manager defaults:
 * where bouncer departs from them it is because Envoy is the only expected
 * client and a CheckRequest is a few kilobytes. Operators set them under
 * `authz.limits` (snake_case: max_message_bytes, keepalive_time_ms, ...).
 */
export interface TransportLimits {
  /**
   * Largest request message, enforced from the 5-byte prefix before any of
   * the message is read. grpc-go: 4 MiB (defaultServerMaxReceiveMessageSize).
   * A CheckRequest carries headers and a certificate chain, a few KiB; 1 MiB
   * leaves room for the largest chains and header sets Envoy forwards.
   */
  readonly maxMessageBytes: number;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS per connection. grpc-go and Envoy default
   * to no limit (2^32-1, 2^31-1); Envoy's own circuit breaker stops at 1,024
   * pending requests per cluster, so 1,000 never holds Envoy back.
   */
  readonly maxConcurrentStreams: number;
  /**
   * Request bytes one connection may hold in messages still arriving. Each
   * message reserves its declared length when its prefix arrives. Envoy's
   * per-stream buffer limit is 1 MiB (per_connection_buffer_limit_bytes);
   * 16 MiB is sixteen largest messages or thousands of ordinary checks at once.
   */
  readonly maxBufferedBytesPerConnection: number;
  /** The same across every connection: what abuse can cost the process at most. */
  readonly maxBufferedBytesTotal: number;
  /**
   * A stream must deliver its whole message within this time of its headers,
   * or it is answered DEADLINE_EXCEEDED and reset. Envoy's ext_authz timeout
   * is 200 ms by default; no honest client takes seconds to send a few KiB.
   */
  readonly messageDeliveryMs: number;
  /**
   * A connection holding answers it does not take (its flow-control window
   * kept at zero, so the answers' DATA cannot be sent) and taking none of
   * them for this long is sent GOAWAY ENHANCE_YOUR_CALM and cut: each such
   * answer holds its stream and memory until it is read. Envoy's
   * stream_idle_timeout (5 min) ends a stream blocked on flow control too;
   * Envoy reads its ext_authz answers at once, so seconds are plenty.
   */
  readonly responseDeliveryMs: number;
  /**
   * Relayed streams (health Watch, reflection) one connection may have open;
   * beyond it a stream is refused RESOURCE_EXHAUSTED. Health Check is served
   * on the transport itself and is never subject to this.
   */
  readonly maxRelayedStreamsPerConnection: number;
  /** The same across every connection; kept below grpc-js's own stream limit so the relay session never fills. */
  readonly maxRelayedStreamsTotal: number;
  /**
   * A connection that opens no stream for this long is sent GOAWAY. grpc-go:
   * MaxConnectionIdle infinite; Envoy: idle_timeout 1 h. Envoy reopens a
   * connection in one round trip, so 5 minutes costs nothing.
   */
  readonly maxConnectionIdleMs: number;
  /**
   * A connection older than this is sent GOAWAY, so clients spread over new
   * replicas (fleet.md). grpc-go: MaxConnectionAge infinite (the usual
   * recommendation is minutes); Envoy: max_connection_duration unset.
   */
  readonly maxConnectionAgeMs: number;
  /**
   * After GOAWAY, how long streams in flight may finish before the connection
   * is cut. grpc-go: MaxConnectionAgeGrace infinite; a check lasts
   * milliseconds, and a Watch stream simply reconnects.
   */
  readonly closeGraceMs: number;
  /**
   * A connection silent (no bytes read) this long is pinged; grpc-go's server
   * keepalive Time is 2 h. A short period is what finds connections that
   * node:http2 stopped reading after a protocol error (it answers GOAWAY, then
   * neither reads nor closes), and peers that vanished without a FIN.
   */
  readonly keepaliveTimeMs: number;
  /** An unanswered ping older than this cuts the connection. grpc-go: 20 s. */
  readonly keepaliveTimeoutMs: number;
  /**
   * A client pinging more often than this without opening streams earns a
   * strike; more than {@link maxPingStrikes} strikes and it is sent GOAWAY
   * ENHANCE_YOUR_CALM. grpc-go's enforcement: MinTime 5 min, 2 strikes. Lower
   * here because Envoy's connection_keepalive is often set to tens of seconds.
   */
  readonly minClientPingIntervalMs: number;
  readonly maxPingStrikes: number;
  /** Connections accepted at once; a new one past it is closed at accept. No default in grpc-go or Envoy. */
  readonly maxConnections: number;
  /**
   * Connections one source (remote address; IPv6 by {@link sourceIpv6PrefixBits})
   * may hold open; a new one past it is closed at accept, before any HTTP/2
   * work, so one hostile source cannot fill {@link maxConnections} and have
   * Envoy's own connections refused. Neither grpc-go nor Envoy's overload
   * manager has a per-source limit. Envoy opens about one connection per
   * worker per cluster; the default leaves room for a node of sidecars
   * behind one NAT address (source-limits.ts).
   */
  readonly maxConnectionsPerSource: number;
  /** IPv6 sources are counted by this many leading bits (a host commonly holds a /64). */
  readonly sourceIpv6PrefixBits: number;
  /** Addresses or CIDR ranges, as validated by the config loader, that {@link maxConnectionsPerSource} does not apply to. */
  readonly trustedSources: readonly string[];
  /**
   * A new connection must deliver the HTTP/2 preface and its SETTINGS within
   * this time or it is cut. grpc-go: ConnectionTimeout 120 s (which also
   * covers a TLS handshake; this port is cleartext). Envoy sends both at
   * once, so a connection still silent after a few seconds is broken or
   * hostile, and each one holds a descriptor toward the connection cap.
   */
  readonly handshakeTimeoutMs: number;
  /**
   * Above this many open connections the port is under pressure: a silent
   * connection is pinged after {@link pressureKeepaliveMs} instead of
   * {@link keepaliveTimeMs}, and cut when that ping goes unanswered for as
   * long, so connections that stopped answering are reaped in seconds and
   * cannot fill {@link maxConnections}. Envoy's overload manager does the
   * same with its reduce_timeouts action (unset by default).
   */
  readonly pressureConnections: number;
  readonly pressureKeepaliveMs: number;
  /**
   * Streams one connection may have refused for faults of its own (a
   * message over the limit, a malformed body, a message not delivered in
   * time, its own relay or buffer limit) before it is sent GOAWAY
   * ENHANCE_YOUR_CALM and cut, so an abusive connection stops costing work
   * at once. Envoy closes a connection once more than half of at least 500
   * streams were reset prematurely (overload.premature_reset_total_stream_count);
   * Envoy as a client never earns one of these refusals, so the count is lower.
   */
  readonly maxStreamErrorsPerConnection: number;
  /**
   * node:http2's maxSessionMemory, in MB: what nghttp2 may hold for one
   * connection (header tables, queued frames) before refusing new streams
   * with ENHANCE_YOUR_CALM. Node's default 10 MB trips under a burst of a
   * thousand answers queued on one connection.
   */
  readonly maxSessionMemoryMb: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. Envoy: 60 KiB (max_request_headers_kb); grpc-go 16 MiB. */
  readonly maxHeaderListBytes: number;
}

/** The defaults live with every other default (CONFIG_DEFAULTS.authz.limits); `authz.limits` in the config file overrides them. */
export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = Object.freeze({ ...CONFIG_DEFAULTS.authz.limits });

/** Why the transport let a connection go; the `reason` label of bouncer_authz_sessions_closed_total. */
export type SessionCloseReason = 'peer' | 'idle' | 'max_age' | 'keepalive_timeout' | 'handshake_timeout' | 'ping_abuse' | 'stream_errors' | 'not_reading' | 'close_grace' | 'error' | 'shutdown';

/** Why a stream was refused before its method ran; the `reason` label of bouncer_authz_streams_refused_total. */
export type StreamRefusal = 'message_too_large' | 'buffer_budget' | 'delivery_timeout' | 'deadline_exceeded' | 'relay_limit' | 'malformed';

/** What the transport reports; wired to Prometheus by the server. */
export interface TransportEvents {
  sessionOpened(): void;
  sessionClosed(reason: SessionCloseReason): void;
  streamRefused(reason: StreamRefusal): void;
  /**
   * A connection closed at accept: {@link TransportLimits.maxConnections} were
   * open (`max_connections`), or its source held
   * {@link TransportLimits.maxConnectionsPerSource} (`per_source`). `source`
   * is the source as counted (an IPv4 address, or an IPv6 prefix), for logs
   * only: never a metric label, whose values must stay few.
   */
  connectionDropped(reason: ConnectionRefusal, source: string | undefined): void;
}

/** Why a connection was closed at accept; the `reason` label of bouncer_authz_connections_dropped_total. */
export type ConnectionRefusal = 'max_connections' | 'per_source';

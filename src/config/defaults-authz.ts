/**
 * Defaults of the ext_authz port and of the `bouncer serve` process that runs it:
 * the transport's limits (`authz.limits`) with the ranges the config accepts, and
 * the V8 and glibc settings `serve` starts with. Re-exported by defaults.ts, the one
 * place callers import defaults from. Each limit's anchor in grpc-go's and Envoy's
 * server defaults is documented on TransportLimits (src/authz/transport-limits.ts)
 * and in docs/authz-transport.md.
 */

/** `authz.limits` when the config file does not set them. */
export const AUTHZ_LIMIT_DEFAULTS = {
  /** grpc-go 4 MiB; a CheckRequest is a few KiB. Refused from the 5-byte prefix. */
  maxMessageBytes: 1024 * 1024,
  /** grpc-go and Envoy: unlimited; Envoy's circuit breaker stops at 1,024 pending. */
  maxConcurrentStreams: 1000,
  /** Envoy: 1 MiB per stream buffer; sixteen largest messages. */
  maxBufferedBytesPerConnection: 16 * 1024 * 1024,
  /** What abuse can cost the process in request bytes at most. */
  maxBufferedBytesTotal: 64 * 1024 * 1024,
  /** Envoy's ext_authz timeout is 200 ms; no honest client needs seconds. */
  messageDeliveryMs: 5_000,
  /** Envoy's stream_idle_timeout (5 min) also ends a stream stuck on flow control; an answer is a few KiB. */
  responseDeliveryMs: 5_000,
  /** Health Watch and reflection streams; Check and health Check never count. */
  maxRelayedStreamsPerConnection: 16,
  /** Below grpc-js's own 1,000 streams on the one relay session. */
  maxRelayedStreamsTotal: 256,
  /** grpc-go infinite, Envoy 1 h; Envoy reconnects in one round trip. */
  maxConnectionIdleMs: 5 * 60_000,
  /** grpc-go and Envoy unset; clients spread over new replicas. */
  maxConnectionAgeMs: 30 * 60_000,
  /** grpc-go infinite, Envoy's drain 5 s; a check lasts milliseconds. */
  closeGraceMs: 10_000,
  /** grpc-go 2 h; short so dead peers and stalled connections are found. */
  keepaliveTimeMs: 10_000,
  /** grpc-go 20 s. */
  keepaliveTimeoutMs: 10_000,
  /** grpc-go 5 min; Envoy's connection_keepalive is often tens of seconds. */
  minClientPingIntervalMs: 10_000,
  /** grpc-go: 2. */
  maxPingStrikes: 2,
  /** No default in grpc-go or Envoy; keeps descriptors for Envoy's own connections. */
  maxConnections: 4096,
  /**
   * An eighth of maxConnections per remote address, so one hostile source
   * (a compromised pod) cannot fill the cap: eight would be needed. Envoy
   * opens about one connection per worker per cluster, so even a node's
   * worth of sidecars behind one NAT address (110 pods, 2 workers each,
   * doubled while max_age replaces them) stays under it. Neither grpc-go nor
   * Envoy's overload manager has a per-source limit.
   */
  maxConnectionsPerSource: 512,
  /**
   * IPv6 sources are counted by this prefix: a host commonly holds a whole
   * /64 (SLAAC, delegated prefixes) and could otherwise open each
   * connection from a new address of it.
   */
  sourceIpv6PrefixBits: 64,
  /**
   * The host itself: with the default loopback listen the only client is the co-located
   * Envoy, and a process on the same host has worse to do than open connections.
   */
  trustedSources: ['127.0.0.1', '::1'] as readonly string[],
  /** grpc-go's ConnectionTimeout is 120 s (with TLS); Envoy sends preface and SETTINGS at once. */
  handshakeTimeoutMs: 3_000,
  /** A quarter of maxConnections: past it, silent connections are pinged every second. */
  pressureConnections: 1024,
  /** Keepalive time and timeout under pressure (Envoy's overload reduce_timeouts). */
  pressureKeepaliveMs: 1_000,
  /** Envoy cuts at half of 500 streams reset prematurely; Envoy never earns these. */
  maxStreamErrorsPerConnection: 64,
  /** node:http2 maxSessionMemory; Node's 10 MB trips under a burst of queued answers. */
  maxSessionMemoryMb: 64,
  /** Envoy 60 KiB (max_request_headers_kb), grpc-go 16 MiB. */
  maxHeaderListBytes: 64 * 1024,
};

/**
 * What `authz.limits` accepts: wide enough for any deployment, narrow enough
 * that a typo (a seconds value written as milliseconds, a missing unit)
 * cannot switch a protection off or make the port unusable.
 */
export const AUTHZ_LIMIT_RANGES = {
  maxMessageBytes: { min: 1024, max: 64 * 1024 * 1024 },
  maxConcurrentStreams: { min: 1, max: 2_147_483_647 },
  maxBufferedBytesPerConnection: { min: 1024, max: 1024 * 1024 * 1024 },
  maxBufferedBytesTotal: { min: 1024, max: 16 * 1024 * 1024 * 1024 },
  messageDeliveryMs: { min: 100, max: 600_000 },
  responseDeliveryMs: { min: 100, max: 600_000 },
  maxRelayedStreamsPerConnection: { min: 1, max: 900 },
  maxRelayedStreamsTotal: { min: 1, max: 900 },
  maxConnectionIdleMs: { min: 1_000, max: 86_400_000 },
  maxConnectionAgeMs: { min: 1_000, max: 7 * 86_400_000 },
  closeGraceMs: { min: 0, max: 600_000 },
  keepaliveTimeMs: { min: 1_000, max: 7_200_000 },
  keepaliveTimeoutMs: { min: 100, max: 600_000 },
  minClientPingIntervalMs: { min: 0, max: 7_200_000 },
  maxPingStrikes: { min: 0, max: 1_000 },
  maxConnections: { min: 1, max: 1_000_000 },
  maxConnectionsPerSource: { min: 1, max: 1_000_000 },
  /** Shorter than /32 lumps whole providers together; /128 counts each address. */
  sourceIpv6PrefixBits: { min: 32, max: 128 },
  handshakeTimeoutMs: { min: 100, max: 120_000 },
  pressureConnections: { min: 1, max: 1_000_000 },
  pressureKeepaliveMs: { min: 100, max: 600_000 },
  maxStreamErrorsPerConnection: { min: 1, max: 1_000_000 },
  maxSessionMemoryMb: { min: 1, max: 4_096 },
  maxHeaderListBytes: { min: 1024, max: 16 * 1024 * 1024 },
};

/**
 * V8's young generation for `bouncer serve`, in MiB per semi-space. Left to
 * itself V8 grows the young generation up to 32 MiB per semi-space when a
 * burst keeps many objects alive (hostile clients holding thousands of
 * streams) and shrinks it back only when the process goes idle, which a
 * replica under steady Envoy traffic never does: RSS stayed ~140 MiB above
 * its baseline after a few minutes of abuse. 16 MiB keeps the warm path's
 * tail where it was (BENCHMARKS.md) and what stays after abuse at about half;
 * docs/authz-transport.md has the measurements.
 */
export const SERVE_SEMI_SPACE_MIB = 16;

/**
 * How far V8 lets `bouncer serve`'s old generation grow past what the last
 * full collection left live before it collects again: 50 %. Left to itself
 * V8 picks a factor of up to 4 from its own GC and mutator speeds, and under
 * steady checks (600 a second, no abuse) the old generation filled with
 * garbage from 35 to 150 MiB before the first full collection, RSS from 157
 * to 309 MiB; Node's HTTP/2 stream objects are promoted and their native
 * memory (glibc's `[heap]`, 9 to 30 MiB) is freed only when they are
 * collected. With 50 % RSS stayed at 164–177 MiB with a full collection
 * every 10–15 s (docs/authz-transport.md, "Memory after abuse").
 */
export const SERVE_HEAP_GROWING_PERCENT = 50;

/**
 * glibc's mmap threshold for `bouncer serve` (MALLOC_MMAP_THRESHOLD_), in
 * bytes: 128 KiB, glibc's own starting value, but fixed. glibc raises the
 * threshold by itself each time a mapped block is freed, so after the first
 * freed ~1 MiB message buffer every later one came from the main arena
 * (`[heap]`), where freed space between live allocations stays resident.
 * Fixed, such blocks are mapped and unmapped on their own. In two pairs of
 * 2-minute soaks `[heap]` kept 41 against 53 MiB and 34 against 55 MiB after
 * the abuse (BENCHMARKS.md, "Soak"). Ignored where the C library is not
 * glibc.
 */
export const SERVE_MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024;

/**
 * When the ext_authz process asks V8 for one full garbage collection after
 * an abuse episode (src/authz/memory-reclaim.ts). After the abuse V8 has
 * raised its old generation's limit to what the episode needed and lets
 * garbage pile up to it (measured: old space 39 MiB used at the baseline,
 * 135 MiB a minute after a soak's abuse under legitimate load alone, 30 MiB
 * of it live), and it shrinks only when allocation quiets, which a replica
 * under steady traffic never does. An episode is a port holding at least an
 * eighth of the process's buffered-bytes budget or 256 connections (Envoy
 * holds a few per worker); it is over once both have stayed below for 5 s.
 * One collection per 30 s at most: it stops the main thread (50–224 ms in
 * the abuse test on the shared two-core host); `bouncer serve` runs with --expose-gc
 * for it (src/cli/bin.ts), and without that flag nothing is collected.
 */
export const AUTHZ_MEMORY_RECLAIM = {
  /** Of `authz.limits.max_buffered_bytes_total` (64 MiB by default: 8 MiB). */
  pressureBufferedShare: 1 / 8,
  pressureSessions: 256,
  /** Envoy keeps a handful of checks in flight per connection; thousands held open are abuse. */
  pressureStreams: 2_000,
  quietMs: 5_000,
  minIntervalMs: 30_000,
  checkEveryMs: 1_000,
} as const;

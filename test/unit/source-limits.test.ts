/**
 * Connections per source on the ext_authz port: how a remote address is
 * counted (IPv4, IPv4-mapped IPv6, IPv6 by prefix), the count kept and freed,
 * trusted sources, the config's checks, the rate-limited log, and real
 * sockets from 127.0.0.2 against both transports while 127.0.0.1 is served.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { pino } from 'pino';
import { GrpcTransport, listenWithFallback } from '../../src/authz/grpc-transport.js';
import { createHealthCheckMethod } from '../../src/authz/health-check.js';
import { RefusalLog } from '../../src/authz/refusal-log.js';
import { createAuthzServer, type AuthzState } from '../../src/authz/server.js';
import { SourceLimiter, sourceKey } from '../../src/authz/source-limits.js';
import type { ConnectionRefusal, TransportEvents } from '../../src/authz/transport-limits.js';
import { CONFIG_DEFAULTS } from '../../src/config/defaults.js';
import { loadConfig } from '../../src/config/load.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import { BouncerError, ConfigError } from '../../src/core/errors.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { authzClient, checkRequest, healthCheckFrom } from '../helpers/grpc-client.js';

describe('sourceKey', () => {
  test.each([
    ['127.0.0.2', 64, '127.0.0.2'],
    ['::ffff:127.0.0.2', 64, '127.0.0.2'],
    ['::FFFF:7f00:2', 64, '127.0.0.2'],
    ['10.1.2.3', 128, '10.1.2.3'],
    ['2001:db8::1', 64, '2001:db8:0:0:0:0:0:0/64'],
    ['2001:db8::ffff:ffff:ffff:1', 64, '2001:db8:0:0:0:0:0:0/64'],
    ['2001:db8:0:1::1', 64, '2001:db8:0:1:0:0:0:0/64'],
    ['2001:db8:aa:bbcc::1', 48, '2001:db8:aa:0:0:0:0:0/48'],
    ['2001:db8::1', 128, '2001:db8:0:0:0:0:0:1'],
    ['fe80::1%eth0', 64, 'fe80:0:0:0:0:0:0:0/64'],
    ['::1', 64, '0:0:0:0:0:0:0:0/64'],
    ['not an address', 64, 'not an address'],
  ])('%s by /%d is %s', (address, bits, key) => {
    expect(sourceKey(address, bits)).toBe(key);
  });
});

describe('SourceLimiter', () => {
  test('a source past its limit is refused, others are not; a closed connection makes room', () => {
    const limiter = new SourceLimiter(2, 64);
    expect(limiter.admit('10.0.0.1')).toEqual({ admitted: true, key: '10.0.0.1' });
    expect(limiter.admit('::ffff:10.0.0.1')).toEqual({ admitted: true, key: '10.0.0.1' });
    expect(limiter.admit('10.0.0.1')).toEqual({ admitted: false, key: '10.0.0.1' });
    expect(limiter.admit('10.0.0.2')).toEqual({ admitted: true, key: '10.0.0.2' });
    // Two addresses of one /64 are one source; another /64 is not.
    expect(limiter.admit('2001:db8::1').admitted).toBe(true);
    expect(limiter.admit('2001:db8::2').admitted).toBe(true);
    expect(limiter.admit('2001:db8::3')).toEqual({ admitted: false, key: '2001:db8:0:0:0:0:0:0/64' });
    expect(limiter.admit('2001:db8:0:1::3').admitted).toBe(true);
    limiter.release('10.0.0.1');
    expect(limiter.connections('10.0.0.1')).toBe(1);
    expect(limiter.admit('10.0.0.1').admitted).toBe(true);
    expect(limiter.admit('10.0.0.1').admitted).toBe(false);
  });

  test('a source is forgotten with its last connection, so the bookkeeping never outgrows the open connections', () => {
    const limiter = new SourceLimiter(4, 64);
    const keys: string[] = [];
    for (let i = 0; i < 10_000; i++) {
      const a = limiter.admit(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
      if (!a.admitted || a.key === undefined) throw new Error('expected to be admitted and counted');
      keys.push(a.key);
    }
    expect(limiter.sources).toBe(10_000);
    for (const key of keys) limiter.release(key);
    expect(limiter.sources).toBe(0);
    // Releasing what is not held (twice, or never admitted) changes nothing.
    limiter.release('10.0.0.0');
    limiter.release('192.0.2.1');
    expect(limiter.sources).toBe(0);
    expect(limiter.admit('10.0.0.0')).toEqual({ admitted: true, key: '10.0.0.0' });
    expect(limiter.connections('10.0.0.0')).toBe(1);
  });

  test('trusted sources are never counted nor refused; mapped addresses match IPv4 ranges', () => {
    const limiter = new SourceLimiter(1, 64, ['10.8.0.0/24', 'fd00:8::/64', '192.0.2.7']);
    for (let i = 0; i < 5; i++) {
      expect(limiter.admit('10.8.0.9')).toEqual({ admitted: true, key: undefined });
      expect(limiter.admit('::ffff:10.8.0.200')).toEqual({ admitted: true, key: undefined });
      expect(limiter.admit('fd00:8::1234')).toEqual({ admitted: true, key: undefined });
      expect(limiter.admit('192.0.2.7')).toEqual({ admitted: true, key: undefined });
    }
    expect(limiter.sources).toBe(0);
    expect(limiter.admit('10.8.1.9').admitted).toBe(true);
    expect(limiter.admit('10.8.1.9').admitted).toBe(false);
    expect(limiter.admit('192.0.2.8').admitted).toBe(true);
    expect(limiter.admit('192.0.2.8').admitted).toBe(false);
  });

  test('a trusted source that is not a range is refused with the config error', () => {
    expect(() => new SourceLimiter(1, 64, ['10.0.0.1/8'])).toThrow(BouncerError);
    expect(() => new SourceLimiter(1, 64, ['10.0.0.1/8'])).toThrow(/trusted_sources: "10\.0\.0\.1\/8" has bits set after the prefix; did you mean "10\.0\.0\.0\/8"\?/);
  });
});

describe('config', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-source-limits-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function load(lines: string[]): ReturnType<typeof loadConfig> {
    const path = join(dir, 'bouncer.yaml');
    writeFileSync(path, [...lines, 'tenants: []', ''].join('\n'));
    return loadConfig(path, {});
  }
  async function issues(lines: string[]): Promise<Array<{ line: number | undefined; field: string; message: string }>> {
    const err = await load(lines).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
    return err.issues.map((i) => ({ line: i.line, field: i.field, message: i.message }));
  }

  test('defaults: 512 per source, IPv6 by /64, only the host itself trusted', async () => {
    const config = await load([]);
    expect(config.authz.limits).toMatchObject({ maxConnectionsPerSource: 512, sourceIpv6PrefixBits: 64, trustedSources: ['127.0.0.1', '::1'] });
    expect(CONFIG_DEFAULTS.authz.limits.maxConnectionsPerSource).toBeLessThanOrEqual(CONFIG_DEFAULTS.authz.limits.maxConnections);
  });

  test('a max_connections below the per-source default, with no per-source limit written, takes it down with it', async () => {
    const config = await load(['authz:', '  limits:', '    max_connections: 100']);
    expect(config.authz.limits).toMatchObject({ maxConnections: 100, maxConnectionsPerSource: 100 });
  });

  test('written values are read', async () => {
    const config = await load(['authz:', '  limits:', '    max_connections_per_source: 64', '    source_ipv6_prefix_bits: 56', '    trusted_sources: [10.8.0.0/24, "fd00:8::/64", 192.0.2.7]']);
    expect(config.authz.limits).toMatchObject({ maxConnectionsPerSource: 64, sourceIpv6PrefixBits: 56, trustedSources: ['10.8.0.0/24', 'fd00:8::/64', '192.0.2.7'] });
  });

  test('out of range, above max_connections, and trusted sources that are not ranges: each named with its place', async () => {
    expect(
      await issues([
        'authz:',
        '  limits:',
        '    max_connections_per_source: 0',
        '    source_ipv6_prefix_bits: 16',
        '    trusted_sources:',
        '      - 10.0.0.1/8',
        '      - 10.0.0.0/33',
        '      - envoy.internal',
        '      - 0.0.0.0/0',
        '      - 42',
        '      - "::/0"',
      ]),
    ).toEqual([
      { line: 3, field: 'authz.limits.max_connections_per_source', message: 'max_connections_per_source must be a whole number from 1 to 1,000,000; got 0' },
      { line: 4, field: 'authz.limits.source_ipv6_prefix_bits', message: 'source_ipv6_prefix_bits must be a whole number from 32 to 128; got 16' },
      { line: 6, field: 'authz.limits.trusted_sources[0]', message: '"10.0.0.1/8" has bits set after the prefix; did you mean "10.0.0.0/8"?; expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8' },
      { line: 7, field: 'authz.limits.trusted_sources[1]', message: '"10.0.0.0/33": prefix length must be a number from 0 to 32; expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8' },
      { line: 8, field: 'authz.limits.trusted_sources[2]', message: '"envoy.internal" is not a valid IPv4 address or range; expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8' },
      { line: 9, field: 'authz.limits.trusted_sources[3]', message: '"0.0.0.0/0" would exempt every IPv4 source from max_connections_per_source; to turn the limit off, set it to max_connections instead' },
      { line: 10, field: 'authz.limits.trusted_sources[4]', message: "trusted_sources must be a string; got the number 42" },
      { line: 11, field: 'authz.limits.trusted_sources[5]', message: '"::/0" would exempt every IPv6 source from max_connections_per_source; to turn the limit off, set it to max_connections instead' },
    ]);
    expect(await issues(['authz:', '  limits:', '    max_connections: 100', '    max_connections_per_source: 200'])).toEqual([
      { line: 4, field: 'authz.limits.max_connections_per_source', message: 'max_connections_per_source (200) must not exceed max_connections (100): no source could ever reach its own limit' },
    ]);
    expect(await issues(['authz:', '  limits:', '    trusted_sources: 10.0.0.0/8'])).toEqual([
      { line: 3, field: 'authz.limits.trusted_sources', message: "trusted_sources must be a list; got the string '10.0.0.0/8'" },
    ]);
    const many = Array.from({ length: 257 }, (_v, i) => `10.${i >> 8}.${i & 255}.0/24`).join(', ');
    expect(await issues(['authz:', '  limits:', `    trusted_sources: [${many}]`])).toEqual([
      { line: 3, field: 'authz.limits.trusted_sources', message: 'trusted_sources lists 257 ranges; at most 256 are accepted (write the Envoy fleet as a few CIDR ranges)' },
    ]);
  });
});

describe('RefusalLog', () => {
  test('one line at once, one summary per interval with the most refused sources, then quiet until the next refusal', async () => {
    type Line = { msg: string; reason?: string; source?: string; limit?: number; refused?: Record<string, number>; sources?: Record<string, number>; refusedFromOtherSources?: number };
    const lines: Line[] = [];
    const logger = pino({ base: null, timestamp: false }, { write: (line: string) => void lines.push(JSON.parse(line) as Line) });
    const log = new RefusalLog(logger, { maxConnections: 100, maxConnectionsPerSource: 10 }, 100);
    log.note('per_source', '10.0.0.1');
    for (let i = 0; i < 1000; i++) log.note(i % 10 === 0 ? 'max_connections' : 'per_source', `10.0.${i % 20}.1`);
    expect(lines).toEqual([{ level: 40, reason: 'per_source', source: '10.0.0.1', limit: 10, msg: 'ext_authz connection refused at accept; any more in the next 0.1 s are summed in one line' }]);
    await until('the summary line', () => lines.length === 2);
    const summary = lines[1] as Line;
    expect(summary.msg).toBe('ext_authz connections refused at accept: 1000 more in the last 0.1 s');
    expect(summary.refused).toEqual({ per_source: 900, max_connections: 100 });
    // Eight sources named, the rest summed: a flood of sources costs this log nothing more.
    expect(Object.keys(summary.sources ?? {})).toHaveLength(8);
    expect(Object.values(summary.sources ?? {}).reduce((a, b) => a + b, 0) + (summary.refusedFromOtherSources ?? 0)).toBe(1000);
    // An interval with no refusal ends the summing: the next refusal is logged at once.
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(lines).toHaveLength(2);
    log.note('per_source', '10.0.0.9');
    expect(lines).toHaveLength(3);
    log.note('per_source', '10.0.0.9');
    log.stop();
    expect(lines).toHaveLength(4);
    expect(lines[3]?.refused).toEqual({ per_source: 1 });
  });
});

/** Waits for `cond`, polling; fails after `ms`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A TCP connection from `localAddress`, once connected, or once closed: a
 * reset that arrives with the handshake's completion is reported as a
 * failed connect.
 */
function hold(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => undefined);
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

/** How many of `sockets` the server has closed, once `refused` of them are: the rest are still open after that. */
async function closedBy(sockets: readonly net.Socket[], refused: number): Promise<number> {
  await until(`${refused} connections closed by the server`, () => sockets.filter((s) => s.destroyed || s.readableEnded).length >= refused);
  // Give a wrongly refused connection the same chance to show.
  await new Promise((resolve) => setTimeout(resolve, 200));
  return sockets.filter((s) => s.destroyed || s.readableEnded).length;
}

describe('on the native transport', () => {
  test('a source over its limit is reset at accept; another source is served throughout; the source connects again once its connections close', async () => {
    const dropped: Array<[ConnectionRefusal, string | undefined]> = [];
    const events: TransportEvents = { sessionOpened: () => undefined, sessionClosed: () => undefined, streamRefused: () => undefined, connectionDropped: (r, s) => dropped.push([r, s]) };
    const transport = new GrpcTransport({ maxConnectionsPerSource: 3, maxConnections: 8, handshakeTimeoutMs: 60_000, events });
    transport.addUnary(createHealthCheckMethod(() => 'SERVING'));
    const fallback = new grpc.Server();
    new HealthImplementation({ '': 'SERVING' }).addToServer(fallback);
    const port = await listenWithFallback(transport, fallback, '127.0.0.1', 0);
    const hostile: net.Socket[] = [];
    try {
      for (let i = 0; i < 10; i++) hostile.push(await hold(port, '127.0.0.2'));
      expect(await closedBy(hostile, 7)).toBe(7);
      expect(dropped).toEqual(Array.from({ length: 7 }, () => ['per_source', '127.0.0.2']));
      expect(transport.sourceCount).toBe(1);
      // The global cap (8) has room for others: 127.0.0.1 is answered, over and over.
      for (let i = 0; i < 5; i++) expect(await healthCheckFrom(port, '127.0.0.1')).toBe(0);
      // ... and so is 127.0.0.3, a source of its own.
      expect(await healthCheckFrom(port, '127.0.0.3')).toBe(0);
      for (const s of hostile) s.destroy();
      await until('127.0.0.2 to be forgotten', () => transport.sourceCount === 0);
      expect(await healthCheckFrom(port, '127.0.0.2')).toBe(0);
      expect(dropped).toHaveLength(7);
    } finally {
      for (const s of hostile) s.destroy();
      await transport.close(true);
      fallback.forceShutdown();
    }
  });

  test('trusted sources are not held to the per-source limit, but still to max_connections', async () => {
    const dropped: ConnectionRefusal[] = [];
    const events: TransportEvents = { sessionOpened: () => undefined, sessionClosed: () => undefined, streamRefused: () => undefined, connectionDropped: (r) => dropped.push(r) };
    const transport = new GrpcTransport({ maxConnectionsPerSource: 2, maxConnections: 6, handshakeTimeoutMs: 60_000, trustedSources: ['127.0.0.4/32'], events });
    const fallback = new grpc.Server();
    const port = await listenWithFallback(transport, fallback, '127.0.0.1', 0);
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 8; i++) sockets.push(await hold(port, '127.0.0.4'));
      expect(await closedBy(sockets, 2)).toBe(2);
      expect(dropped).toEqual(['max_connections', 'max_connections']);
      expect(transport.sourceCount).toBe(0);
    } finally {
      for (const s of sockets) s.destroy();
      await transport.close(true);
      fallback.forceShutdown();
    }
  });
  test('on a dual-stack listener an IPv4 client is counted by its IPv4 address, not as IPv6', async () => {
    const dropped: Array<string | undefined> = [];
    const events: TransportEvents = { sessionOpened: () => undefined, sessionClosed: () => undefined, streamRefused: () => undefined, connectionDropped: (_r, s) => dropped.push(s) };
    const transport = new GrpcTransport({ maxConnectionsPerSource: 1, handshakeTimeoutMs: 60_000, trustedSources: ['127.0.0.5'], events });
    const fallback = new grpc.Server();
    const port = await listenWithFallback(transport, fallback, '::', 0);
    const sockets: net.Socket[] = [];
    try {
      // The server sees ::ffff:127.0.0.2 and ::ffff:127.0.0.5.
      for (let i = 0; i < 3; i++) sockets.push(await hold(port, '127.0.0.2'));
      for (let i = 0; i < 3; i++) sockets.push(await hold(port, '127.0.0.5'));
      expect(await closedBy(sockets, 2)).toBe(2);
      expect(dropped).toEqual(['127.0.0.2', '127.0.0.2']);
    } finally {
      for (const s of sockets) s.destroy();
      await transport.close(true);
      fallback.forceShutdown();
    }
  });
});

describe('on the grpc-js transport', () => {
  test('the same gate: over the limit reset at accept and counted in the metric; other sources served; room again after closing', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const state: AuthzState = {
      tenants: buildTenantIndex([{ name: 'open', hostnames: ['open.test'], mtls: { mode: 'off', trust: null, exemptPaths: [] } }]),
      verifier: createCertVerifier({ maxEntries: 10, ttlMs: 60_000 }),
      xfcc: { trustedHop: false, maxElements: 1 },
    };
    const server = createAuthzServer({ getState: () => state, logger: pino({ level: 'silent' }), metrics, transport: 'grpc-js', limits: { maxConnectionsPerSource: 2 } });
    const port = await server.listen('127.0.0.1', 0);
    const client = authzClient(port);
    const hostile: net.Socket[] = [];
    try {
      for (let i = 0; i < 6; i++) hostile.push(await hold(port, '127.0.0.2'));
      expect(await closedBy(hostile, 4)).toBe(4);
      expect((await client.check(checkRequest('open.test'))).status.code).toBe(0);
      expect((await client.check(checkRequest('other.test'))).status.code).toBe(7);
      const text = await metrics.registry.metrics();
      expect(text).toContain('bouncer_authz_connections_dropped_total{reason="per_source"} 4');
      expect(text).toContain('bouncer_authz_connections_dropped_total{reason="max_connections"} 0');
      // 127.0.0.2 (two connections); the client's 127.0.0.1 is trusted by default and not counted.
      expect(text).toContain('bouncer_authz_connection_sources 1');
      for (const s of hostile) s.destroy();
      await until('127.0.0.2 to be forgotten', async () => (await metrics.registry.metrics()).includes('bouncer_authz_connection_sources 0'));
      const again = [await hold(port, '127.0.0.2'), await hold(port, '127.0.0.2')];
      expect(await closedBy(again, 0)).toBe(0);
      for (const s of again) s.destroy();
    } finally {
      for (const s of hostile) s.destroy();
      client.close();
      await server.close(0);
    }
  });
});

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { BUILD_INFO } from '../version.js';
import { CheckTally, TalliedHistogram, type CheckRecorder } from './check-tally.js';

export type { CheckRecorder } from './check-tally.js';

/**
 * bouncer's Prometheus metrics, on a registry of its own (never prom-client's
 * global one) so tests and several servers in one process do not collide.
 * Labels never carry user identities: tenant names and reason codes only.
 */
export interface Metrics {
  readonly registry: Registry;
  readonly checks: Counter<'outcome' | 'reason'>;
  readonly certCache: Counter<'result'>;
  /**
   * Where checks are counted on the request path. `checks`, `certCache` and
   * the bouncer_check_duration_seconds histogram (registered, not exposed
   * here: it shows only what the tally counted) read it when scraped.
   */
  readonly checkTally: CheckTally;
  readonly configReloads: Counter<'result'>;
  readonly configLastReloadSuccess: Gauge;
  readonly configLastReloadTimestamp: Gauge;
  readonly tenants: Gauge;
  /**
   * Tenants by trust status (ok, degraded, unusable): counts, never a label per
   * tenant, so thousands of tenants stay three series. The admin API lists which.
   */
  readonly tenantTrust: Gauge<'status'>;
  /** 1 while a configured store (postgres, redis) is reachable and in sync, else 0. */
  readonly storeUp: Gauge<'store'>;
  /** The ext_authz port's connections and refusals (docs/authz-transport.md). */
  readonly authzTransport: AuthzTransportMetrics;
}

export interface AuthzTransportMetrics {
  readonly sessionsOpened: Counter;
  readonly sessionsClosed: Counter<'reason'>;
  readonly streamsRefused: Counter<'reason'>;
  /** `reason`: max_connections or per_source. Never a per-address label: sources are unbounded. */
  readonly connectionsDropped: Counter<'reason'>;
  /** Where the gauges read open connections, buffered request bytes and counted sources when scraped; set by the authz server. */
  setSource(read: () => AuthzTransportGauges): void;
}

/** What the ext_authz port's gauges read when scraped. */
export interface AuthzTransportGauges {
  readonly sessions: number;
  readonly bufferedBytes: number;
  /** Sources holding a connection, each counted toward max_connections_per_source. */
  readonly sources: number;
}

function createAuthzTransportMetrics(registry: Registry): AuthzTransportMetrics {
  let read: (() => AuthzTransportGauges) | undefined;
  new Gauge({
    name: 'bouncer_authz_sessions',
    help: 'HTTP/2 connections open on the ext_authz port.',
    registers: [registry],
    collect() {
      if (read) this.set(read().sessions);
    },
  });
  new Gauge({
    name: 'bouncer_authz_buffered_request_bytes',
    help: 'Request bytes the ext_authz port holds in messages still arriving (bounded per connection and in total).',
    registers: [registry],
    collect() {
      if (read) this.set(read().bufferedBytes);
    },
  });
  new Gauge({
    name: 'bouncer_authz_connection_sources',
    help: 'Sources (IPv4 addresses, IPv6 prefixes) with a connection open on the ext_authz port, each held to max_connections_per_source; trusted sources are not counted.',
    registers: [registry],
    collect() {
      if (read) this.set(read().sources);
    },
  });
  const connectionsDropped = new Counter({
    name: 'bouncer_authz_connections_dropped_total',
    help: 'Connections to the ext_authz port closed at accept, by the limit reached (max_connections, per_source).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  // Both reasons from the start, at zero, so a dashboard sees the series before the first refusal.
  for (const reason of ['max_connections', 'per_source']) connectionsDropped.inc({ reason }, 0);
  return {
    sessionsOpened: new Counter({ name: 'bouncer_authz_sessions_opened_total', help: 'HTTP/2 connections accepted on the ext_authz port.', registers: [registry] }),
    sessionsClosed: new Counter({
      name: 'bouncer_authz_sessions_closed_total',
      help: 'HTTP/2 connections closed on the ext_authz port, by reason (peer, idle, max_age, keepalive_timeout, handshake_timeout, ping_abuse, stream_errors, not_reading, close_grace, error, shutdown).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    streamsRefused: new Counter({
      name: 'bouncer_authz_streams_refused_total',
      help: 'ext_authz streams answered with an error before or instead of their method, by reason (message_too_large, buffer_budget, delivery_timeout, deadline_exceeded, relay_limit, malformed).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    connectionsDropped,
    setSource(next) {
      read = next;
    },
  };
}

/** Upper bounds of bouncer_check_duration_seconds, in seconds. */
const CHECK_DURATION_BUCKETS: readonly number[] = [0.00002, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];

/**
 * How often the event-loop delay histogram (`bouncer_nodejs_eventloop_lag_*`)
 * takes a sample, in ms. prom-client's default, 10 ms, is a timer that wakes
 * the process 100 times a second for as long as it runs: an idle bouncer
 * used ~12 ms of CPU per second on it, and under a steady trickle of checks
 * each wake-up between them costs as much as a check. At 100 ms the lag
 * percentiles still rest on 600 samples a minute, and any stall of 100 ms
 * or more (a fifth of Envoy's ext_authz timeout) is always caught.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'bouncer_', eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const buildInfo = new Gauge({
    name: 'bouncer_build_info',
    help: 'Build information; always 1.',
    labelNames: ['version', 'node_version'] as const,
    registers: [registry],
  });
  buildInfo.set({ version: BUILD_INFO.version, node_version: process.versions.node }, 1);
  const tally = new CheckTally(CHECK_DURATION_BUCKETS);
  // Each counter takes what the tally counted since the last scrape, whichever is read first.
  const flush = (): void => tally.flushCounters(checks, certCache);
  const checks = new Counter({
    name: 'bouncer_checks_total',
    help: 'ext_authz checks by outcome (allow, deny, error) and reason code.',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
    collect: flush,
  });
  const certCache = new Counter({
    name: 'bouncer_cert_cache_total',
    help: 'Client certificate verification cache lookups by result (hit, miss).',
    labelNames: ['result'] as const,
    registers: [registry],
    collect: flush,
  });
  // Registered for its scrapes only: the tally is where checks are observed.
  new TalliedHistogram(tally, {
    name: 'bouncer_check_duration_seconds',
    help: 'Time bouncer spent deciding one ext_authz check.',
    labelNames: ['outcome'] as const,
    buckets: CHECK_DURATION_BUCKETS,
    registers: [registry],
  });
  return {
    registry,
    checks,
    checkTally: tally,
    certCache,
    configReloads: new Counter({
      name: 'bouncer_config_reloads_total',
      help: 'Config reload attempts by result (success, failure).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    configLastReloadSuccess: new Gauge({
      name: 'bouncer_config_last_reload_successful',
      help: '1 if the last config reload succeeded, 0 if the last good config is still in force after a failed one.',
      registers: [registry],
    }),
    configLastReloadTimestamp: new Gauge({
      name: 'bouncer_config_last_reload_success_timestamp_seconds',
      help: 'Unix time of the last successful config load.',
      registers: [registry],
    }),
    tenants: new Gauge({
      name: 'bouncer_tenants',
      help: 'Tenants in the config in force.',
      registers: [registry],
    }),
    tenantTrust: new Gauge({
      name: 'bouncer_tenant_trust_status',
      help: "Tenants by the status of their trust data: ok, degraded (some CA certificates unusable), unusable (no usable CA; their devices are denied). The config file's tenants, or with store.postgres those this replica has loaded.",
      labelNames: ['status'],
      registers: [registry],
    }),
    storeUp: new Gauge({
      name: 'bouncer_store_up',
      help: 'Whether a configured store is reachable and in sync (1) or not (0); absent when the store is not configured.',
      labelNames: ['store'],
      registers: [registry],
    }),
    authzTransport: createAuthzTransportMetrics(registry),
  };
}

/** Where a check server records each check: the metrics' tally (check-tally.ts says why not prom-client directly). */
export function createCheckRecorder(metrics: Metrics): CheckRecorder {
  return metrics.checkTally;
}

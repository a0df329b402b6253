/**
 * What every step of `bouncer serve` shares: the logger, the metrics, which
 * half of bouncer runs, the one clock and the one reading of the environment,
 * and the config in force (swapped whole on reload).
 */
import type { Logger } from 'pino';
import type { AuthzState } from '../authz/server.js';
import type { BouncerConfig } from '../config/types.js';
import { BouncerError } from '../core/errors.js';
import type { Metrics } from '../observability/metrics.js';
import type { Tracing } from '../observability/tracing.js';
import type { IdpConnector } from '../web/idp/connector.js';

/** Which half of bouncer a process runs: both (default), ext_authz only, or the login service only. */
export type ServeRole = 'all' | 'authz' | 'http';

export interface ServeContext {
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly role: ServeRole;
  readonly runAuthz: boolean;
  readonly runHttp: boolean;
  /** Milliseconds since the epoch. Every part of the process reads time here, so a test can move it. */
  readonly clock: () => number;
  /**
   * The environment, read once at start (config overrides, `BOUNCER_AUTH_PUBLIC_URL`);
   * reloads interpolate the same values, so a process behaves as started.
   */
  readonly env: Readonly<NodeJS.ProcessEnv>;
  /** OpenTelemetry tracing, when the OTEL_* variables turn it on; undefined (and the SDK never loaded) otherwise. */
  readonly tracing: Tracing | undefined;
}

/** The config in force and what is derived from it; reload replaces the fields together. */
export interface LiveConfig {
  config: BouncerConfig;
  state: AuthzState;
  connectors: ReadonlyMap<string, IdpConnector>;
}

/**
 * Refuses settings that would half-work: processes that must agree on
 * sessions (a login service apart from ext_authz, or several replicas sharing
 * Redis) but would each keep their own signing keys or revocations.
 */
export function checkTopology(config: BouncerConfig, role: ServeRole): void {
  if (!config.auth) return;
  if (role !== 'all' && !config.store.redis) {
    throw new BouncerError(
      'ERR_CONFIG_INVALID',
      `serve --only ${role} needs store.redis: ext_authz and the login service must share revocations, handoffs and login state`,
    );
  }
  if ((role !== 'all' || config.store.redis) && config.auth.keysDir === undefined) {
    throw new BouncerError(
      'ERR_CONFIG_INVALID',
      'auth.session.keys_dir is required when processes share sessions (serve --only, or store.redis): every process must sign and verify with the same keys',
    );
  }
}

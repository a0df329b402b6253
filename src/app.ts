import type { Logger } from 'pino';
import { createAuthzServer, type AuthzState } from './authz/server.js';
import type { BouncerConfig } from './config/types.js';
import { watchConfig } from './config/watch.js';
import { createCertVerifier } from './core/cert-verifier.js';
import { buildTenantIndex } from './core/tenant-index.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createOpsServer } from './web/ops-server.js';

export interface BouncerApp {
  readonly authzPort: number;
  readonly httpPort: number;
  readonly metrics: Metrics;
  /** The config in force. */
  config(): BouncerConfig;
  /** Re-reads the config now (also done on file change and SIGHUP); false if it was invalid. */
  reload(): Promise<boolean>;
  /** Graceful stop: NOT_SERVING, drain in-flight checks, close listeners. */
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  config: BouncerConfig;
  logger: Logger;
  /** Watch the config and its CA/CRL files for edits (default true). */
  watch?: boolean;
  watchIntervalMs?: number;
  env?: NodeJS.ProcessEnv;
  now?: () => number;
}

function toState(config: BouncerConfig): AuthzState {
  return {
    tenants: buildTenantIndex(config.tenants),
    verifier: createCertVerifier({
      maxEntries: config.authz.cache.maxEntries,
      ttlMs: config.authz.cache.ttlSeconds * 1000,
    }),
    xfcc: config.authz.xfcc,
  };
}

/** Wires config, the ext_authz server and the ops HTTP server together. */
export async function startBouncer(options: StartOptions): Promise<BouncerApp> {
  const { logger } = options;
  const metrics = createMetrics();
  let config = options.config;
  let state = toState(config);
  metrics.tenants.set(config.tenants.length);
  metrics.configLastReloadSuccess.set(1);
  metrics.configLastReloadTimestamp.set(Date.now() / 1000);

  let serving = true;
  const authz = createAuthzServer({ getState: () => state, logger, metrics, ...(options.now ? { now: options.now } : {}) });
  const ops = createOpsServer({ registry: metrics.registry, isReady: () => serving });

  const apply = (next: BouncerConfig): void => {
    config = next;
    state = toState(next);
    metrics.tenants.set(next.tenants.length);
    metrics.configReloads.inc({ result: 'success' });
    metrics.configLastReloadSuccess.set(1);
    metrics.configLastReloadTimestamp.set(Date.now() / 1000);
    logger.info({ tenants: next.tenants.length }, 'config reloaded');
  };
  const watcher = watchConfig({
    path: config.source,
    env: options.env ?? process.env,
    initial: config,
    ...(options.watchIntervalMs !== undefined ? { intervalMs: options.watchIntervalMs } : {}),
    onReload: apply,
    onError: (err) => {
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ err: err instanceof Error ? { code: (err as { code?: string }).code, message: err.message } : String(err) }, 'config reload failed; keeping the last good config');
    },
  });
  if (options.watch === false) watcher.close();

  let authzPort: number;
  let httpPort: number;
  try {
    authzPort = await authz.listen(config.listen.authz.host, config.listen.authz.port);
    httpPort = await ops.listen(config.listen.http.host, config.listen.http.port);
  } catch (err) {
    watcher.close();
    await authz.close(0);
    await ops.close();
    throw err;
  }
  logger.info({ authz: `${config.listen.authz.host}:${authzPort}`, http: `${config.listen.http.host}:${httpPort}`, tenants: config.tenants.length }, 'bouncer listening');

  let closing: Promise<void> | undefined;
  return {
    authzPort,
    httpPort,
    metrics,
    config: () => config,
    reload: () => watcher.reloadNow(),
    close(graceMs) {
      closing ??= (async () => {
        serving = false;
        watcher.close();
        await authz.close(graceMs);
        await ops.close();
      })();
      return closing;
    },
  };
}

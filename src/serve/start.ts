/**
 * The composition root of `bouncer serve`: opens the stores, puts the config
 * in force and keeps it current, then starts the servers. Every step
 * registers what it opened on one {@link CleanupStack}; a failure part-way
 * closes what was opened, and {@link BouncerApp.close} closes the rest the
 * same way, last opened first.
 */
import type { Logger } from 'pino';
import type { BouncerConfig } from '../config/types.js';
import type { HostnameCatalog } from '../core/served-hostname.js';
import { EMPTY_CATALOG, startXds, type RunningXds } from '../xds/start.js';
import { createMetrics, type Metrics } from '../observability/metrics.js';
import { tracingRequested } from '../observability/tracing-switch.js';
import { CleanupStack } from './cleanup-stack.js';
import type { ServeContext, ServeRole } from './context.js';
import { createOpsRoutes } from './ops-routes.js';
import { openStores } from './open-stores.js';
import { startReloading } from './reload.js';
import { startServers } from './start-servers.js';

export type { ServeRole } from './context.js';

export interface BouncerApp {
  /** 0 when this process does not run ext_authz (`role: 'http'`). */
  readonly authzPort: number;
  /** The admin API's port; 0 when it is off (no `admin` section, or `role: 'http'`). */
  readonly adminPort: number;
  readonly httpPort: number;
  /** bouncer's xDS server's port; 0 when the `xds` section is absent. */
  readonly xdsPort: number;
  readonly metrics: Metrics;
  /** Customer hostnames ready to serve (for the xDS server); undefined without a `hostnames` section. */
  readonly hostnameCatalog: HostnameCatalog | undefined;
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
  /** The environment (default `process.env`), read once at start. */
  env?: NodeJS.ProcessEnv;
  /** The clock of the whole process, milliseconds since the epoch (default `Date.now`). */
  now?: () => number;
  /**
   * Public origin of the login service, overriding `auth.public_url` (and the
   * `BOUNCER_AUTH_PUBLIC_URL` environment variable, which overrides it too).
   */
  authPublicOrigin?: string;
  /** Run both halves (default), or one of them; split roles need `store.redis` and `auth.session.keys_dir`. */
  role?: ServeRole;
  /** Customer hostnames served to Envoy over xDS when the config has an `xds` section; default: the `hostnames` section's. */
  hostnames?: HostnameCatalog;
}

/** Wires config, stores, the ext_authz server and the login service together. */
export async function startBouncer(options: StartOptions): Promise<BouncerApp> {
  const role: ServeRole = options.role ?? 'all';
  const env = Object.freeze({ ...(options.env ?? process.env) });
  // On only when the OTEL_* variables name an OTLP endpoint; off, the SDK is never loaded and nothing is wrapped.
  const tracing = tracingRequested(env)
    ? (await import('../observability/tracing.js')).tracingFromEnv(env, (err) => options.logger.warn({ err: { message: err.message } }, 'trace export failed'))
    : undefined;
  const ctx: ServeContext = {
    logger: options.logger,
    metrics: createMetrics(),
    role,
    runAuthz: role !== 'http',
    runHttp: role !== 'authz',
    clock: options.now ?? Date.now,
    env,
    tracing,
  };
  const stack = new CleanupStack();
  // Registered first so it closes last: the spans of the shutdown itself are exported too.
  if (tracing) stack.defer('tracing', () => tracing.shutdown());
  // `started` once every server listens: only then may revocations made here need sharing at shutdown.
  let started = false;
  let serving = true;
  let graceMs: number | undefined = 0;
  try {
    const stores = await openStores(ctx, options.config, stack, () => started);
    const { config } = stores;
    // `auth.public_url` from the config, unless the caller or the environment overrides it. Read
    // once: IdP callback URLs and the OIDC issuer are registered elsewhere and must not move on a reload.
    const origin = options.authPublicOrigin ?? ctx.env['BOUNCER_AUTH_PUBLIC_URL'] ?? config.auth?.publicUrl;
    const reloading = startReloading(ctx, stores, { watch: options.watch !== false, watchIntervalMs: options.watchIntervalMs, origin }, stack);
    const { live } = reloading;
    const ops = createOpsRoutes(ctx, stores, live, () => serving);
    ops.updateStoreGauges();
    // The admin API starts first and reads the xDS status per request, once the server below runs.
    let xds: RunningXds | undefined;
    const ports = await startServers(ctx, stores, live, { opsRoutes: ops.routes, graceMs: () => graceMs, origin, xdsStatus: () => xds?.server.status() }, stack);
    // Envoy keeps the configuration it has while no xDS server answers; another replica, or this one restarted, takes over.
    xds = config.xds && ctx.runAuthz
      ? await startXds(options.hostnames ?? stores.hostnames?.manager.catalog ?? EMPTY_CATALOG, config.xds, {
          logger: ctx.logger,
          registry: ctx.metrics.registry,
          acmeTlsAlpn: config.hostnames?.acme?.challenges.includes('tls-alpn-01') ?? false,
          authDomain: config.auth?.domain,
        })
      : undefined;
    if (xds) stack.defer('xDS server', () => xds.server.close());
    started = true;
    ctx.logger.info(
      {
        role,
        ...(ctx.runAuthz ? { authz: `${config.listen.authz.host}:${ports.authzPort}` } : {}),
        http: `${config.listen.http.host}:${ports.httpPort}`,
        ...(ports.adminPort !== 0 && config.admin ? { admin: `${config.admin.listen.host}:${ports.adminPort}` } : {}),
        tenants: stores.tenantStore ? 'postgres' : config.tenants.length,
        sharedState: stores.parts.shared.backend,
      },
      'bouncer listening',
    );
    return {
      ...ports,
      xdsPort: xds?.port ?? 0,
      metrics: ctx.metrics,
      hostnameCatalog: stores.hostnames?.manager.catalog,
      config: () => live.config,
      reload: () => reloading.reloadNow(),
      close(grace) {
        if (!stack.disposed) {
          serving = false;
          graceMs = grace;
        }
        return stack.disposeAsync();
      },
    };
  } catch (err) {
    await stack.disposeAsync().catch((cleanupErr: unknown) => ctx.logger.warn({ err: { message: (cleanupErr as Error).message } }, 'cleanup after a failed start did not complete'));
    throw err;
  }
}

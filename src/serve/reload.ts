/**
 * The third step of `bouncer serve`: keeping the config current. The file
 * (and the CA/CRL files it names) is watched, SIGHUP and the admin API reload
 * on demand, and a change another replica made to the database's sections
 * reloads too. A config that fails to load or to set up leaves the last good
 * one in force.
 */
import { warmFileHosts } from '../authz/tenant-lookup.js';
import type { BouncerConfig } from '../config/types.js';
import { watchConfig } from '../config/watch.js';
import type { IdpConnector } from '../web/idp/connector.js';
import { buildConnectors } from '../web/idp/build.js';
import { fileHostnames, newVerifier, toState } from './authz-state.js';
import type { CleanupStack } from './cleanup-stack.js';
import { checkTopology, type LiveConfig, type ServeContext } from './context.js';
import type { Stores } from './open-stores.js';

type Connectors = ReturnType<typeof buildConnectors>;

export interface Reloading {
  /** The config in force, swapped whole on each good reload; the servers read it per request. */
  readonly live: LiveConfig;
  /** Re-reads the config now; false if it was invalid. */
  reloadNow(): Promise<boolean>;
}

export interface ReloadOptions {
  /** Watch the files for edits; when false, only {@link Reloading.reloadNow} (SIGHUP, the admin API, database changes) reloads. */
  readonly watch: boolean;
  readonly watchIntervalMs?: number | undefined;
  /** Public origin of the login service, read once at start: IdP callback URLs and the OIDC issuer must not move on a reload. */
  readonly origin: string | undefined;
}

/** The connectors the login service uses; with tracing on, each IdP round trip becomes spans. */
function connectorView(connectors: Connectors, tracing: ServeContext['tracing']): ReadonlyMap<string, IdpConnector> {
  return new Map([...connectors].map(([k, v]) => [k, tracing ? tracing.traced(v.connector, 'idp') : v.connector]));
}

/** Settings read once at start; a reload that changes them is applied without them, with a warning. */
function keepStartupSettings(ctx: ServeContext, current: BouncerConfig, next: BouncerConfig): BouncerConfig {
  let kept = next;
  if (JSON.stringify(next.store) !== JSON.stringify(current.store)) {
    ctx.logger.warn('store settings changed; they take effect on the next restart');
    kept = { ...kept, store: current.store };
  }
  if (JSON.stringify(next.hostnames) !== JSON.stringify(current.hostnames)) {
    ctx.logger.warn('hostnames settings changed; they take effect on the next restart');
    kept = { ...kept, hostnames: current.hostnames };
  }
  if (JSON.stringify(next.authz.limits) !== JSON.stringify(current.authz.limits)) {
    ctx.logger.warn('authz.limits changed; they take effect on the next restart');
    kept = { ...kept, authz: { ...kept.authz, limits: current.authz.limits } };
  }
  if (next.authz.transport !== current.authz.transport) {
    ctx.logger.warn({ running: current.authz.transport, configured: next.authz.transport }, 'authz.transport changed; it takes effect on the next restart');
    kept = { ...kept, authz: { ...kept.authz, transport: current.authz.transport } };
  }
  return kept;
}

/**
 * Puts `stores.config` in force and keeps it current. The IdP connectors are
 * built here (a reload reuses the ones whose settings did not change).
 */
export function startReloading(ctx: ServeContext, stores: Stores, options: ReloadOptions, stack: CleanupStack): Reloading {
  const { logger, metrics, clock } = ctx;
  const { parts, storeTenants, tenantStore, crlTenants, revocation, docs } = stores;
  const { shared } = parts;
  const samlReplay = { remember: (id: string, expiresAtMs: number, nowMs: number) => shared.samlAssertions.consume(id, Math.max(1, expiresAtMs - nowMs), nowMs) };
  let connectors = buildConnectors(stores.config.idps, new Map(), { samlReplay });
  const live: LiveConfig = {
    config: stores.config,
    state: toState(stores.config, parts, options.origin, storeTenants, revocation),
    connectors: connectorView(connectors, ctx.tracing),
  };

  const reloadFailed = (): void => {
    metrics.configReloads.inc({ result: 'failure' });
    metrics.configLastReloadSuccess.set(0);
  };
  const apply = (loaded: BouncerConfig): void => {
    let nextConnectors: Connectors;
    try {
      checkTopology(loaded, ctx.role);
      nextConnectors = buildConnectors(loaded.idps, connectors, { samlReplay });
    } catch (err) {
      reloadFailed();
      logger.error({ err: { message: (err as Error).message } }, 'config reload failed (identity provider setup); keeping the last good config');
      return;
    }
    const next = keepStartupSettings(ctx, live.config, loaded);
    connectors = nextConnectors;
    live.config = next;
    live.connectors = connectorView(connectors, ctx.tracing);
    live.state = toState(next, parts, options.origin, storeTenants, revocation);
    crlTenants.sync(next.tenants);
    if (storeTenants) void warmFileHosts(storeTenants, fileHostnames(next));
    metrics.tenants.set(next.tenants.length);
    metrics.configReloads.inc({ result: 'success' });
    metrics.configLastReloadSuccess.set(1);
    metrics.configLastReloadTimestamp.set(clock() / 1000);
    // A tenant's bad trust data no longer fails the reload, so it must be told here.
    for (const w of next.warnings) logger.warn({ warning: w }, 'config warning');
    logger.info({ tenants: next.tenants.length }, 'config reloaded');
  };

  crlTenants.sync(live.config.tenants);
  // A tenant's CA or CRL may have changed: drop every cached certificate verdict (changes are rare; verdicts are cheap to redo).
  const unsubscribeTenants = tenantStore?.onChange(() => {
    live.state = { ...live.state, verifier: newVerifier(live.config) };
  });
  if (unsubscribeTenants) stack.defer('tenant change subscription', unsubscribeTenants);
  metrics.tenants.set(live.config.tenants.length);
  metrics.configLastReloadSuccess.set(1);
  metrics.configLastReloadTimestamp.set(clock() / 1000);

  const watcher = watchConfig({
    path: live.config.source,
    env: ctx.env,
    initial: live.config,
    ...(options.watchIntervalMs !== undefined ? { intervalMs: options.watchIntervalMs } : {}),
    onReload: apply,
    overlay: () => docs?.current(),
    onError: (err) => {
      reloadFailed();
      logger.error({ err: err instanceof Error ? { code: (err as { code?: string }).code, message: err.message } : String(err) }, 'config reload failed; keeping the last good config');
    },
  });
  stack.defer('config watcher', () => watcher.close());
  if (!options.watch) watcher.close();
  // A change any replica made to the database's sections: reload now (reloadNow works even with watching off).
  const unsubscribeDocs = docs?.onChange(() => void watcher.reloadNow());
  if (unsubscribeDocs) stack.defer('config document subscription', unsubscribeDocs);
  return { live, reloadNow: () => watcher.reloadNow() };
}

import { createPrivateKey } from 'node:crypto';
import type pg from 'pg';
import { createAdminServer, createDecisionLog, createMemoryAuditSink, createPgAuditSink, toDecisionRecord, type AdminServer, type AuditSink } from './admin/index.js';
import type { Logger } from 'pino';
import { loadSamlIdpSigning } from './web/saml-idp/index.js';
import { createAuthzServer, type AuthzState } from './authz/server.js';
import { explainRequest } from './authz/explain.js';
import { FileHostAnswers, warmFileHosts, type StoreTenants } from './authz/tenant-lookup.js';
import type { BouncerConfig } from './config/types.js';
import { attemptConfigLoad, loadConfig } from './config/load.js';
import { redactUrl } from './config/store-schema.js';
import type { ConfigDocuments } from './stores/postgres/config-documents.js';
import { watchConfig } from './config/watch.js';
import type { AuthSettings } from './core/app.js';
import { createCertVerifier, type CertVerifier } from './core/cert-verifier.js';
import { BouncerError } from './core/errors.js';
import { buildHostIndex, buildTenantIndex } from './core/tenant-index.js';
import type { Tenant } from './core/tenant.js';
import { TRUST_STATUSES, trustStatusAt, type TrustStatus } from './core/trust-anchor.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { RevocationView } from './core/revocation-policy.js';
import { REVOCATION_DEFAULTS } from './config/revocation-defaults.js';
import { createRevocationMetrics } from './revocation/metrics.js';
import { createCrlFetcher } from './revocation/crl-fetcher.js';
import { createOcspChecker } from './revocation/ocsp-checker.js';
import { createRevocationView } from './revocation/revocation-view.js';
import { createOpsServer } from './observability/ops-server.js';
import { handoffStoreOver } from './sessions/handoff-store.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from './sessions/key-store.js';
import { createTokenCache } from './sessions/token-cache.js';
import { createSharedState } from './stores/create-shared-state.js';
import type { SharedState } from './stores/shared-state.js';
import { createFileTenantStore } from './stores/file-tenant-store.js';
import type { PgTenantStore } from './stores/postgres/pg-tenant-store.js';
import { createAuthServer } from './web/auth/server.js';
import type { HostnameCatalog } from './core/served-hostname.js';
import { EMPTY_CATALOG, startXds, type RunningXds } from './xds/start.js';
import type { IdpConnector } from './web/idp/connector.js';
import { buildConnectors } from './web/idp/build.js';

/** Which half of bouncer a process runs: both (default), ext_authz only, or the login service only. */
export type ServeRole = 'all' | 'authz' | 'http';

export interface BouncerApp {
  /** 0 when this process does not run ext_authz (`role: 'http'`). */
  readonly authzPort: number;
  /** The admin API's port; 0 when it is off (no `admin` section, or `role: 'http'`). */
  readonly adminPort: number;
  readonly httpPort: number;
  /** bouncer's xDS server's port; 0 when the `xds` section is absent. */
  readonly xdsPort: number;
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
  /**
   * Public origin of the login service, overriding `auth.public_url` (and the
   * `BOUNCER_AUTH_PUBLIC_URL` environment variable, which overrides it too).
   */
  authPublicOrigin?: string;
  /** Run both halves (default), or one of them; split roles need `store.redis` and `auth.session.keys_dir`. */
  role?: ServeRole;
  /** Customer hostnames served to Envoy over xDS when the config has an `xds` section. */
  hostnames?: HostnameCatalog;
}

/** Session machinery shared by ext_authz and the login service for the life of the process. */
export interface SessionParts {
  readonly keys: KeyStore;
  readonly shared: SharedState;
  readonly tokens: ReturnType<typeof createTokenCache>;
}

/** Processes sharing `keys_dir` re-read it this often; a new key signs only after twice that. */
const KEY_REFRESH_MS = 60_000;

function authSettings(config: BouncerConfig, origin: string | undefined): AuthSettings | undefined {
  if (!config.auth) return undefined;
  return { domain: config.auth.domain, origin: (origin ?? `https://${config.auth.domain}`).replace(/\/+$/, '') };
}

export function longestSession(config: BouncerConfig): number {
  return Math.max(config.auth?.sessionDurationSec ?? 0, ...config.apps.map((a) => a.sessionDurationSec), 3600);
}

function newVerifier(config: BouncerConfig): CertVerifier {
  return createCertVerifier({ maxEntries: config.authz.cache.maxEntries, ttlMs: config.authz.cache.ttlSeconds * 1000 });
}

/** The exact hostnames the config file serves itself (apps, the login service); wildcards are remembered per host as requests come. */
function fileHostnames(config: BouncerConfig): string[] {
  const hosts = config.apps.flatMap((a) => a.hostnames).filter((h) => !h.startsWith('*.'));
  if (config.auth) hosts.push(config.auth.domain);
  return [...new Set(hosts)];
}

/** Tenants by trust status at `nowMs`. */
function countTrust(tenants: readonly Tenant[], nowMs: number): Record<TrustStatus, number> {
  const counts: Record<TrustStatus, number> = { ok: 0, degraded: 0, unusable: 0 };
  for (const t of tenants) counts[trustStatusAt(t.mtls.trust, nowMs)] += 1;
  return counts;
}

/** The ext_authz server's state for `config`; also what `bouncer access explain` decides with. */
export function toState(config: BouncerConfig, parts: SessionParts, origin: string | undefined, tenantStore: StoreTenants | undefined, revocation: RevocationView | undefined): AuthzState {
  const auth = authSettings(config, origin);
  const { shared } = parts;
  return {
    tenants: buildTenantIndex(config.tenants),
    tenantStore,
    verifier: newVerifier(config),
    revocation,
    xfcc: config.authz.xfcc,
    identity:
      auth && config.auth
        ? {
            apps: buildHostIndex(config.apps),
            auth,
            serviceTokens: config.serviceTokens,
            countryHeader: config.auth.countryHeader,
            gate: {
              apps: buildHostIndex(config.apps),
              issuer: config.auth.domain,
              authOrigin: auth.origin,
              keys: () => parts.keys,
              revocation: shared.revocation,
              longestSessionMs: longestSession(config) * 1000,
              handoffs: handoffStoreOver(shared.handoffs),
              tokens: parts.tokens,
              revocationUnknown: () => shared.health().denyingAll,
              flushRevocations: () => shared.revocation.flush(),
            },
          }
        : undefined,
  };
}

/**
 * Refuses settings that would half-work: processes that must agree on
 * sessions (a login service apart from ext_authz, or several replicas sharing
 * Redis) but would each keep their own signing keys or revocations.
 */
function checkTopology(config: BouncerConfig, role: ServeRole): void {
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

/** Wires config, stores, the ext_authz server and the login service together. */
export async function startBouncer(options: StartOptions): Promise<BouncerApp> {
  const { logger } = options;
  const role: ServeRole = options.role ?? 'all';
  const runAuthz = role !== 'http';
  const runHttp = role !== 'authz';
  const metrics = createMetrics();
  // One OCSP cache for the life of the process: its keys carry the tenant, and answers stay true across reloads.
  const revocationMetrics = createRevocationMetrics(metrics.registry);
  const revocationDeps = { now: Date.now, logger, metrics: revocationMetrics, settings: { ...REVOCATION_DEFAULTS } };
  const crls = createCrlFetcher(revocationDeps);
  const revocation = createRevocationView({ ocsp: createOcspChecker(revocationDeps), crls, logger, metrics: revocationMetrics });
  let config = options.config;
  const env = options.env ?? process.env;
  // Apps, IdPs and service tokens may live in the database too: load them with the file, validated together.
  let docs: ConfigDocuments | undefined;
  if (config.store.postgres) {
    const url = config.store.postgres.url;
    // PostgreSQL's client and stores are loaded only when configured, so the
    // embedded default keeps them out of the live heap every full GC marks.
    const { openConfigDocuments } = await import('./stores/postgres/config-documents.js');
    try {
      docs = await openConfigDocuments({ connection: { connectionString: url }, onError: (err) => logger.warn({ err: { message: err.message } }, 'config documents: database connection problem') });
    } catch (err) {
      throw new BouncerError('ERR_STORE_UNAVAILABLE', `cannot read config documents at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
    }
    const overlay = docs.current();
    if (overlay) {
      try {
        config = await loadConfig(config.source, env, { overlay });
      } catch (err) {
        await docs.close();
        throw err;
      }
    }
  }
  try {
    checkTopology(config, role);
  } catch (err) {
    await docs?.close();
    throw err;
  }
  // `auth.public_url` from the config, unless the caller or the environment overrides it. Read
  // once: IdP callback URLs and the OIDC issuer are registered elsewhere and must not move on a reload.
  const origin = options.authPublicOrigin ?? (options.env ?? process.env).BOUNCER_AUTH_PUBLIC_URL ?? config.auth?.publicUrl;
  const nowFn = options.now ?? Date.now;
  const redis = config.store.redis;
  const shared = await createSharedState({
    ...(redis
      ? { redis: { url: redis.url, keyPrefix: redis.keyPrefix, failMode: redis.revocationFailMode, graceMs: redis.revocationGraceMs } }
      : {}),
    userRetentionMs: longestSession(config) * 1000,
    clock: nowFn,
    onHealth: (h) => {
      metrics.storeUp.set({ store: 'redis' }, h.ok ? 1 : 0);
      if (h.ok) logger.info({ state: h.state }, 'shared store in sync');
      else logger.warn({ state: h.state, denyingAll: h.denyingAll, error: h.error }, 'shared store out of sync');
    },
    onError: (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'),
  });
  // Not fatal: until Redis answers, the stores fail closed (revocation per its fail mode, single-use checks refuse).
  await shared.start().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'shared store not ready; failing closed until it is'));
  if (redis) metrics.storeUp.set({ store: 'redis' }, shared.health().ok ? 1 : 0);

  let tenantStore: PgTenantStore | undefined;
  if (runAuthz && config.store.postgres) {
    const pgConf = config.store.postgres;
    const { createPgTenantStore } = await import('./stores/postgres/pg-tenant-store.js');
    try {
      tenantStore = await createPgTenantStore({ connection: { connectionString: pgConf.url }, cache: { maxEntries: pgConf.cacheMaxEntries }, logger });
    } catch (err) {
      await shared.close();
      await docs?.close();
      throw new BouncerError('ERR_STORE_UNAVAILABLE', `cannot open the tenant store at ${redactUrl(pgConf.url)}: ${(err as Error).message}`, { cause: err });
    }
  }
  const storeTenants: StoreTenants | undefined =
    tenantStore && config.store.postgres ? { store: tenantStore, timeoutMs: config.store.postgres.lookupTimeoutMs, fileHosts: new FileHostAnswers() } : undefined;
  // The file's own hosts get the store's answer now, so an outage later finds them known.
  if (storeTenants) await warmFileHosts(storeTenants, fileHostnames(config));

  const parts: SessionParts = {
    keys: await openKeyStore({
      dir: config.auth?.keysDir,
      rotateAfterDays: config.auth?.keyRotationDays ?? 30,
      overlapMs: keyOverlapMs(longestSession(config)),
      nowMs: nowFn(),
      clock: nowFn,
      // Only when another process may read the same directory: otherwise a new key can sign at once.
      publishDelayMs: role !== 'all' || redis ? 2 * KEY_REFRESH_MS : 0,
    }),
    shared,
    tokens: createTokenCache(),
  };
  const samlReplay = { remember: (id: string, expiresAtMs: number, nowMs: number) => shared.samlAssertions.consume(id, Math.max(1, expiresAtMs - nowMs), nowMs) };
  let connectors = buildConnectors(config.idps, new Map(), { samlReplay });
  let connectorView: ReadonlyMap<string, IdpConnector> = new Map([...connectors].map(([k, v]) => [k, v.connector]));
  let state = toState(config, parts, origin, storeTenants, revocation);
  crls.sync(config.tenants);
  // A tenant's CA or CRL may have changed: drop every cached certificate verdict (changes are rare; verdicts are cheap to redo).
  const unsubscribe = tenantStore?.onChange(() => {
    state = { ...state, verifier: newVerifier(config) };
  });
  const rotation = setInterval(() => {
    parts.keys.rotateIfDue(nowFn()).catch((err: unknown) => logger.error({ err }, 'session key rotation failed'));
  }, KEY_REFRESH_MS);
  rotation.unref();
  // Read at scrape time, so a scrape never shows a stale answer.
  const updateStoreGauges = (): void => {
    if (tenantStore) metrics.storeUp.set({ store: 'postgres' }, tenantStore.health().healthy ? 1 : 0);
    if (redis) metrics.storeUp.set({ store: 'redis' }, shared.health().ok ? 1 : 0);
  };
  // At the clock of the scrape: a CA may expire while running.
  const trustCounts = (): Record<TrustStatus, number> => countTrust(tenantStore ? tenantStore.loadedTenants() : config.tenants, nowFn());
  const updateTrustGauge = (): Record<TrustStatus, number> => {
    const counts = trustCounts();
    for (const s of TRUST_STATUSES) metrics.tenantTrust.set({ status: s }, counts[s]);
    return counts;
  };
  updateStoreGauges();
  metrics.tenants.set(config.tenants.length);
  metrics.configLastReloadSuccess.set(1);
  metrics.configLastReloadTimestamp.set(Date.now() / 1000);

  let serving = true;
  const readiness = (): { ready: boolean; body: Record<string, unknown> } => {
    const stores: Record<string, unknown> = {};
    let ready = serving;
    if (tenantStore) {
      const h = tenantStore.health();
      stores['postgres'] = h.healthy ? 'up' : `down: ${h.reason ?? 'unknown'}`;
      // Cached tenants keep being served, but a replica that cannot load new ones should not take new traffic first.
      ready &&= h.healthy;
    }
    if (redis) {
      const h = shared.health();
      stores['redis'] = h.ok ? 'up' : `${h.state}${h.error ? `: ${h.error}` : ''}`;
      ready &&= h.ok;
    }
    // One customer's bad CA must not take every replica out of rotation: trust
    // status is reported here, never a reason to be unready.
    const trust = trustCounts();
    return { ready, body: { status: !serving ? 'stopping' : ready ? 'ready' : 'degraded', role, ...(Object.keys(stores).length > 0 ? { stores } : {}), tenant_trust: trust } };
  };
  const opsRoutes = {
    '/metrics': async () => {
      updateStoreGauges();
      updateTrustGauge();
      return { status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    '/readyz': async () => {
      const r = readiness();
      return { status: r.ready ? 200 : 503, contentType: 'application/json', body: JSON.stringify(r.body) };
    },
  };
  // The admin API runs beside ext_authz: it manages what ext_authz decides with, and reads its decisions.
  const decisionLog = createDecisionLog();
  const authz = runAuthz
    ? createAuthzServer({
        getState: () => state,
        logger,
        metrics,
        ...(options.now ? { now: options.now } : {}),
        ...(config.admin ? { onDecision: (input, decision, nowMs) => decisionLog.record(toDecisionRecord(input, decision, nowMs)) } : {}),
      })
    : undefined;
  let auditPool: pg.Pool | undefined;
  let admin: AdminServer | undefined;
  if (runAuthz && config.admin) {
    let audit: AuditSink = createMemoryAuditSink();
    if (config.store.postgres) {
      const [{ default: pgClient }, { guardPoolConnections }] = await Promise.all([import('pg'), import('./stores/postgres/pool-guard.js')]);
      auditPool = new pgClient.Pool({ connectionString: config.store.postgres.url, max: 2, application_name: 'bouncer-audit', connectionTimeoutMillis: 2_000 });
      auditPool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'admin audit: idle database connection lost'));
      guardPoolConnections(auditPool, (err) => logger.warn({ err: { message: err.message } }, 'admin audit: database connection lost'));
      // The tenant store has already migrated the schema.
      audit = await createPgAuditSink({ pool: auditPool, migrate: false });
    }
    admin = createAdminServer({
      tenants: tenantStore ?? createFileTenantStore(() => config.tenants, () => config.source, Date.now, nowFn),
      revocation: shared.revocation,
      decisions: decisionLog,
      audit,
      tokens: () => config.admin?.tokens ?? [],
      config: () => config,
      clock: nowFn,
      logger,
      sessionRevocationMs: longestSession(config) * 1000,
      explain: (query, nowMs) => explainRequest(state, query, nowMs, { idpTypes: new Map(config.idps.map((i) => [i.id, i.type])) }),
      ...(docs
        ? {
            configWriter: {
              update: (who, change, validate) => (docs as ConfigDocuments).update(who, change, validate),
              async validate(overlay) {
                const attempt = await attemptConfigLoad(config.source, env, { overlay });
                if (!attempt.ok) throw attempt.error;
              },
            },
          }
        : {}),
    });
  }
  // SaaS apps (SAML IdP, OIDC provider) and the launcher need the login service's signing pair.
  const samlSigning = runHttp && config.auth ? await loadSamlIdpSigning(config.auth, nowFn()) : undefined;
  const oidcJwk = samlSigning ? { ...createPrivateKey(samlSigning.keyPem).export({ format: 'jwk' }), use: 'sig', alg: 'RS256' } : undefined;
  const http = runHttp
    ? createAuthServer({
        ...(samlSigning && oidcJwk ? { saas: { samlSigning: () => samlSigning, oidcSigningJwks: [oidcJwk] } } : {}),
        config: () => config,
        keys: parts.keys,
        revocation: shared.revocation,
        transactions: shared.transactions,
        flushRevocations: () => shared.revocation.flush(),
        connectors: () => connectorView,
        logger,
        clock: nowFn,
        ...(origin !== undefined ? { publicBaseUrl: origin } : {}),
        extraRoutes: opsRoutes,
      })
    : createOpsServer(opsRoutes);

  const apply = (next: BouncerConfig): void => {
    let nextConnectors: ReturnType<typeof buildConnectors>;
    try {
      checkTopology(next, role);
      nextConnectors = buildConnectors(next.idps, connectors, { samlReplay });
    } catch (err) {
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ err: { message: (err as Error).message } }, 'config reload failed (identity provider setup); keeping the last good config');
      return;
    }
    if (JSON.stringify(next.store) !== JSON.stringify(config.store)) {
      logger.warn('store settings changed; they take effect on the next restart');
      next = { ...next, store: config.store };
    }
    config = next;
    connectors = nextConnectors;
    connectorView = new Map([...connectors].map(([k, v]) => [k, v.connector]));
    state = toState(next, parts, origin, storeTenants, revocation);
    crls.sync(next.tenants);
    if (storeTenants) void warmFileHosts(storeTenants, fileHostnames(next));
    metrics.tenants.set(next.tenants.length);
    metrics.configReloads.inc({ result: 'success' });
    metrics.configLastReloadSuccess.set(1);
    metrics.configLastReloadTimestamp.set(Date.now() / 1000);
    // A tenant's bad trust data no longer fails the reload, so it must be told here.
    for (const w of next.warnings) logger.warn({ warning: w }, 'config warning');
    logger.info({ tenants: next.tenants.length }, 'config reloaded');
  };
  const watcher = watchConfig({
    path: config.source,
    env: options.env ?? process.env,
    initial: config,
    ...(options.watchIntervalMs !== undefined ? { intervalMs: options.watchIntervalMs } : {}),
    onReload: apply,
    overlay: () => docs?.current(),
    onError: (err) => {
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ err: err instanceof Error ? { code: (err as { code?: string }).code, message: err.message } : String(err) }, 'config reload failed; keeping the last good config');
    },
  });
  if (options.watch === false) watcher.close();
  // A change any replica made to the database's sections: reload now (reloadNow works even with watching off).
  const unsubscribeDocs = docs?.onChange(() => void watcher.reloadNow());

  const stopStores = async (): Promise<void> => {
    crls.close();
    clearInterval(rotation);
    unsubscribe?.();
    unsubscribeDocs?.();
    await docs?.close();
    await tenantStore?.close();
    await shared.close();
  };
  let authzPort = 0;
  let httpPort: number;
  let adminPort = 0;
  let xds: RunningXds | undefined;
  try {
    if (authz) authzPort = await authz.listen(config.listen.authz.host, config.listen.authz.port);
    httpPort = await http.listen(config.listen.http.host, config.listen.http.port);
    if (admin && config.admin) adminPort = await admin.listen(config.admin.listen.host, config.admin.listen.port);
    if (config.xds) xds = await startXds(options.hostnames ?? EMPTY_CATALOG, config.xds, { logger, registry: metrics.registry });
  } catch (err) {
    watcher.close();
    await authz?.close(0);
    await http.close();
    await admin?.close();
    await auditPool?.end();
    await stopStores();
    throw err;
  }
  logger.info(
    {
      role,
      ...(authz ? { authz: `${config.listen.authz.host}:${authzPort}` } : {}),
      http: `${config.listen.http.host}:${httpPort}`,
      ...(admin && config.admin ? { admin: `${config.admin.listen.host}:${adminPort}` } : {}),
      tenants: tenantStore ? 'postgres' : config.tenants.length,
      sharedState: shared.backend,
    },
    'bouncer listening',
  );

  let closing: Promise<void> | undefined;
  return {
    authzPort,
    adminPort,
    httpPort,
    xdsPort: xds?.port ?? 0,
    metrics,
    config: () => config,
    reload: () => watcher.reloadNow(),
    close(graceMs) {
      closing ??= (async () => {
        serving = false;
        watcher.close();
        // Envoy keeps the configuration it has; another replica, or this one restarted, takes over.
        await xds?.server.close();
        await authz?.close(graceMs);
        await http.close();
        await admin?.close();
        await auditPool?.end();
        // Revocations made here must reach the shared store before we go.
        await shared.revocation.flush().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'revocations not yet shared at shutdown'));
        await stopStores();
      })();
      return closing;
    },
  };
}

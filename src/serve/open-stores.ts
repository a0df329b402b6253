/**
 * The first step of `bouncer serve`: everything that holds state for the life
 * of the process (config documents in PostgreSQL, shared state, the tenant
 * store, session keys, revocation), each registering its close on the stack.
 */
import { FileHostAnswers, warmFileHosts, type StoreTenants } from '../authz/tenant-lookup.js';
import { SESSION_KEY_REFRESH_MS } from '../config/defaults.js';
import { loadConfig } from '../config/load.js';
import { REVOCATION_DEFAULTS } from '../config/defaults.js';
import { redactUrl } from '../config/store-schema.js';
import type { BouncerConfig } from '../config/types.js';
import { BouncerError } from '../core/errors.js';
import type { RevocationView } from '../core/revocation-policy.js';
import { createCrlFetcher, type CrlFetcher } from '../revocation/crl-fetcher.js';
import { createRevocationMetrics } from '../revocation/metrics.js';
import { createOcspChecker } from '../revocation/ocsp-checker.js';
import { createRevocationView } from '../revocation/revocation-view.js';
import { createRevocationStatus, type RevocationStatus } from '../revocation/revocation-status.js';
import { followCrlTenants, type CrlTenantSync } from '../revocation/tenant-sources.js';
import { keyOverlapMs, openKeyStore } from '../sessions/key-store.js';
import { createTokenCache } from '../sessions/token-cache.js';
import { createSharedState } from '../stores/create-shared-state.js';
import type { ConfigDocuments } from '../stores/postgres/config-documents.js';
import type { PgTenantStore } from '../stores/postgres/pg-tenant-store.js';
import { createFileTenantStore } from '../stores/file-tenant-store.js';
import type { OpenHostnames } from '../hostnames/open.js';
import { fileHostnames, longestSession, type SessionParts } from './authz-state.js';
import type { CleanupStack } from './cleanup-stack.js';
import { checkTopology, type ServeContext } from './context.js';

export interface Stores {
  /** The config to start with: the file, with the database's sections when `store.postgres` has them. */
  readonly config: BouncerConfig;
  readonly docs: ConfigDocuments | undefined;
  readonly parts: SessionParts;
  /** Only when this process runs ext_authz and tenants live in PostgreSQL. */
  readonly tenantStore: PgTenantStore | undefined;
  readonly storeTenants: StoreTenants | undefined;
  readonly crls: CrlFetcher;
  /** Keeps the CRL sources of the tenants in force: the file's, or the ones the tenant store has loaded. */
  readonly crlTenants: CrlTenantSync;
  /** This replica's view of stale CRLs and failing OCSP responders, per tenant (readiness body, admin API). */
  readonly revocationStatus: RevocationStatus;
  readonly revocation: RevocationView;
  /** Customer hostnames (docs/hostnames.md), when the config has a `hostnames` section. */
  readonly hostnames: OpenHostnames | undefined;
}

/** Apps, IdPs and service tokens may live in the database too: loads them with the file, validated together. */
async function openConfigDocuments(ctx: ServeContext, config: BouncerConfig, stack: CleanupStack): Promise<{ config: BouncerConfig; docs: ConfigDocuments | undefined }> {
  if (!config.store.postgres) return { config, docs: undefined };
  const url = config.store.postgres.url;
  // PostgreSQL's client and stores are loaded only when configured, so the
  // embedded default keeps them out of the live heap every full GC marks.
  const { openConfigDocuments: open } = await import('../stores/postgres/config-documents.js');
  let docs: ConfigDocuments;
  try {
    docs = await open({ connection: { connectionString: url }, onError: (err) => ctx.logger.warn({ err: { message: err.message } }, 'config documents: database connection problem') });
  } catch (err) {
    throw new BouncerError('ERR_STORE_UNAVAILABLE', `cannot read config documents at ${redactUrl(url)}: ${(err as Error).message}`, { cause: err });
  }
  stack.use('config documents', docs, (d) => d.close());
  const overlay = docs.current();
  return { config: overlay ? await loadConfig(config.source, ctx.env, { overlay }) : config, docs };
}

async function openTenantStore(ctx: ServeContext, config: BouncerConfig, stack: CleanupStack): Promise<PgTenantStore | undefined> {
  const pgConf = config.store.postgres;
  if (!ctx.runAuthz || !pgConf) return undefined;
  const { createPgTenantStore } = await import('../stores/postgres/pg-tenant-store.js');
  let store: PgTenantStore;
  try {
    store = await createPgTenantStore({ connection: { connectionString: pgConf.url }, cache: { maxEntries: pgConf.cacheMaxEntries }, logger: ctx.logger });
  } catch (err) {
    throw new BouncerError('ERR_STORE_UNAVAILABLE', `cannot open the tenant store at ${redactUrl(pgConf.url)}: ${(err as Error).message}`, { cause: err });
  }
  return stack.use('tenant store', store, (s) => s.close());
}

/**
 * Customer hostnames: their worker runs beside ext_authz (started with the
 * servers), the login service answers HTTP-01. Loaded only when configured.
 */
async function openCustomHostnames(ctx: ServeContext, config: BouncerConfig, tenantStore: PgTenantStore | undefined, stack: CleanupStack): Promise<OpenHostnames | undefined> {
  if (!config.hostnames || !(ctx.runAuthz || ctx.runHttp)) return undefined;
  const { openHostnames } = await import('../hostnames/open.js');
  const hostnames = await openHostnames({
    config: config.hostnames,
    postgresUrl: config.store.postgres?.url,
    tenants: tenantStore ?? createFileTenantStore(() => config.tenants, () => config.source, ctx.clock, ctx.clock),
    logger: ctx.logger,
    registry: ctx.metrics.registry,
    clock: ctx.clock,
    env: ctx.env,
    reserved: config.auth ? [config.auth.domain] : [],
  });
  return stack.use('customer hostnames', hostnames, (h) => h.close());
}

/**
 * Opens the stores for `initial` and registers their cleanup on `stack`. `flushOnClose`
 * is asked at shutdown whether revocations made here must still reach the shared store.
 */
export async function openStores(ctx: ServeContext, initial: BouncerConfig, stack: CleanupStack, flushOnClose: () => boolean): Promise<Stores> {
  const { logger, metrics, clock } = ctx;
  // One OCSP cache for the life of the process: its keys carry the tenant, and answers stay true across reloads.
  const revocationMetrics = createRevocationMetrics(metrics.registry);
  const revocationDeps = { now: clock, logger, metrics: revocationMetrics, settings: { ...REVOCATION_DEFAULTS } };
  const crls = stack.use('CRL fetcher', createCrlFetcher(revocationDeps), (c) => c.close());
  const ocsp = createOcspChecker(revocationDeps);
  const revocation = createRevocationView({ ocsp, crls, logger, metrics: revocationMetrics });
  const revocationStatus = createRevocationStatus({ crls, ocsp, maxListed: REVOCATION_DEFAULTS.statusMaxTenantsListed });

  const { config, docs } = await openConfigDocuments(ctx, initial, stack);
  checkTopology(config, ctx.role);

  const redis = config.store.redis;
  const sharedState = await createSharedState({
    ...(redis ? { redis: { url: redis.url, keyPrefix: redis.keyPrefix, failMode: redis.revocationFailMode, graceMs: redis.revocationGraceMs } } : {}),
    userRetentionMs: longestSession(config) * 1000,
    clock,
    onHealth: (h) => {
      metrics.storeUp.set({ store: 'redis' }, h.ok ? 1 : 0);
      if (h.ok) logger.info({ state: h.state }, 'shared store in sync');
      else logger.warn({ state: h.state, denyingAll: h.denyingAll, error: h.error }, 'shared store out of sync');
    },
    onError: (err) => logger.warn({ err: { message: err.message } }, 'redis connection error'),
  });
  const shared = ctx.tracing && redis ? ctx.tracing.traced(sharedState, 'redis') : sharedState;
  stack.defer('shared state', () => shared.close());
  // Revocations made here must reach the shared store before it closes (once the process has served).
  stack.defer('revocation flush', async () => {
    if (!flushOnClose()) return;
    await shared.revocation.flush().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'revocations not yet shared at shutdown'));
  });
  // Not fatal: until Redis answers, the stores fail closed (revocation per its fail mode, single-use checks refuse).
  await shared.start().catch((err: unknown) => logger.warn({ err: { message: (err as Error).message } }, 'shared store not ready; failing closed until it is'));
  if (redis) metrics.storeUp.set({ store: 'redis' }, shared.health().ok ? 1 : 0);

  const tenantStore = await openTenantStore(ctx, config, stack);
  const storeTenants: StoreTenants | undefined =
    tenantStore && config.store.postgres ? { store: ctx.tracing ? ctx.tracing.traced(tenantStore, 'postgresql') : tenantStore, timeoutMs: config.store.postgres.lookupTimeoutMs, fileHosts: new FileHostAnswers() } : undefined;
  // The file's own hosts get the store's answer now, so an outage later finds them known.
  if (storeTenants) await warmFileHosts(storeTenants, fileHostnames(config));

  const crlTenants = followCrlTenants(crls, tenantStore);
  stack.defer('CRL tenant sync', () => crlTenants.close());
  const hostnames = await openCustomHostnames(ctx, config, tenantStore, stack);

  const parts: SessionParts = {
    keys: await openKeyStore({
      dir: config.auth?.keysDir,
      rotateAfterDays: config.auth?.keyRotationDays ?? 30,
      overlapMs: keyOverlapMs(longestSession(config)),
      nowMs: clock(),
      clock,
      // Only when another process may read the same directory: otherwise a new key can sign at once.
      publishDelayMs: ctx.role !== 'all' || redis ? 2 * SESSION_KEY_REFRESH_MS : 0,
    }),
    shared,
    tokens: createTokenCache(),
  };
  const rotation = setInterval(() => {
    parts.keys.rotateIfDue(clock()).catch((err: unknown) => logger.error({ err }, 'session key rotation failed'));
  }, SESSION_KEY_REFRESH_MS);
  rotation.unref();
  stack.defer('session key rotation', () => clearInterval(rotation));

  return { config, docs, parts, tenantStore, storeTenants, crls, crlTenants, revocationStatus, revocation, hostnames };
}

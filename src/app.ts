import { createPrivateKey } from 'node:crypto';
import type { Logger } from 'pino';
import { loadSamlIdpSigning } from './web/saml-idp/index.js';
import { createAuthzServer, type AuthzState } from './authz/server.js';
import type { BouncerConfig } from './config/types.js';
import { watchConfig } from './config/watch.js';
import { createCertVerifier } from './core/cert-verifier.js';
import { buildTenantIndex } from './core/tenant-index.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import type { AuthSettings } from './core/app.js';
import { buildHostIndex } from './core/tenant-index.js';
import { createMemoryHandoffStore } from './sessions/handoff-store.js';
import { keyOverlapMs, openKeyStore, type KeyStore } from './sessions/key-store.js';
import { createMemoryRevocationStore, type RevocationStore } from './sessions/revocation.js';
import { createTokenCache } from './sessions/token-cache.js';
import { createAuthServer } from './web/auth/server.js';
import type { IdpConnector } from './web/idp/connector.js';
import { buildConnectors } from './web/idp/build.js';

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
  /**
   * Public origin of the login service when it is not `https://<auth.domain>`
   * (a non-default port, as in tests and the demo). Also `BOUNCER_AUTH_PUBLIC_URL`.
   */
  authPublicOrigin?: string;
}

/** Session machinery shared by ext_authz and the login service for the life of the process. */
interface SessionParts {
  readonly keys: KeyStore;
  readonly revocation: RevocationStore;
  readonly handoffs: ReturnType<typeof createMemoryHandoffStore>;
  readonly tokens: ReturnType<typeof createTokenCache>;
}

function authSettings(config: BouncerConfig, origin: string | undefined): AuthSettings | undefined {
  if (!config.auth) return undefined;
  return { domain: config.auth.domain, origin: (origin ?? `https://${config.auth.domain}`).replace(/\/+$/, '') };
}

function longestSession(config: BouncerConfig): number {
  return Math.max(config.auth?.sessionDurationSec ?? 0, ...config.apps.map((a) => a.sessionDurationSec), 3600);
}

function toState(config: BouncerConfig, parts: SessionParts, origin: string | undefined): AuthzState {
  const auth = authSettings(config, origin);
  return {
    tenants: buildTenantIndex(config.tenants),
    verifier: createCertVerifier({
      maxEntries: config.authz.cache.maxEntries,
      ttlMs: config.authz.cache.ttlSeconds * 1000,
    }),
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
              revocation: parts.revocation,
              handoffs: parts.handoffs,
              tokens: parts.tokens,
            },
          }
        : undefined,
  };
}

/** Wires config, the ext_authz server and the ops HTTP server together. */
export async function startBouncer(options: StartOptions): Promise<BouncerApp> {
  const { logger } = options;
  const metrics = createMetrics();
  let config = options.config;
  const origin = options.authPublicOrigin ?? (options.env ?? process.env).BOUNCER_AUTH_PUBLIC_URL;
  const nowFn = options.now ?? Date.now;
  const parts: SessionParts = {
    keys: await openKeyStore({
      dir: config.auth?.keysDir,
      rotateAfterDays: config.auth?.keyRotationDays ?? 30,
      overlapMs: keyOverlapMs(longestSession(config)),
      nowMs: nowFn(),
    }),
    revocation: createMemoryRevocationStore({ userRetentionMs: longestSession(config) * 1000 }),
    handoffs: createMemoryHandoffStore(),
    tokens: createTokenCache(),
  };
  let connectors = buildConnectors(config.idps);
  let connectorView: ReadonlyMap<string, IdpConnector> = new Map([...connectors].map(([k, v]) => [k, v.connector]));
  let state = toState(config, parts, origin);
  const rotation = setInterval(() => {
    parts.keys.rotateIfDue(nowFn()).catch((err: unknown) => logger.error({ err }, 'session key rotation failed'));
  }, 60_000);
  rotation.unref();
  metrics.tenants.set(config.tenants.length);
  metrics.configLastReloadSuccess.set(1);
  metrics.configLastReloadTimestamp.set(Date.now() / 1000);

  let serving = true;
  const authz = createAuthzServer({ getState: () => state, logger, metrics, ...(options.now ? { now: options.now } : {}) });
  // SaaS apps (SAML IdP, OIDC provider) and the launcher need the login service's signing pair.
  const samlSigning = config.auth ? await loadSamlIdpSigning(config.auth, nowFn()) : undefined;
  const oidcJwk = samlSigning ? { ...createPrivateKey(samlSigning.keyPem).export({ format: 'jwk' }), use: 'sig', alg: 'RS256' } : undefined;
  const ops = createAuthServer({
    ...(samlSigning && oidcJwk ? { saas: { samlSigning: () => samlSigning, oidcSigningJwks: [oidcJwk] } } : {}),
    config: () => config,
    keys: parts.keys,
    revocation: parts.revocation,
    connectors: () => connectorView,
    logger,
    clock: nowFn,
    ...(origin !== undefined ? { publicBaseUrl: origin } : {}),
    extraRoutes: {
      '/metrics': async () => ({ status: 200, contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
      '/readyz': async () =>
        serving
          ? { status: 200, contentType: 'application/json', body: '{"status":"ready"}' }
          : { status: 503, contentType: 'application/json', body: '{"status":"stopping"}' },
    },
  });

  const apply = (next: BouncerConfig): void => {
    let nextConnectors: ReturnType<typeof buildConnectors>;
    try {
      nextConnectors = buildConnectors(next.idps, connectors);
    } catch (err) {
      metrics.configReloads.inc({ result: 'failure' });
      metrics.configLastReloadSuccess.set(0);
      logger.error({ err: { message: (err as Error).message } }, 'config reload failed (identity provider setup); keeping the last good config');
      return;
    }
    config = next;
    connectors = nextConnectors;
    connectorView = new Map([...connectors].map(([k, v]) => [k, v.connector]));
    state = toState(next, parts, origin);
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
        clearInterval(rotation);
        watcher.close();
        await authz.close(graceMs);
        await ops.close();
      })();
      return closing;
    },
  };
}

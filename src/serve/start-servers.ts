/**
 * The second step of `bouncer serve`: ext_authz, the admin API beside it, and
 * the login service (or a bare ops server), created on the opened stores and
 * listening. Each registers its close on the stack as it is made.
 */
import { createPrivateKey } from 'node:crypto';
import type pg from 'pg';
import { createAdminServer, createDecisionLog, createMemoryAuditSink, createPgAuditSink, toDecisionRecord, type AuditSink, type XdsStatusFn } from '../admin/index.js';
import { explainRequest } from '../authz/explain.js';
import { createAuthzServer } from '../authz/server.js';
import { attemptConfigLoad } from '../config/load.js';
import { createOpsServer, type OpsRoute } from '../observability/ops-server.js';
import { createFileTenantStore } from '../stores/file-tenant-store.js';
import { createAuthServer } from '../web/auth/server.js';
import { loadSamlIdpSigning } from '../web/saml-idp/index.js';
import { longestSession } from './authz-state.js';
import type { CleanupStack } from './cleanup-stack.js';
import type { LiveConfig, ServeContext } from './context.js';
import type { Stores } from './open-stores.js';

export interface Listening {
  /** 0 when this process does not run ext_authz. */
  readonly authzPort: number;
  readonly httpPort: number;
  /** 0 when the admin API is off. */
  readonly adminPort: number;
}

export interface ServerOptions {
  readonly opsRoutes: Readonly<Record<string, OpsRoute>>;
  /** The grace ext_authz gives in-flight checks when it closes; read at close time. */
  readonly graceMs: () => number | undefined;
  /** Public origin of the login service, when set (it overrides `https://<auth.domain>`). */
  readonly origin: string | undefined;
  /** The xDS server's status, once it runs (it starts after these servers); shown by the admin API. */
  readonly xdsStatus?: XdsStatusFn | undefined;
}

async function openAuditSink(ctx: ServeContext, stores: Stores, stack: CleanupStack): Promise<AuditSink> {
  const pgConf = stores.config.store.postgres;
  if (!pgConf) return createMemoryAuditSink();
  const { logger } = ctx;
  const [{ default: pgClient }, { guardPoolConnections }] = await Promise.all([import('pg'), import('../stores/postgres/pool-guard.js')]);
  const pool: pg.Pool = new pgClient.Pool({ connectionString: pgConf.url, max: 2, application_name: 'bouncer-audit', connectionTimeoutMillis: 2_000 });
  stack.defer('admin audit pool', () => pool.end());
  pool.on('error', (err) => logger.warn({ err: { message: err.message } }, 'admin audit: idle database connection lost'));
  guardPoolConnections(pool, (err) => logger.warn({ err: { message: err.message } }, 'admin audit: database connection lost'));
  // The tenant store has already migrated the schema.
  return createPgAuditSink({ pool, migrate: false });
}

/** Creates the servers this role runs and binds them; resolves to their ports. */
export async function startServers(ctx: ServeContext, stores: Stores, live: LiveConfig, options: ServerOptions, stack: CleanupStack): Promise<Listening> {
  const { logger, metrics, clock } = ctx;
  const { parts, docs, tenantStore } = stores;
  const { shared } = parts;
  const config = live.config;
  // The admin API runs beside ext_authz: it manages what ext_authz decides with, and reads its decisions.
  const decisionLog = createDecisionLog();
  const admin =
    ctx.runAuthz && config.admin
      ? createAdminServer({
          tenants: tenantStore ?? createFileTenantStore(() => live.config.tenants, () => live.config.source, clock, clock),
          revocation: shared.revocation,
          decisions: decisionLog,
          audit: await openAuditSink(ctx, stores, stack),
          tokens: () => live.config.admin?.tokens ?? [],
          config: () => live.config,
          clock,
          logger,
          sessionRevocationMs: longestSession(config) * 1000,
          hostnames: stores.hostnames?.manager,
          revocationStatus: stores.revocationStatus.tenant,
          xdsStatus: options.xdsStatus,
          explain: (query, nowMs) => explainRequest(live.state, query, nowMs, { idpTypes: new Map(live.config.idps.map((i) => [i.id, i.type])) }),
          ...(docs
            ? {
                configWriter: {
                  update: (who, change, validate) => docs.update(who, change, validate),
                  async validate(overlay) {
                    const attempt = await attemptConfigLoad(live.config.source, ctx.env, { overlay });
                    if (!attempt.ok) throw attempt.error;
                  },
                },
              }
            : {}),
        })
      : undefined;
  if (admin) stack.defer('admin API', () => admin.close());

  // SaaS apps (SAML IdP, OIDC provider) and the launcher need the login service's signing pair.
  const samlSigning = ctx.runHttp && config.auth ? await loadSamlIdpSigning(config.auth, clock()) : undefined;
  const oidcJwk = samlSigning ? { ...createPrivateKey(samlSigning.keyPem).export({ format: 'jwk' }), use: 'sig', alg: 'RS256' } : undefined;
  const http = ctx.runHttp
    ? createAuthServer({
        ...(samlSigning && oidcJwk ? { saas: { samlSigning: () => samlSigning, oidcSigningJwks: [oidcJwk] } } : {}),
        config: () => live.config,
        keys: parts.keys,
        revocation: shared.revocation,
        transactions: shared.transactions,
        flushRevocations: () => shared.revocation.flush(),
        connectors: () => live.connectors,
        logger,
        clock,
        ...(options.origin !== undefined ? { publicBaseUrl: options.origin } : {}),
        extraRoutes: options.opsRoutes,
        ...(stores.hostnames ? { acmeChallenge: stores.hostnames.challenge } : {}),
        tracing: ctx.tracing,
      })
    : createOpsServer(options.opsRoutes);
  stack.defer(ctx.runHttp ? 'login service' : 'ops server', () => http.close());
  const authz = ctx.runAuthz
    ? createAuthzServer({
        getState: () => live.state,
        logger,
        metrics,
        now: clock,
        transport: config.authz.transport,
        limits: config.authz.limits,
        tracing: ctx.tracing,
        ...(config.admin ? { onDecision: (input, decision, nowMs) => decisionLog.record(toDecisionRecord(input, decision, nowMs)) } : {}),
      })
    : undefined;
  // Registered last so it closes first: NOT_SERVING and draining while the rest still answers.
  if (authz) stack.defer('ext_authz server', () => authz.close(options.graceMs()));

  // The hostname worker (ACME orders, renewals) runs in the ext_authz process, off the request path.
  if (ctx.runAuthz && stores.hostnames) await stores.hostnames.manager.start();
  // Its TLS-ALPN-01 answers too: with the in-memory store only this process knows the challenges.
  if (ctx.runAuthz && stores.hostnames) await stores.hostnames.listenTlsAlpn();

  const authzPort = authz ? await authz.listen(config.listen.authz.host, config.listen.authz.port) : 0;
  const httpPort = await http.listen(config.listen.http.host, config.listen.http.port);
  const adminPort = admin && config.admin ? await admin.listen(config.admin.listen.host, config.admin.listen.port) : 0;
  return { authzPort, httpPort, adminPort };
}

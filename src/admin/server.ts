/**
 * The admin HTTP API (issue #6): tenants, hostnames, CA bundles, CRLs, mTLS
 * settings, session revocation, decision and audit queries, read-only views of
 * the config, and its own OpenAPI 3.1 document at `GET /openapi.json`.
 *
 * Deps (all injected; nothing is read from globals):
 * - `tenants`: the {@link TenantStore} to manage (the PostgreSQL one in a fleet).
 * - `revocation`: the {@link RevocationStore} the session gate checks, the very
 *   same instance (a separate in-memory one would revoke nothing); when it has
 *   `flush` (Redis), answers say whether other replicas have it yet.
 * - `decisions`: a {@link DecisionLog}; `createDecisionLog()` gives the in-memory
 *   one whose `record` the ext_authz server should call per Check.
 * - `audit`: an {@link AuditSink}: `createPgAuditSink({ pool })` or `createMemoryAuditSink()`.
 * - `tokens`: `() => config.admin.tokens`, called per request, so a config
 *   reload adds, removes or re-scopes tokens at once.
 * - `config`: `() => currentConfig`, for the read-only apps/policies/IdPs/token views.
 * - `clock`: ms since the epoch (decides "expired" for uploaded CAs via the store, stamps audit entries).
 * - `logger`: pino; every change also goes to it as one JSON line `{ audit: … }`.
 * - `xdsStatus`: this replica's xDS server status, read per request (`GET /v1/xds/status`).
 * - `explain`: runs `POST /v1/access/explain` on the live ext_authz state (authz/explain.ts).
 * - `sessionRevocationMs`: how long a session revoked by id stays refused; pass
 *   the longest session duration of the config (default 30 days, the most it allows).
 *
 * Each operation is a route object (`routes/*.ts`): access, schemas, handler.
 * One error renderer gives every failure, fastify's own included, the shape
 * `{ error, message, request_id }`.
 */
import type { TenantRevocationLookup } from './routes/tenants.js';
import { isSafeRequestId } from '../core/request-id.js';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify, LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { TenantStore } from '../stores/tenant-store.js';
import { BUILD_INFO } from '../version.js';
import type { AuditEntry, AuditSink } from './audit-sink.js';
import type { DecisionLog } from './decision-log.js';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import { AdminError, renderError, type ErrorBody, type RenderedError } from './errors.js';
import { buildOpenApiDocument, type OpenApiDocument } from './openapi.js';
import type { AdminRoute, JsonSchema, RouteContext } from './route.js';
import { accessExplainRoutes, type ExplainFn } from './routes/access-explain.js';
import { configRoutes, type AdminConfigView } from './routes/config-views.js';
import { configWriteRoutes, type ConfigWriter } from './routes/config-writes.js';
import { auditRoutes, decisionRoutes } from './routes/decisions.js';
import { sessionRoutes, type AdminRevocationStore } from './routes/sessions.js';
import { metaRoutes } from './routes/meta.js';
import { tenantRoutes } from './routes/tenants.js';
import { customHostnameRoutes } from './routes/custom-hostnames.js';
import { xdsStatusRoutes, type XdsStatusFn } from './routes/xds-status.js';
import type { HostnameManager } from '../hostnames/manager-contract.js';
import { coerceQuery, parseJsonBody, pathOf, qualifyField, toDocPath } from './request-parsing.js';
import { grants } from '../config/admin-scopes.js';
import { authenticateBearer, type AdminToken } from './tokens.js';
import { describeSchemaError, pickSchemaError, type SchemaError } from './validation-message.js';

export interface AdminServerDeps {
  readonly tenants: TenantStore;
  readonly revocation: AdminRevocationStore;
  readonly decisions: DecisionLog;
  readonly audit: AuditSink;
  readonly tokens: () => readonly AdminToken[];
  readonly config: () => AdminConfigView;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly sessionRevocationMs?: number | undefined;
  /** Apps, IdPs and service tokens in the database (`store.postgres`); absent, their writes answer 409. */
  readonly configWriter?: ConfigWriter | undefined;
  /** Explains a described request on the live ext_authz state (`POST /v1/access/explain`); absent, it answers 503. */
  readonly explain?: ExplainFn | undefined;
  /** Customer hostnames (`hostnames` config section); absent, their operations answer 409 ERR_HOSTNAMES_NOT_CONFIGURED. */
  readonly hostnames?: HostnameManager | undefined;
  /** This replica's xDS server status (`GET /v1/xds/status`); absent or answering undefined, 409 ERR_XDS_NOT_CONFIGURED. */
  readonly xdsStatus?: XdsStatusFn | undefined;
  /** This replica's view of a tenant's revocation sources (stale CRLs, failing OCSP responders), shown in `trust.revocation`. */
  readonly revocationStatus?: TenantRevocationLookup | undefined;
  /** Default {@link ADMIN_DEFAULTS}.bodyLimitBytes; routes that take CRLs allow more. */
  readonly bodyLimitBytes?: number | undefined;
}

export interface AdminServer {
  /** Binds host:port (port 0 picks a free one); resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  close(): Promise<void>;
  /** The document served at `/openapi.json`. */
  readonly openapi: OpenApiDocument;
}

const REALM = 'realm="bouncer-admin"';

/** What one request has learned on its way through the hooks. */
interface RequestState {
  route: AdminRoute | undefined;
  caller: AdminToken | undefined;
  target: string | null;
  summary: Record<string, unknown>;
  errorCode: string | undefined;
}

/**
 * Builds the admin server; call `listen` to serve.
 *
 * @example
 * ```ts
 * const admin = createAdminServer({ tenants, revocation, decisions, audit,
 *   tokens: () => config.admin?.tokens ?? [], config: () => config, clock: Date.now, logger });
 * const port = await admin.listen(config.admin.listen.host, config.admin.listen.port);
 * ```
 */
export function createAdminServer(deps: AdminServerDeps): AdminServer {
  const states = new WeakMap<FastifyRequest, RequestState>();
  const stateOf = (req: FastifyRequest): RequestState => {
    let s = states.get(req);
    if (!s) {
      s = { route: undefined, caller: undefined, target: null, summary: {}, errorCode: undefined };
      states.set(req, s);
    }
    return s;
  };

  const routes: AdminRoute[] = [
    ...tenantRoutes(deps.tenants, deps.clock, deps.revocationStatus),
    ...sessionRoutes({ revocation: deps.revocation, sessionRevocationMs: deps.sessionRevocationMs ?? ADMIN_DEFAULTS.sessionRevocationMs }),
    ...decisionRoutes(deps.decisions),
    ...auditRoutes(deps.audit),
    ...configRoutes(deps.config, deps.tokens),
    ...configWriteRoutes(deps.configWriter),
    ...accessExplainRoutes(deps.explain),
    ...customHostnameRoutes(deps.hostnames),
    ...xdsStatusRoutes(deps.xdsStatus),
  ];
  // The document describes every route, itself included, so it is built once the table is complete.
  const document: { current?: OpenApiDocument } = {};
  routes.push(...metaRoutes(deps.tenants, () => document.current));
  const openapi = buildOpenApiDocument(routes, { version: BUILD_INFO.version });
  document.current = openapi;

  const app = fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // Audit lines say what changed; per-request lines would repeat them and log tokens' failures twice.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.bodyLimitBytes ?? ADMIN_DEFAULTS.bodyLimitBytes,
    // Exactly the documented operations: no implicit HEAD twins.
    exposeHeadRoutes: false,
    genReqId: (req) => {
      const h = req.headers['x-request-id'];
      return isSafeRequestId(h) ? h : randomUUID();
    },
    ajv: {
      customOptions: {
        // Unknown fields are errors, never silently dropped; body types are never
        // coerced ("5" is not 5). Query strings are coerced by `coerceQuery` below.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        // All errors, so the most helpful one can be picked (an unknown field
        // explains a missing one: `hostname` written for `hostnames`). Arrays
        // are bounded by maxItems, so this stays cheap on hostile input.
        allErrors: true,
        // Errors carry their schema and value, for messages that name the allowed fields.
        verbose: true,
      },
    },
  });
  // Only JSON bodies: text/plain would reach the schema as a string and fail less clearly.
  app.removeContentTypeParser('text/plain');
  // Our own JSON parser, to say why a body is refused (fastify's says "invalid" for both cases below).
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    reply.header('cache-control', 'no-store');
    reply.header('x-content-type-options', 'nosniff');
    return payload;
  });

  const sendError = (req: FastifyRequest, reply: FastifyReply, e: RenderedError): FastifyReply => {
    stateOf(req).errorCode = e.code;
    const body: ErrorBody = { error: e.code, message: e.message, request_id: req.id, ...(e.field !== undefined ? { field: e.field } : {}), ...(e.reason !== undefined ? { reason: e.reason } : {}) };
    return reply.code(e.status).headers(e.headers).type('application/json; charset=utf-8').send(body);
  };

  app.setErrorHandler((err, req, reply) => {
    const validation = (err as { validation?: unknown }).validation;
    if (Array.isArray(validation) && validation.length > 0) {
      const context = (err as { validationContext?: string }).validationContext ?? 'body';
      const { message, field } = describeSchemaError(context, pickSchemaError(validation as SchemaError[]));
      return sendError(req, reply, { status: 400, code: 'ERR_ADMIN_BAD_REQUEST', message, field, headers: {} });
    }
    const rendered = qualifyField(stateOf(req).route, renderError(err));
    if (rendered.status >= 500 && rendered.code === 'ERR_ADMIN_INTERNAL') req.log.error({ err, request_id: req.id }, 'admin API: internal error');
    return sendError(req, reply, rendered);
  });

  const matchers = routes.map((r) => ({ method: r.method, pattern: new RegExp(`^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`) }));
  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.url);
    const allowed = [...new Set(matchers.filter((m) => m.pattern.test(path)).map((m) => m.method))];
    if (allowed.length > 0) {
      return sendError(req, reply, {
        status: 405,
        code: 'ERR_ADMIN_METHOD_NOT_ALLOWED',
        message: `${req.method} is not allowed on ${path}; use ${allowed.join(' or ')}`,
        field: undefined,
        headers: { allow: allowed.join(', ') },
      });
    }
    return sendError(req, reply, { status: 404, code: 'ERR_ADMIN_NOT_FOUND', message: `no operation ${req.method} ${path}; GET /openapi.json lists them`, field: undefined, headers: {} });
  });

  /** Bearer check and scope check, before the body is even read. */
  const authorize = async (req: FastifyRequest, route: AdminRoute): Promise<void> => {
    stateOf(req).route = route;
    if (route.access === 'public') return;
    const auth = authenticateBearer(req.headers.authorization, deps.tokens());
    if (!auth.ok) {
      deps.logger.warn({ reason: auth.reason, method: req.method, path: pathOf(req.url), remote: req.ip, request_id: req.id }, 'admin API: authentication failed');
      const message =
        auth.reason === 'missing'
          ? 'this operation needs an admin token: send Authorization: Bearer <token>'
          : auth.reason === 'malformed'
            ? 'the Authorization header must be "Bearer <token>"'
            : 'the bearer token matches no admin token';
      const challenge = auth.reason === 'missing' ? `Bearer ${REALM}` : `Bearer ${REALM}, error="invalid_token"`;
      throw new AdminError('ERR_ADMIN_UNAUTHENTICATED', message, { headers: { 'www-authenticate': challenge } });
    }
    stateOf(req).caller = auth.token;
    if (route.access !== 'authenticated' && !grants(auth.token.scopes, route.access)) {
      throw new AdminError('ERR_ADMIN_FORBIDDEN', `token '${auth.token.id}' lacks scope '${route.access}', which ${route.method} ${toDocPath(route.url)} needs (it has: ${auth.token.scopes.join(', ') || 'none'})`, {
        headers: { 'www-authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${route.access}"` },
      });
    }
  };

  /** One entry per change attempt by a known caller: to the log first, then to the sink. */
  const writeAudit = async (req: FastifyRequest, reply: FastifyReply, route: AdminRoute): Promise<void> => {
    const state = stateOf(req);
    // No caller: the request was refused before anyone could be named (401); the warning above logged it.
    if (!state.caller || route.audit === undefined) return;
    const params = req.params as Readonly<Record<string, string>> | undefined;
    const entry: AuditEntry = {
      time: deps.clock(),
      actor: state.caller.id,
      action: route.audit,
      method: req.method,
      path: pathOf(req.url),
      target: state.target ?? params?.name ?? null,
      status: reply.statusCode,
      result: reply.statusCode < 400 ? 'ok' : (state.errorCode ?? 'error'),
      summary: state.summary,
      request_id: req.id,
    };
    deps.logger.info({ audit: entry }, 'admin change');
    try {
      await deps.audit.write(entry);
    } catch (err) {
      deps.logger.error({ err, audit: entry }, 'admin API: audit entry could not be stored (the log line above is the record)');
    }
  };

  for (const route of routes) {
    const response: Record<number, JsonSchema> = {};
    for (const [status, r] of Object.entries(route.schema.responses)) if (r.schema) response[Number(status)] = r.schema;
    app.route({
      method: route.method,
      url: route.url,
      ...(route.bodyLimit !== undefined ? { bodyLimit: route.bodyLimit } : {}),
      schema: {
        ...(route.schema.params ? { params: route.schema.params } : {}),
        ...(route.schema.querystring ? { querystring: route.schema.querystring } : {}),
        ...(route.schema.body ? { body: route.schema.body } : {}),
        response,
      },
      onRequest: async (req) => authorize(req, route),
      preValidation: async (req) => coerceQuery(req.query, route.schema.querystring),
      ...(route.audit !== undefined
        ? {
            onSend: async (req: FastifyRequest, reply: FastifyReply, payload: unknown) => {
              await writeAudit(req, reply, route);
              return payload;
            },
          }
        : {}),
      handler: async (req, reply) => {
        const state = stateOf(req);
        const ctx: RouteContext = {
          params: (req.params ?? {}) as Readonly<Record<string, string>>,
          query: (req.query ?? {}) as Readonly<Record<string, unknown>>,
          body: req.body,
          caller: state.caller,
          requestId: req.id,
          nowMs: deps.clock(),
          note(target, summary) {
            state.target = target;
            if (summary) Object.assign(state.summary, summary);
          },
        };
        const result = await route.handle(ctx);
        if (result.headers) reply.headers(result.headers);
        reply.code(result.status);
        if (result.body === undefined) return reply.send();
        return result.body;
      },
    });
  }

  return {
    openapi,
    async listen(host, port) {
      await app.listen({ host, port });
      return (app.server.address() as AddressInfo).port;
    },
    async close() {
      await app.close();
    },
  };
}

/**
 * The OpenAPI 3.1 document of the admin API, generated from the route table
 * the server registers: the same parameter, body and response schemas that
 * fastify validates and serialises with, so the document cannot drift from
 * what the server does.
 */
import { ERROR_SCHEMA } from './schemas.js';
import type { AdminRoute, JsonSchema } from './route.js';
import { ADMIN_SCOPES } from '../config/admin-scopes.js';

export type OpenApiDocument = { readonly openapi: '3.1.0' } & Readonly<Record<string, unknown>>;

const ERROR_TEXT: Readonly<Record<number, string>> = {
  400: 'Invalid input: bad JSON, a field of the wrong type, an unknown or missing field, or a value the checks refuse (ERR_CA_INVALID, ERR_CRL_INVALID, ERR_TENANT_INVALID).',
  401: 'No bearer token, or one that matches no admin token (ERR_ADMIN_UNAUTHENTICATED).',
  403: 'The token lacks the scope this operation needs; the message names it (ERR_ADMIN_FORBIDDEN).',
  404: 'No such tenant or hostname (ERR_TENANT_NOT_FOUND, ERR_HOSTNAME_NOT_FOUND).',
  409: 'Conflict: the hostname belongs to another tenant (ERR_HOSTNAME_TAKEN), or the tenant exists (ERR_TENANT_EXISTS), or it changed meanwhile (ERR_TENANT_CONFLICT), or the section is kept in the config file (ERR_STORE_READ_ONLY, ERR_CONFIG_READ_ONLY), or the feature is not configured (ERR_HOSTNAMES_NOT_CONFIGURED, ERR_XDS_NOT_CONFIGURED).',
  413: 'The body is larger than this operation accepts (ERR_ADMIN_BODY_TOO_LARGE).',
  415: 'The body is not application/json (ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE).',
  500: 'Internal error (ERR_ADMIN_INTERNAL); the log has details under the request id.',
  503: 'A store cannot answer right now (ERR_STORE_UNAVAILABLE, ERR_ADMIN_UNAVAILABLE); retry later.',
};

const TAGS = [
  { name: 'tenants', description: 'Tenants, their hostnames, CA bundles, CRLs and mTLS settings.' },
  { name: 'sessions', description: 'Revoking login sessions.' },
  { name: 'decisions', description: 'Recent access decisions.' },
  { name: 'access', description: 'Explaining access decisions, as ext_authz would make them.' },
  { name: 'audit', description: 'The audit trail of changes made through this API.' },
  { name: 'config', description: 'Read-only views of the config file in force.' },
  { name: 'hostnames', description: 'Customer hostnames: their certificates (ACME or uploaded) and lifecycle states.' },
  { name: 'meta', description: 'This document and health.' },
];

/** `/v1/tenants/:name` → `/v1/tenants/{name}`. */
export function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function parameters(where: 'path' | 'query', schema: JsonSchema | undefined): object[] {
  const props = (schema?.properties ?? {}) as Readonly<Record<string, JsonSchema>>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(props).map(([name, s]) => {
    const { description, ...rest } = s;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: rest,
    };
  });
}

const errorResponse = (status: number): object => ({
  description: ERROR_TEXT[status] ?? 'Error.',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

function operation(route: AdminRoute): object {
  const s = route.schema;
  const errors = new Set<number>(s.errors ?? []);
  if (s.params || s.querystring || s.body) errors.add(400);
  if (route.access !== 'public') errors.add(401);
  if (route.access !== 'public' && route.access !== 'authenticated') errors.add(403);
  if (s.body) {
    errors.add(413);
    errors.add(415);
  }
  errors.add(500);
  const responses: Record<string, object> = {};
  for (const [status, r] of Object.entries(s.responses)) {
    responses[status] = { description: r.description, ...(r.schema ? { content: { 'application/json': { schema: r.schema } } } : {}) };
  }
  for (const status of [...errors].sort((a, b) => a - b)) responses[String(status)] = errorResponse(status);
  const scopeNote =
    route.access === 'public' ? 'No token needed.' : route.access === 'authenticated' ? 'Any valid admin token.' : `Needs scope \`${route.access}\` (or \`admin\`).`;
  return {
    operationId: route.operationId,
    summary: route.summary,
    description: [route.description, scopeNote].filter((x) => x !== undefined).join('\n\n'),
    tags: [route.tag],
    security: route.access === 'public' ? [] : [{ bearerAuth: [] }],
    ...(route.access !== 'public' && route.access !== 'authenticated' ? { 'x-required-scope': route.access } : {}),
    ...(route.audit !== undefined ? { 'x-audit-action': route.audit } : {}),
    parameters: [...parameters('path', s.params), ...parameters('query', s.querystring)],
    ...(s.body ? { requestBody: { required: true, content: { 'application/json': { schema: s.body } } } } : {}),
    responses,
  };
}

/**
 * Builds the document for `routes`.
 *
 * @example
 * ```ts
 * const doc = buildOpenApiDocument(routes, { version: BUILD_INFO.version });
 * ```
 */
export function buildOpenApiDocument(routes: readonly AdminRoute[], info: { version: string }): OpenApiDocument {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const path = toOpenApiPath(r.url);
    paths[path] = { ...paths[path], [r.method.toLowerCase()]: operation(r) };
  }
  const scopes = Object.entries(ADMIN_SCOPES)
    .map(([name, what]) => `- \`${name}\`: ${what}`)
    .join('\n');
  return {
    openapi: '3.1.0',
    info: {
      title: 'bouncer admin API',
      version: info.version,
      summary: "Tenants, CA bundles, CRLs, session revocation and decision queries for a SaaS provider's automation.",
      description: `Authenticate with \`Authorization: Bearer <token>\`; each token has scopes:\n\n${scopes}\n\nEvery change is audited (GET /v1/audit). Errors are always \`{ "error", "message", "request_id" }\`.`,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: TAGS,
    paths,
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An admin token; the config holds its SHA-256 (admin.tokens[].secret_sha256).' },
      },
    },
  };
}

import type { TenantStore } from '../../stores/tenant-store.js';
import { AdminError } from '../errors.js';
import type { OpenApiDocument } from '../openapi.js';
import type { AdminRoute } from '../route.js';

/** GET /openapi.json and GET /healthz. */
export function metaRoutes(tenants: TenantStore, openapi: () => OpenApiDocument | undefined): AdminRoute[] {
  return [
    {
      method: 'GET',
      url: '/openapi.json',
      operationId: 'getOpenApi',
      summary: 'This OpenAPI 3.1 document',
      description: 'Public: it describes the API, holds no data, and tooling fetches it before it has a token.',
      tag: 'meta',
      access: 'public',
      schema: { responses: { 200: { description: 'The document.', schema: { type: 'object', additionalProperties: true } } } },
      async handle() {
        return { status: 200, body: openapi() };
      },
    },
    {
      method: 'GET',
      url: '/healthz',
      operationId: 'getHealth',
      summary: 'Whether the admin API and its tenant store can serve',
      tag: 'meta',
      access: 'public',
      schema: {
        responses: {
          200: {
            description: 'Serving.',
            schema: { type: 'object', additionalProperties: false, required: ['status'], properties: { status: { type: 'string', enum: ['ok', 'degraded'] } } },
          },
        },
        errors: [503],
      },
      async handle() {
        // Only a verdict: the store's reason may name database hosts, and this needs no token.
        if (tenants.health().healthy) return { status: 200, body: { status: 'ok' } };
        throw new AdminError('ERR_ADMIN_UNAVAILABLE', 'the tenant store cannot reach its database');
      },
    },
  ];
}

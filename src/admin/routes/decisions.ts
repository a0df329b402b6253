/** Recent access decisions (this replica's in-memory log) and the admin audit trail. */
import type { AuditSink } from '../audit-sink.js';
import type { DecisionLog } from '../decision-log.js';
import type { AdminRoute } from '../route.js';
import { QUERY_LIMIT, SINCE_QUERY } from '../schemas.js';

const DECISION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['time', 'request_id', 'host', 'path', 'method', 'tenant', 'app', 'allow', 'status', 'reason', 'sub', 'email', 'cert_fingerprint'],
  properties: {
    time: { type: 'string', format: 'date-time' },
    request_id: { type: 'string' },
    host: { type: 'string' },
    path: { type: 'string', description: 'Without the query string.' },
    method: { type: 'string' },
    tenant: { type: ['string', 'null'] },
    app: { type: ['string', 'null'] },
    allow: { type: 'boolean' },
    status: { type: 'integer' },
    reason: { type: 'string', description: 'Reason code (docs/reasons.md).' },
    sub: { type: ['string', 'null'], description: 'The signed-in user, when a session decided.' },
    email: { type: ['string', 'null'] },
    cert_fingerprint: { type: ['string', 'null'], description: 'SHA-256 of the verified client certificate.' },
  },
} as const;

const AUDIT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['time', 'actor', 'action', 'method', 'path', 'target', 'status', 'result', 'summary', 'request_id'],
  properties: {
    time: { type: 'string', format: 'date-time' },
    actor: { type: 'string', description: 'Id of the admin token that made the call.' },
    action: { type: 'string', description: 'tenant.create, tenant.ca.replace, session.revoke…' },
    method: { type: 'string' },
    path: { type: 'string' },
    target: { type: ['string', 'null'] },
    status: { type: 'integer' },
    result: { type: 'string', description: 'ok, or the error code answered.' },
    summary: { type: 'object', additionalProperties: true, description: 'What changed, without secrets (CA bundles as fingerprints).' },
    request_id: { type: 'string' },
  },
} as const;

const list = (items: object) => ({ type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items } } });

const sinceMs = (since: unknown): number | undefined => (typeof since === 'string' ? Date.parse(since) : undefined);

export function decisionRoutes(decisions: DecisionLog): AdminRoute[] {
  return [
    {
      method: 'GET',
      url: '/v1/decisions',
      operationId: 'listDecisions',
      summary: 'Recent access decisions, newest first',
      description: "From this replica's bounded in-memory log; filters combine with AND. The JSON decision log lines are the durable record.",
      tag: 'decisions',
      access: 'decisions:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: SINCE_QUERY,
            host: { type: 'string', maxLength: 253, description: 'Exact host, lowercase, without port.' },
            tenant: { type: 'string', maxLength: 63 },
            reason: { type: 'string', maxLength: 64, description: 'Reason code, such as client_cert_untrusted.' },
            allow: { type: 'boolean' },
            limit: QUERY_LIMIT,
          },
        },
        responses: { 200: { description: 'Matching decisions.', schema: list(DECISION_SCHEMA) } },
      },
      async handle(ctx) {
        const q = ctx.query;
        const items = decisions.recent({
          since: sinceMs(q.since),
          host: typeof q.host === 'string' ? q.host.toLowerCase() : undefined,
          tenant: q.tenant as string | undefined,
          reason: q.reason as string | undefined,
          allow: q.allow as boolean | undefined,
          limit: q.limit as number | undefined,
        });
        return { status: 200, body: { items: items.map((d) => ({ ...d, time: new Date(d.time).toISOString() })) } };
      },
    },
  ];
}

export function auditRoutes(audit: AuditSink): AdminRoute[] {
  return [
    {
      method: 'GET',
      url: '/v1/audit',
      operationId: 'listAudit',
      summary: 'Recent admin API changes, newest first',
      description: 'One entry per change attempt, failed ones included (their result is the error code).',
      tag: 'audit',
      access: 'audit:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: SINCE_QUERY,
            actor: { type: 'string', maxLength: 128, description: 'Admin token id.' },
            target: { type: 'string', maxLength: 512, description: 'Tenant name, session id or user.' },
            limit: QUERY_LIMIT,
          },
        },
        responses: { 200: { description: 'Matching entries.', schema: list(AUDIT_SCHEMA) } },
        errors: [503],
      },
      async handle(ctx) {
        const q = ctx.query;
        const items = await audit.recent({ since: sinceMs(q.since), actor: q.actor as string | undefined, target: q.target as string | undefined, limit: q.limit as number | undefined });
        return { status: 200, body: { items: items.map((e) => ({ ...e, time: new Date(e.time).toISOString() })) } };
      },
    },
  ];
}

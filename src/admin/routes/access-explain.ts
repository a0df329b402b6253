/**
 * `POST /v1/access/explain`: the decision the running ext_authz server would
 * make for a described request, made on its live state by its own decision
 * steps, with the rule that made it and how every other rule came out.
 *
 * Scope `config:read`: the answer shows an app's policies and rules, which is
 * what that scope reads; it changes nothing, so it is not audited.
 */
import { BouncerError } from '../../core/errors.js';
import type { Explanation, ExplainQuery } from '../../core/explanation.js';
import { AdminError } from '../errors.js';
import type { AdminRoute } from '../route.js';

/** Runs one explanation on the server's live state; injected by the wiring (serve/start-servers.ts). */
export type ExplainFn = (query: ExplainQuery, nowMs: number) => Promise<Explanation>;

const STRINGS = { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 256 } } as const;
const NULLABLE_STRING = { type: 'string' } as const;

const BODY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['host'],
  properties: {
    host: { type: 'string', minLength: 1, maxLength: 260, description: 'Host (:authority) of the request, optionally with a port.' },
    path: { type: 'string', maxLength: 8192, description: 'Path and query string; default /.' },
    method: { type: 'string', maxLength: 16, description: 'Default GET.' },
    sni: { type: 'string', maxLength: 253, description: 'TLS server name; default the host.' },
    source_ip: { type: 'string', maxLength: 64, description: 'Client address, as Envoy reports it.' },
    accept: { type: 'string', maxLength: 1024, description: 'Accept header; default text/html (a browser, sent to sign in).' },
    certificate_pem: { type: 'string', maxLength: 65536, description: 'Client certificate PEM, leaf first, then intermediates the client sends.' },
    session_token: { type: 'string', maxLength: 16384, description: 'An app session JWT (the __Host-bouncer_session cookie), verified like the cookie.' },
    claims: {
      type: 'object',
      additionalProperties: false,
      description: 'Asserted session claims instead of a token; not verified, and the answer says so.',
      properties: {
        email: { type: 'string', maxLength: 320 },
        sub: { type: 'string', maxLength: 512 },
        name: { type: 'string', maxLength: 512 },
        groups: STRINGS,
        idp: { type: 'string', maxLength: 128 },
        amr: STRINGS,
        login_time: { type: 'string', format: 'date-time', description: 'When the user signed in; default the explained moment.' },
      },
    },
    service_token: {
      type: 'object',
      additionalProperties: false,
      required: ['client_id', 'client_secret'],
      properties: { client_id: { type: 'string', minLength: 1, maxLength: 256 }, client_secret: { type: 'string', minLength: 1, maxLength: 1024 } },
    },
    service_token_id: { type: 'string', maxLength: 128, description: 'An asserted service token id instead of credentials; not verified, and the answer says so.' },
    country: { type: 'string', maxLength: 2, description: 'ISO 3166 alpha-2, as the trusted country header would carry it.' },
    at: { type: 'string', format: 'date-time', description: 'Decide at another moment; default now.' },
  },
} as const;

const POLICY = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'action', 'outcome', 'why', 'decided'],
  properties: {
    name: { type: 'string' },
    action: { type: 'string', enum: ['allow', 'deny', 'bypass', 'service_auth'] },
    outcome: { type: 'string', enum: ['matched', 'not_matched', 'needs_login', 'not_evaluated'] },
    why: { type: 'string' },
    decided: { type: 'boolean' },
  },
} as const;

const EXPLANATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['decision', 'status', 'reason', 'detail', 'at', 'request', 'session', 'policies', 'notes'],
  properties: {
    decision: { type: 'string', enum: ['allow', 'deny'] },
    status: { type: 'integer', description: 'HTTP status ext_authz would answer with; 200 on allow.' },
    reason: { type: 'string', description: 'Reason code (docs/reasons.md).' },
    detail: { type: 'string' },
    location: { ...NULLABLE_STRING, description: 'For 302 answers: the login URL.' },
    tenant: NULLABLE_STRING,
    app: NULLABLE_STRING,
    policy: { ...NULLABLE_STRING, description: 'The policy that decided, when one did.' },
    at: { type: 'string', format: 'date-time' },
    request: {
      type: 'object',
      additionalProperties: false,
      required: ['host', 'path', 'method'],
      properties: { host: { type: 'string' }, path: { type: 'string' }, method: { type: 'string' }, sni: { type: 'string' }, source_ip: { type: 'string' }, country: { type: 'string' } },
    },
    mtls: {
      type: 'object',
      additionalProperties: false,
      required: ['ok', 'reason'],
      properties: { ok: { type: 'boolean' }, reason: { type: 'string' }, detail: { type: 'string' } },
    },
    certificate: {
      type: 'object',
      additionalProperties: false,
      required: ['subject', 'issuer', 'serial', 'fingerprint256', 'not_after'],
      properties: { subject: { type: 'string' }, issuer: { type: 'string' }, serial: { type: 'string' }, fingerprint256: { type: 'string' }, not_after: { type: 'string', format: 'date-time' } },
    },
    session: {
      type: 'object',
      additionalProperties: false,
      required: ['source', 'verified', 'status'],
      properties: {
        source: { type: 'string', enum: ['none', 'token', 'asserted'] },
        verified: { type: 'boolean' },
        status: { type: 'string', description: 'valid, absent, or why a token was refused.' },
        detail: { type: 'string' },
        sub: { type: 'string' },
        email: { type: 'string' },
        groups: { type: 'array', items: { type: 'string' } },
        idp: { type: 'string' },
        amr: { type: 'array', items: { type: 'string' } },
        auth_time: { type: 'string', format: 'date-time' },
      },
    },
    service_token: {
      type: 'object',
      additionalProperties: false,
      required: ['client_id', 'asserted'],
      properties: {
        client_id: { type: 'string' },
        id: { type: 'string', description: 'The configured token it matched; absent when it matched none.' },
        asserted: { type: 'boolean', description: 'True when the id was asserted (service_token_id), not checked.' },
      },
    },
    policies: { type: 'array', items: POLICY, description: "The app's policies in evaluation order (bypass, service_auth, deny, allow)." },
    notes: { type: 'array', items: { type: 'string' }, description: 'What this explanation could not see or check.' },
  },
} as const;

interface ExplainBody {
  host: string;
  path?: string;
  method?: string;
  sni?: string;
  source_ip?: string;
  accept?: string;
  certificate_pem?: string;
  session_token?: string;
  claims?: { email?: string; sub?: string; name?: string; groups?: string[]; idp?: string; amr?: string[]; login_time?: string };
  service_token?: { client_id: string; client_secret: string };
  service_token_id?: string;
  country?: string;
  at?: string;
}

function toQuery(b: ExplainBody): ExplainQuery {
  const c = b.claims;
  return {
    host: b.host,
    path: b.path,
    method: b.method,
    sni: b.sni,
    sourceIp: b.source_ip,
    accept: b.accept,
    certificatePem: b.certificate_pem,
    sessionToken: b.session_token,
    claims: c === undefined ? undefined : { email: c.email, sub: c.sub, name: c.name, groups: c.groups, idp: c.idp, amr: c.amr, loginTimeMs: c.login_time !== undefined ? Date.parse(c.login_time) : undefined },
    serviceToken: b.service_token === undefined ? undefined : { clientId: b.service_token.client_id, clientSecret: b.service_token.client_secret },
    serviceTokenId: b.service_token_id,
    country: b.country,
  };
}

export function accessExplainRoutes(explain: ExplainFn | undefined): AdminRoute[] {
  return [
    {
      method: 'POST',
      url: '/v1/access/explain',
      operationId: 'explainAccess',
      summary: 'Explain the decision ext_authz would make for a request',
      description:
        "Runs the request through this replica's live ext_authz decision (same tenants, apps, keys and revocations) and answers with the decision, the tenant, app and policy that made it, and every policy's outcome. A session given as claims is asserted, not verified; the answer says so. Nothing is recorded in the decision log.",
      tag: 'access',
      access: 'config:read',
      schema: {
        body: BODY_SCHEMA,
        responses: { 200: { description: 'The explanation (also for denials: the status field says what the client would get).', schema: EXPLANATION_SCHEMA } },
        errors: [503],
      },
      async handle(ctx) {
        if (explain === undefined) throw new AdminError('ERR_ADMIN_UNAVAILABLE', 'this process does not run ext_authz, so it has no decisions to explain');
        const body = ctx.body as ExplainBody;
        const nowMs = body.at !== undefined ? Date.parse(body.at) : ctx.nowMs;
        try {
          return { status: 200, body: await explain(toQuery(body), nowMs) };
        } catch (err) {
          if (err instanceof BouncerError && err.code === 'ERR_EXPLAIN_INPUT') throw new AdminError('ERR_ADMIN_BAD_REQUEST', err.message);
          throw err;
        }
      },
    },
  ];
}

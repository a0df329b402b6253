/**
 * Read-only views of what the config file in force defines: apps and SaaS
 * apps, their policies, identity providers, service token ids, admin token ids.
 * These live in the YAML file (reviewed, versioned, hot-reloaded), so the API
 * shows them and never changes them. No secret and no hash ever leaves:
 * IdPs show their public identifiers, tokens only their ids.
 */
import type { BouncerConfig } from '../../config/types.js';
import type { CompiledPolicy, Selector } from '../../core/policy/types.js';
import type { AdminRoute } from '../route.js';
import type { AdminToken } from '../tokens.js';

/** The parts of the config these views read; `() => currentConfig` follows reloads. */
export type AdminConfigView = Pick<BouncerConfig, 'apps' | 'saasApps' | 'idps' | 'serviceTokens'>;

const STRINGS = { type: 'array', items: { type: 'string' } } as const;
const list = (items: object) => ({ type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items } } });

const POLICY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['app', 'name', 'action', 'include', 'require', 'exclude'],
  properties: {
    app: { type: 'string' },
    name: { type: 'string' },
    action: { type: 'string', enum: ['allow', 'deny', 'bypass', 'service_auth'] },
    include: { type: 'array', items: { type: 'object', additionalProperties: true }, description: 'Selectors as written: { email: [...] }, { ip: [...] }, { cel: "..." }…' },
    require: { type: 'array', items: { type: 'object', additionalProperties: true } },
    exclude: { type: 'array', items: { type: 'object', additionalProperties: true } },
  },
} as const;

const APP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'kind', 'hostnames', 'idps', 'session_duration_sec', 'policies'],
  properties: {
    name: { type: 'string' },
    kind: { type: 'string', enum: ['app', 'saas_saml', 'saas_oidc'] },
    hostnames: { ...STRINGS, description: 'Hostnames behind the login (empty for SaaS apps, which live elsewhere).' },
    idps: STRINGS,
    session_duration_sec: { type: 'integer' },
    api_paths: STRINGS,
    policies: { ...STRINGS, description: 'Policy names, in evaluation order; GET /v1/policies has their rules.' },
  },
} as const;

const IDP_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'type'],
  properties: {
    id: { type: 'string' },
    type: { type: 'string', enum: ['oidc', 'github', 'saml'] },
    preset: { type: 'string' },
    issuer: { type: 'string' },
    client_id: { type: 'string', description: 'Public OAuth client id; the client secret is never shown.' },
    scopes: STRINGS,
    orgs: STRINGS,
    entity_id: { type: 'string' },
  },
} as const;

const ID_SCHEMA = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string' } } } as const;

const ADMIN_TOKEN_SCHEMA = { type: 'object', additionalProperties: false, required: ['id', 'scopes'], properties: { id: { type: 'string' }, scopes: STRINGS } } as const;

/** A selector as the config file writes it. */
export function selectorToJson(s: Selector): Record<string, unknown> {
  switch (s.kind) {
    case 'everyone':
    case 'certificate':
    case 'any_service_token':
      return { [s.kind]: true };
    case 'ip':
      return { ip: s.ranges.map((r) => r.source) };
    case 'login_age':
      return { login_age: s.maxSeconds };
    case 'cel':
      return { cel: s.program.source };
    case 'certificate_san':
      return { certificate_san: [...s.values] };
    default:
      return { [s.kind]: [...s.values].sort() };
  }
}

function policiesOf(app: string, policies: readonly CompiledPolicy[]): Array<Record<string, unknown>> {
  return policies.map((p) => ({
    app,
    name: p.name,
    action: p.action,
    include: p.include.map(selectorToJson),
    require: p.require.map(selectorToJson),
    exclude: p.exclude.map(selectorToJson),
  }));
}

export function configRoutes(config: () => AdminConfigView, tokens: () => readonly AdminToken[]): AdminRoute[] {
  const read = { tag: 'config', access: 'config:read' as const };
  return [
    {
      ...read,
      method: 'GET',
      url: '/v1/apps',
      operationId: 'listApps',
      summary: 'Apps and SaaS apps of the config in force (read-only)',
      schema: { responses: { 200: { description: 'Apps, in file order.', schema: list(APP_SCHEMA) } } },
      async handle() {
        const c = config();
        const apps = c.apps.map((a) => ({
          name: a.name,
          kind: 'app',
          hostnames: a.hostnames,
          idps: a.idps,
          session_duration_sec: a.sessionDurationSec,
          api_paths: a.apiPaths,
          policies: a.policies.map((p) => p.name),
        }));
        const saas = c.saasApps.map((a) => ({
          name: a.name,
          kind: a.saml ? 'saas_saml' : 'saas_oidc',
          hostnames: [],
          idps: a.idps,
          session_duration_sec: a.sessionDurationSec,
          policies: a.policies.map((p) => p.name),
        }));
        return { status: 200, body: { items: [...apps, ...saas] } };
      },
    },
    {
      ...read,
      method: 'GET',
      url: '/v1/policies',
      operationId: 'listPolicies',
      summary: 'Access policies of every app, in evaluation order (read-only)',
      schema: { responses: { 200: { description: 'Policies.', schema: list(POLICY_SCHEMA) } } },
      async handle() {
        const c = config();
        return { status: 200, body: { items: [...c.apps, ...c.saasApps].flatMap((a) => policiesOf(a.name, a.policies)) } };
      },
    },
    {
      ...read,
      method: 'GET',
      url: '/v1/idps',
      operationId: 'listIdps',
      summary: 'Identity providers (read-only; secrets never shown)',
      schema: { responses: { 200: { description: 'IdPs, in file order.', schema: list(IDP_SCHEMA) } } },
      async handle() {
        const items = config().idps.map((i) => {
          switch (i.type) {
            case 'oidc':
              return { id: i.id, type: i.type, preset: i.preset, issuer: i.issuer, client_id: i.clientId, scopes: i.scopes };
            case 'github':
              return { id: i.id, type: i.type, client_id: i.clientId, orgs: i.orgs };
            case 'saml':
              return { id: i.id, type: i.type, entity_id: i.entityId };
          }
        });
        return { status: 200, body: { items } };
      },
    },
    {
      ...read,
      method: 'GET',
      url: '/v1/service-tokens',
      operationId: 'listServiceTokens',
      summary: 'Service token ids (read-only; no client ids, secrets or hashes)',
      schema: { responses: { 200: { description: 'Service token ids, in file order.', schema: list(ID_SCHEMA) } } },
      async handle() {
        return { status: 200, body: { items: config().serviceTokens.map((t) => ({ id: t.id })) } };
      },
    },
    {
      ...read,
      method: 'GET',
      url: '/v1/admin-tokens',
      operationId: 'listAdminTokens',
      summary: 'Admin token ids and their scopes (read-only; hashes never shown)',
      schema: { responses: { 200: { description: 'Admin tokens, in file order.', schema: list(ADMIN_TOKEN_SCHEMA) } } },
      async handle() {
        return { status: 200, body: { items: tokens().map((t) => ({ id: t.id, scopes: t.scopes })) } };
      },
    },
    {
      method: 'GET',
      url: '/v1/whoami',
      operationId: 'whoami',
      summary: 'The calling token: its id and scopes',
      description: 'Any valid token may ask; the CLI uses it to check a token before doing work.',
      tag: 'config',
      access: 'authenticated',
      schema: { responses: { 200: { description: 'The caller.', schema: ADMIN_TOKEN_SCHEMA } } },
      async handle(ctx) {
        return { status: 200, body: { id: ctx.caller?.id ?? '', scopes: ctx.caller?.scopes ?? [] } };
      },
    },
  ];
}

/**
 * Tenants and what belongs to them: hostnames, CA bundle, CRLs, mTLS settings.
 * Every write goes through the store's `checkTenantInput`, so bad uploads get
 * its specific `ERR_CA_INVALID` / `ERR_CRL_INVALID` / `ERR_TENANT_INVALID`
 * messages. The rule for CA bundles: one with no usable CA certificate (all
 * expired, not yet valid, not a CA, unparsable…) is refused with 400
 * `ERR_CA_INVALID`; one with at least one usable root is accepted, the others
 * set aside with a warning each in the response (a rotation bundle that still
 * carries the old root).
 *
 * Partial updates (CA, CRLs, mTLS) read the tenant, change one part and store
 * the whole. The store has no conditional write yet, so a hostname added by
 * another caller between the read and the write can be lost; such updates are
 * rare and audited, and a `version` check in the store would close the gap.
 */
import { TENANT_LIMITS } from '../../config/defaults.js';
import { TenantStoreError, type PutCondition, type TenantInput, type TenantRecord, type TenantStore } from '../../stores/tenant-store.js';
import { ADMIN_DEFAULTS } from '../../config/defaults.js';
import type { TenantRevocationStatus } from '../../revocation/revocation-status.js';
import { AdminError } from '../errors.js';
import type { AdminRoute, RouteContext, RouteResult } from '../route.js';
import {
  MTLS_INPUT_SCHEMA,
  TENANT_CHANGE_SCHEMA,
  TENANT_DETAIL_SCHEMA,
  TENANT_INPUT_SCHEMA,
  TENANT_NAME_PARAMS,
  TENANT_PAGE_SCHEMA,
  TENANT_REPLACE_SCHEMA,
  LIMIT_QUERY,
} from '../schemas.js';
import { describeCaBundle, fingerprintsOf, fromMtlsBody, fromTenantBody, recordToInput, toTenantJson, trustOf, type MtlsBody, type TenantBody } from '../tenant-json.js';

const TAG = 'tenants';

/** A replica's view of one tenant's revocation sources; undefined when it knows none. */
export type TenantRevocationLookup = (tenant: string, nowMs: number) => TenantRevocationStatus | undefined;

/** What an audit entry says about a tenant input: never PEM text, only what identifies it. */
function summarize(input: TenantInput): Record<string, unknown> {
  return {
    hostnames: input.hostnames,
    mode: input.mtls?.mode ?? 'require',
    ca_fingerprints: fingerprintsOf(input.mtls?.caPem),
    crl_count: input.mtls?.crlPems?.length ?? 0,
    stale_crl: input.mtls?.staleCrl ?? 'deny',
    exempt_paths: input.mtls?.exemptPaths ?? [],
    revocation: input.mtls?.revocation ?? null,
    certificate_policies: input.mtls?.certificatePolicies ?? null,
  };
}

async function mustGet(store: TenantStore, name: string): Promise<TenantRecord> {
  const record = await store.getTenant(name);
  // The store's own code and wording, so clients see one ERR_TENANT_NOT_FOUND whatever the operation.
  if (!record) throw new TenantStoreError('ERR_TENANT_NOT_FOUND', `no tenant named '${name}'`, { field: 'name' });
  return record;
}

async function put(store: TenantStore, ctx: RouteContext, input: TenantInput, extraWarnings: readonly string[] = [], condition?: PutCondition): Promise<RouteResult> {
  ctx.note(input.name, summarize(input));
  const result = await store.putTenant(input, condition);
  return { status: result.created ? 201 : 200, body: { tenant: toTenantJson(result.record), warnings: [...extraWarnings, ...result.warnings] } };
}

/** The tenant routes over `store`. */
export function tenantRoutes(store: TenantStore, clock: () => number, revocationStatus?: TenantRevocationLookup): AdminRoute[] {
  const changed = { 200: { description: 'The tenant after the change, and warnings worth a look.', schema: TENANT_CHANGE_SCHEMA } };
  return [
    {
      method: 'GET',
      url: '/v1/tenants',
      operationId: 'listTenants',
      summary: 'List tenants, ordered by name, one page at a time',
      description: 'Keyset pagination: pass the `next` of one page as `after` to get the following one.',
      tag: TAG,
      access: 'tenants:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: LIMIT_QUERY(TENANT_LIMITS.listMax, TENANT_LIMITS.listDefault),
            after: { type: 'string', maxLength: 63, description: 'Return tenants whose name sorts after this one.' },
          },
        },
        responses: { 200: { description: 'One page of tenants (without PEM bodies).', schema: TENANT_PAGE_SCHEMA } },
        errors: [503],
      },
      async handle(ctx) {
        const page = await store.listTenants({ limit: ctx.query.limit as number | undefined, after: ctx.query.after as string | undefined });
        const items = page.items.map(({ trustStatus, ...item }) => (trustStatus === undefined ? item : { ...item, trust_status: trustStatus }));
        return { status: 200, body: page.next === undefined ? { items } : { items, next: page.next } };
      },
    },
    {
      method: 'POST',
      url: '/v1/tenants',
      operationId: 'createTenant',
      summary: 'Create a tenant',
      description: 'Refused with 409 ERR_TENANT_EXISTS when the name is taken; PUT /v1/tenants/{name} creates or replaces.',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.create',
      bodyLimit: ADMIN_DEFAULTS.crlBodyLimitBytes,
      schema: { body: TENANT_INPUT_SCHEMA, responses: { 201: { description: 'Created.', schema: TENANT_CHANGE_SCHEMA } }, errors: [409, 503] },
      async handle(ctx) {
        const body = ctx.body as TenantBody & { name: string };
        ctx.note(body.name);
        if (typeof body.name === 'string' && (await store.getTenant(body.name)) !== undefined) {
          throw new AdminError('ERR_TENANT_EXISTS', `tenant '${body.name}' already exists; PUT /v1/tenants/${body.name} replaces it`, { field: 'body.name' });
        }
        // Conditional as well: a create racing with another one must not replace it.
        return put(store, ctx, fromTenantBody(body.name, body), [], { absent: true });
      },
    },
    {
      method: 'GET',
      url: '/v1/tenants/:name',
      operationId: 'getTenant',
      summary: 'Read one tenant, with its CA bundle decoded and its trust status',
      description:
        "trust.status is ok, degraded (some CA certificates or files unusable, set aside) or unusable (no usable CA: the tenant's devices are denied tenant_trust_unusable); trust.problems says why, judged at the server's clock. trust.revocation, when this replica knows revocation sources of the tenant, lists fetched CRLs that are stale or unavailable and OCSP responders failing.",
      tag: TAG,
      access: 'tenants:read',
      schema: { params: TENANT_NAME_PARAMS, responses: { 200: { description: 'The tenant.', schema: TENANT_DETAIL_SCHEMA } }, errors: [404, 503] },
      async handle(ctx) {
        const record = await mustGet(store, ctx.params.name ?? '');
        const nowMs = clock();
        const revocation = revocationStatus?.(record.name, nowMs);
        const trust = { ...trustOf(record, nowMs), ...(revocation ? { revocation } : {}) };
        return { status: 200, body: { ...toTenantJson(record), ca_certificates: describeCaBundle(record.mtls.caPem), trust } };
      },
    },
    {
      method: 'PUT',
      url: '/v1/tenants/:name',
      operationId: 'putTenant',
      summary: 'Create or replace a tenant',
      description: 'Everything not given takes its default (mode require, stale_crl deny, no CRLs, no exempt paths).',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.put',
      bodyLimit: ADMIN_DEFAULTS.crlBodyLimitBytes,
      schema: {
        params: TENANT_NAME_PARAMS,
        body: TENANT_REPLACE_SCHEMA,
        responses: { 200: { description: 'Replaced.', schema: TENANT_CHANGE_SCHEMA }, 201: { description: 'Created.', schema: TENANT_CHANGE_SCHEMA } },
        errors: [409, 503],
      },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const body = ctx.body as TenantBody;
        ctx.note(name);
        if (body.name !== undefined && body.name !== name) {
          throw new AdminError('ERR_ADMIN_BAD_REQUEST', `body.name: '${body.name}' differs from the tenant in the path, '${name}'; tenants cannot be renamed`, { field: 'body.name' });
        }
        return put(store, ctx, fromTenantBody(name, body));
      },
    },
    {
      method: 'DELETE',
      url: '/v1/tenants/:name',
      operationId: 'deleteTenant',
      summary: 'Delete a tenant with its hostnames, CA bundle and CRLs',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.delete',
      schema: { params: TENANT_NAME_PARAMS, responses: { 204: { description: 'Deleted.' } }, errors: [404, 503] },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        ctx.note(name);
        await store.deleteTenant(name);
        return { status: 204 };
      },
    },
    {
      method: 'POST',
      url: '/v1/tenants/:name/hostnames',
      operationId: 'addHostname',
      summary: 'Add one hostname to a tenant',
      description: 'Adding a hostname the tenant already has changes nothing. A hostname of another tenant is refused with 409 ERR_HOSTNAME_TAKEN.',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.hostname.add',
      schema: {
        params: TENANT_NAME_PARAMS,
        body: { type: 'object', additionalProperties: false, required: ['hostname'], properties: { hostname: { type: 'string', maxLength: 253, description: 'Exact name or *.suffix.' } } },
        responses: changed,
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const { hostname } = ctx.body as { hostname: string };
        ctx.note(name, { hostname });
        const record = await store.addHostname(name, hostname);
        return { status: 200, body: { tenant: toTenantJson(record), warnings: [] } };
      },
    },
    {
      method: 'DELETE',
      url: '/v1/tenants/:name/hostnames/:hostname',
      operationId: 'removeHostname',
      summary: 'Remove one hostname from a tenant',
      description: "A tenant's last hostname cannot be removed (ERR_TENANT_INVALID): delete the tenant instead.",
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.hostname.remove',
      schema: {
        params: { type: 'object', required: ['name', 'hostname'], properties: { name: { type: 'string', maxLength: 63 }, hostname: { type: 'string', maxLength: 253 } } },
        responses: changed,
        errors: [404, 503],
      },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const hostname = ctx.params.hostname ?? '';
        ctx.note(name, { hostname });
        const record = await store.removeHostname(name, hostname);
        return { status: 200, body: { tenant: toTenantJson(record), warnings: [] } };
      },
    },
    {
      method: 'PUT',
      url: '/v1/tenants/:name/ca',
      operationId: 'replaceCa',
      summary: "Replace a tenant's CA bundle",
      description:
        'The PEM must parse, hold only CA certificates, none expired or with a weak key (ERR_CA_INVALID otherwise). The tenant\'s CRLs must still verify against the new bundle (ERR_CRL_INVALID). A tenant with mode off has no CA: set its mode with PATCH /v1/tenants/{name}/mtls.',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.ca.replace',
      schema: {
        params: TENANT_NAME_PARAMS,
        body: { type: 'object', additionalProperties: false, required: ['ca_pem'], properties: { ca_pem: (MTLS_INPUT_SCHEMA.properties as Record<string, unknown>).ca_pem } },
        responses: changed,
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const { ca_pem } = ctx.body as { ca_pem: string };
        const current = await mustGet(store, name);
        ctx.note(name, { previous_ca_fingerprints: fingerprintsOf(current.mtls.caPem) });
        const base = recordToInput(current);
        return put(store, ctx, { ...base, mtls: { ...base.mtls, caPem: ca_pem } }, [], { version: current.version });
      },
    },
    {
      method: 'PUT',
      url: '/v1/tenants/:name/crls',
      operationId: 'replaceCrls',
      summary: "Replace a tenant's CRLs",
      description: 'An empty list removes them. A CRL issued by one of the tenant\'s CA certificates must verify against it (ERR_CRL_INVALID).',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.crls.replace',
      bodyLimit: ADMIN_DEFAULTS.crlBodyLimitBytes,
      schema: {
        params: TENANT_NAME_PARAMS,
        body: { type: 'object', additionalProperties: false, required: ['crl_pems'], properties: { crl_pems: (MTLS_INPUT_SCHEMA.properties as Record<string, unknown>).crl_pems } },
        responses: changed,
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const { crl_pems } = ctx.body as { crl_pems: string[] };
        const current = await mustGet(store, name);
        const base = recordToInput(current);
        return put(store, ctx, { ...base, mtls: { ...base.mtls, crlPems: crl_pems } }, [], { version: current.version });
      },
    },
    {
      method: 'PATCH',
      url: '/v1/tenants/:name/mtls',
      operationId: 'updateMtls',
      summary: "Change a tenant's mTLS settings",
      description:
        'Fields given replace the stored ones; others stay. Setting mode to off without a ca_pem drops the CA bundle and CRLs (a warning says so). Turning mTLS back on needs a ca_pem in the same request.',
      tag: TAG,
      access: 'tenants:write',
      audit: 'tenant.mtls.update',
      bodyLimit: ADMIN_DEFAULTS.crlBodyLimitBytes,
      schema: { params: TENANT_NAME_PARAMS, body: { ...MTLS_INPUT_SCHEMA, minProperties: 1 }, responses: changed, errors: [404, 409, 503] },
      async handle(ctx) {
        const name = ctx.params.name ?? '';
        const patch = ctx.body as MtlsBody;
        const current = await mustGet(store, name);
        const base = recordToInput(current);
        // Only the fields the client sent replace stored ones.
        const given = Object.fromEntries(Object.entries(fromMtlsBody(patch) ?? {}).filter(([, v]) => v !== undefined));
        const warnings: string[] = [];
        let mtls: NonNullable<TenantInput['mtls']> = { ...base.mtls, ...given };
        if (patch.mode === 'off' && patch.ca_pem === undefined && current.mtls.caPem !== null) {
          // A CA on a tenant that checks nothing is refused by the store; the caller asked for off, so the trust material goes.
          mtls = { ...mtls, caPem: undefined, crlPems: [] };
          warnings.push(`mtls.mode is now off: the CA bundle and ${current.mtls.crlPems.length} CRL(s) of tenant '${name}' were removed`);
        }
        if (patch.mode === 'off' && patch.revocation === undefined && current.mtls.revocation !== undefined) {
          mtls = { ...mtls, revocation: null };
          warnings.push(`mtls.mode is now off: the revocation settings of tenant '${name}' were removed`);
        }
        if (patch.mode === 'off' && patch.certificate_policies === undefined && current.mtls.certificatePolicies !== undefined) {
          mtls = { ...mtls, certificatePolicies: null };
          warnings.push(`mtls.mode is now off: the certificate policy settings of tenant '${name}' were removed`);
        }
        ctx.note(name, { previous_mode: current.mtls.mode });
        return put(store, ctx, { ...base, mtls }, warnings, { version: current.version });
      },
    },
  ];
}

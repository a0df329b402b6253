/**
 * Customer hostnames (docs/hostnames.md): add one for ACME, upload a
 * customer's certificate, read state and reason, retry, remove. Answers never
 * carry a private key; the certificate chain is public and shown in full on
 * the single-hostname read.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { HOSTNAME_DEFAULTS } from '../../config/defaults.js';
import { HOSTNAME_REASON_CODES, HOSTNAME_REASONS, HOSTNAME_STATES } from '../../hostnames/lifecycle.js';
import { HostnameError, type HostnameManager } from '../../hostnames/manager-contract.js';
import { checkCustomHostname } from '../../hostnames/names.js';
import type { HostnameRecord } from '../../hostnames/store.js';
import { AdminError } from '../errors.js';
import type { AdminRoute, JsonSchema } from '../route.js';
import { LIMIT_QUERY } from '../schemas.js';

const TAG = 'hostnames';
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

const HOSTNAME_PARAMS: JsonSchema = {
  type: 'object',
  required: ['hostname'],
  properties: { hostname: { type: 'string', minLength: 1, maxLength: 255, description: 'The customer hostname (A-label or Unicode; `*.` for a wildcard, URL-encoded).' } },
};

const CERTIFICATE_SCHEMA: JsonSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['not_before', 'not_after', 'renew_at', 'fingerprint_sha256', 'issuer', 'dns_names'],
  properties: {
    not_before: { type: 'string', format: 'date-time' },
    not_after: { type: 'string', format: 'date-time' },
    renew_at: { type: ['string', 'null'], format: 'date-time', description: 'When renewal starts (ACME only): about two thirds into the lifetime.' },
    fingerprint_sha256: { type: 'string', description: 'SHA-256 of the leaf, hex.' },
    issuer: { type: 'string' },
    dns_names: { type: 'array', items: { type: 'string' } },
  },
};

const HOSTNAME_PROPERTIES = {
  hostname: { type: 'string' },
  tenant: { type: 'string' },
  wildcard: { type: 'boolean' },
  source: { type: 'string', enum: ['acme', 'upload'], description: 'Where the certificate comes from.' },
  state: { type: 'string', enum: [...HOSTNAME_STATES] },
  reason: { type: ['string', 'null'], enum: [...HOSTNAME_REASON_CODES, null], description: 'Why it failed (or why its renewal is failing); null otherwise.' },
  reason_description: { type: ['string', 'null'] },
  reason_detail: { type: ['string', 'null'], description: "The CA's or the check's own words." },
  certificate: CERTIFICATE_SCHEMA,
  next_attempt_at: { type: ['string', 'null'], format: 'date-time', description: 'When bouncer next validates, renews or retries.' },
  attempts: { type: 'integer', description: 'Failed attempts in a row.' },
  version: { type: 'integer' },
  created_at: { type: 'string', format: 'date-time' },
  updated_at: { type: 'string', format: 'date-time' },
} as const;

const HOSTNAME_SCHEMA: JsonSchema = { type: 'object', additionalProperties: false, required: Object.keys(HOSTNAME_PROPERTIES), properties: HOSTNAME_PROPERTIES };
const HOSTNAME_DETAIL_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: [...Object.keys(HOSTNAME_PROPERTIES), 'certificate_chain_pem'],
  properties: { ...HOSTNAME_PROPERTIES, certificate_chain_pem: { type: ['string', 'null'], description: 'The chain served, leaf first.' } },
};

function certificateOf(r: HostnameRecord): Record<string, unknown> | null {
  if (r.certificateChainPem === null || r.notBefore === null || r.notAfter === null) return null;
  const leaf = new X509Certificate(r.certificateChainPem);
  const dnsNames = (leaf.subjectAltName ?? '')
    .split(', ')
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4));
  return {
    not_before: iso(r.notBefore),
    not_after: iso(r.notAfter),
    renew_at: iso(r.renewAt),
    fingerprint_sha256: createHash('sha256').update(leaf.raw).digest('hex'),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    dns_names: dnsNames,
  };
}

/** A hostname as the API shows it; never the key. */
export function toHostnameJson(r: HostnameRecord): Record<string, unknown> {
  return {
    hostname: r.hostname,
    tenant: r.tenant,
    wildcard: r.wildcard,
    source: r.source,
    state: r.state,
    reason: r.reason,
    reason_description: r.reason === null ? null : HOSTNAME_REASONS[r.reason],
    reason_detail: r.reasonDetail,
    certificate: certificateOf(r),
    next_attempt_at: iso(r.nextAttemptAt),
    attempts: r.attempts,
    version: r.version,
    created_at: iso(r.createdAt),
    updated_at: iso(r.updatedAt),
  };
}

/** The custom hostname routes; without a manager every one answers 409 ERR_HOSTNAMES_NOT_CONFIGURED. */
export function customHostnameRoutes(manager: HostnameManager | undefined): AdminRoute[] {
  const must = (): HostnameManager => {
    if (!manager) throw new AdminError('ERR_HOSTNAMES_NOT_CONFIGURED', 'customer hostnames are not enabled: add a hostnames section (with its key-encryption key) to the config');
    return manager;
  };
  const one = { description: 'The hostname.', schema: HOSTNAME_SCHEMA };
  return [
    {
      method: 'GET',
      url: '/v1/custom-hostnames',
      operationId: 'listCustomHostnames',
      summary: 'List customer hostnames, ordered by name, one page at a time',
      description: 'Filter by tenant and/or state. Keyset pagination: pass the `next` of one page as `after`.',
      tag: TAG,
      access: 'hostnames:read',
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            tenant: { type: 'string', maxLength: 63 },
            state: { type: 'string', enum: [...HOSTNAME_STATES] },
            after: { type: 'string', maxLength: 255 },
            limit: LIMIT_QUERY(HOSTNAME_DEFAULTS.listMax, HOSTNAME_DEFAULTS.listDefault),
          },
        },
        responses: {
          200: {
            description: 'One page.',
            schema: { type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: HOSTNAME_SCHEMA }, next: { type: 'string' } } },
          },
        },
        errors: [409, 503],
      },
      async handle(ctx) {
        const m = must();
        const limit = (ctx.query.limit as number | undefined) ?? HOSTNAME_DEFAULTS.listDefault;
        const state = ctx.query.state as string | undefined;
        const items: HostnameRecord[] = [];
        let after = ctx.query.after as string | undefined;
        let more = false;
        // The state filter is applied after reading, so read pages until this one is full.
        for (;;) {
          const page = await m.list({ tenant: ctx.query.tenant as string | undefined, after, limit: limit + 1 });
          for (const r of page) {
            if (state === undefined || r.state === state) items.push(r);
            after = r.hostname;
            if (items.length > limit) break;
          }
          if (items.length > limit) {
            more = true;
            break;
          }
          if (page.length <= limit) break;
        }
        const shown = items.slice(0, limit);
        const body: Record<string, unknown> = { items: shown.map(toHostnameJson) };
        if (more && shown.length > 0) body.next = shown[shown.length - 1]?.hostname;
        return { status: 200, body };
      },
    },
    {
      method: 'POST',
      url: '/v1/custom-hostnames',
      operationId: 'addCustomHostname',
      summary: 'Add a customer hostname whose certificate bouncer obtains by ACME',
      description:
        'Answers at once with state pending_validation; the certificate is obtained in the background (GET the hostname to follow it). The hostname is added to the tenant\'s hostnames when no tenant serves it yet; one of another tenant is refused with 409 ERR_CUSTOM_HOSTNAME_TAKEN.',
      tag: TAG,
      access: 'hostnames:write',
      audit: 'custom_hostname.add',
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['tenant', 'hostname'],
          properties: { tenant: { type: 'string', maxLength: 63 }, hostname: { type: 'string', minLength: 1, maxLength: 255 } },
        },
        responses: { 201: { description: 'Added.', schema: HOSTNAME_SCHEMA } },
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const { tenant, hostname } = ctx.body as { tenant: string; hostname: string };
        ctx.note(hostname, { tenant });
        const r = await must().add(tenant, hostname);
        ctx.note(r.hostname, { tenant, state: r.state });
        return { status: 201, body: toHostnameJson(r) };
      },
    },
    {
      method: 'GET',
      url: '/v1/custom-hostnames/:hostname',
      operationId: 'getCustomHostname',
      summary: 'Read one customer hostname: state, reason, certificate and chain',
      tag: TAG,
      access: 'hostnames:read',
      schema: { params: HOSTNAME_PARAMS, responses: { 200: { description: 'The hostname.', schema: HOSTNAME_DETAIL_SCHEMA } }, errors: [404, 409, 503] },
      async handle(ctx) {
        const m = must();
        const checked = checkCustomHostname(ctx.params.hostname ?? '');
        if (!checked.ok) throw new HostnameError('ERR_CUSTOM_HOSTNAME_INVALID', checked.message);
        const r = await m.get(checked.value.hostname);
        if (!r) throw new HostnameError('ERR_CUSTOM_HOSTNAME_NOT_FOUND', `no custom hostname ${checked.value.hostname}`);
        return { status: 200, body: { ...toHostnameJson(r), certificate_chain_pem: r.certificateChainPem } };
      },
    },
    {
      method: 'PUT',
      url: '/v1/custom-hostnames/:hostname/certificate',
      operationId: 'uploadCustomHostnameCertificate',
      summary: "Upload a customer's certificate and key for a hostname (added if new)",
      description:
        'Checked before it is stored: the key matches the leaf, the leaf covers the hostname and is a server certificate, the chain leads to a root it carries or to one of `intermediates_pem`, nothing expired or not yet valid. A refusal is 400 ERR_UPLOAD_INVALID with `reason` (docs/hostnames.md); a hostname already served keeps its current certificate.',
      tag: TAG,
      access: 'hostnames:write',
      audit: 'custom_hostname.upload',
      bodyLimit: HOSTNAME_DEFAULTS.maxUploadBytes * 2,
      schema: {
        params: HOSTNAME_PARAMS,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['tenant', 'certificate_chain_pem', 'private_key_pem'],
          properties: {
            tenant: { type: 'string', maxLength: 63 },
            certificate_chain_pem: { type: 'string', minLength: 1, maxLength: HOSTNAME_DEFAULTS.maxUploadBytes, description: 'Leaf first, then intermediates (a root may follow).' },
            private_key_pem: { type: 'string', minLength: 1, maxLength: HOSTNAME_DEFAULTS.maxUploadBytes, description: "The leaf's unencrypted private key; stored encrypted, never shown again." },
            intermediates_pem: { type: 'string', maxLength: HOSTNAME_DEFAULTS.maxUploadBytes, description: 'Intermediates or roots the chain may end at when it does not carry its root.' },
          },
        },
        responses: { 200: one },
        errors: [404, 409, 503],
      },
      async handle(ctx) {
        const body = ctx.body as { tenant: string; certificate_chain_pem: string; private_key_pem: string; intermediates_pem?: string };
        const hostname = ctx.params.hostname ?? '';
        ctx.note(hostname, { tenant: body.tenant });
        const r = await must().upload(body.tenant, hostname, { certificateChainPem: body.certificate_chain_pem, privateKeyPem: body.private_key_pem, anchorsPem: body.intermediates_pem });
        ctx.note(r.hostname, { tenant: body.tenant, fingerprint_sha256: (certificateOf(r) ?? {}).fingerprint_sha256 });
        return { status: 200, body: toHostnameJson(r) };
      },
    },
    {
      method: 'POST',
      url: '/v1/custom-hostnames/:hostname/retry',
      operationId: 'retryCustomHostname',
      summary: 'Validate and order again now, without waiting for the backoff',
      description: 'For ACME hostnames, after the customer fixed their DNS, say. Uploaded certificates are replaced by uploading again.',
      tag: TAG,
      access: 'hostnames:write',
      audit: 'custom_hostname.retry',
      schema: { params: HOSTNAME_PARAMS, responses: { 200: one }, errors: [404, 409, 503] },
      async handle(ctx) {
        const hostname = ctx.params.hostname ?? '';
        ctx.note(hostname);
        return { status: 200, body: toHostnameJson(await must().retry(hostname)) };
      },
    },
    {
      method: 'DELETE',
      url: '/v1/custom-hostnames/:hostname',
      operationId: 'removeCustomHostname',
      summary: 'Stop serving a customer hostname and forget its certificate and key',
      description: "The hostname stays among the tenant's hostnames (remove it there with DELETE /v1/tenants/{name}/hostnames/{hostname}).",
      tag: TAG,
      access: 'hostnames:write',
      audit: 'custom_hostname.remove',
      schema: { params: HOSTNAME_PARAMS, responses: { 204: { description: 'Removed.' } }, errors: [404, 409, 503] },
      async handle(ctx) {
        const hostname = ctx.params.hostname ?? '';
        ctx.note(hostname);
        const r = await must().remove(hostname);
        ctx.note(r.hostname, { tenant: r.tenant });
        return { status: 204 };
      },
    },
  ];
}

/**
 * JSON Schemas shared by the admin routes. Limits come from the tenant store's
 * own `TENANT_LIMITS`, so a body the schema accepts is never refused for size
 * by the store, and the other way round. Value rules (tenant names, hostnames,
 * paths, PEM contents) are left to the store's `checkTenantInput`, the same
 * checks the YAML loader runs, so the API and the file agree on them.
 */
import { CONFIG_LIMITS, TENANT_LIMITS } from '../config/defaults.js';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import type { JsonSchema } from './route.js';
import { REVOCATION_DEFAULTS } from '../config/defaults.js';
import { REVOCATION_MODES } from '../config/revocation-schema.js';
import { MAX_SOURCE_URL_LENGTH } from '../core/revocation-sources.js';

export const MTLS_MODES = ['require', 'optional', 'off'] as const;
export const STALE_CRL = ['deny', 'use'] as const;

const str = (description: string, maxLength: number, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', description, maxLength, ...extra });
const strings = (description: string, maxItems: number, itemMax: number, extra: JsonSchema = {}): JsonSchema => ({
  type: 'array',
  description,
  maxItems,
  items: { type: 'string', maxLength: itemMax },
  ...extra,
});
const dateTime = (description: string): JsonSchema => ({ type: 'string', format: 'date-time', description });

export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  description: 'Every 4xx and 5xx answer of the admin API has this shape.',
  required: ['error', 'message', 'request_id'],
  additionalProperties: false,
  properties: {
    error: { type: 'string', description: 'Stable error code to switch on and search for (ERR_CA_INVALID, ERR_ADMIN_FORBIDDEN…).' },
    message: { type: 'string', description: 'What went wrong and how to fix it; for people, may change between releases.' },
    request_id: { type: 'string', description: 'Also in the x-request-id header and in every log line of this request.' },
    field: { type: 'string', description: 'The request field at fault, when there is one (body.mtls.ca_pem).' },
    reason: { type: 'string', description: 'With ERR_UPLOAD_INVALID: why the certificate was refused (upload_invalid_key_mismatch, upload_invalid_chain_incomplete…; docs/hostnames.md).' },
  },
};

const REVOCATION_MODE = (what: string): JsonSchema => ({
  type: 'string',
  enum: [...REVOCATION_MODES],
  description: `${what}: off (default), prefer (soft-fail: passes without a usable answer, counted and logged) or require (hard-fail: denied without one).`,
});

/** `mtls.revocation`: the config file's keys and rules (docs/config.md, "Revocation from the network"). */
const REVOCATION_PROPERTIES = {
  ocsp: REVOCATION_MODE('OCSP for the client certificate'),
  ocsp_url: { type: ['string', 'null'], maxLength: MAX_SOURCE_URL_LENGTH, description: "http(s) OCSP responder used instead of the one in the certificate's authorityInfoAccess." },
  ocsp_nonce: { type: 'boolean', description: 'Send a nonce and require it echoed (default true).' },
  crl: REVOCATION_MODE('CRLs fetched from the network for the leaf issuer'),
  crl_urls: strings('http(s) CRLs fetched from the start and kept fresh.', REVOCATION_DEFAULTS.crlMaxUrls, MAX_SOURCE_URL_LENGTH),
  crl_distribution_points: { type: 'boolean', description: 'Also fetch the CRL distribution points clients\' certificates name (default true).' },
  intermediates: {
    type: 'boolean',
    description: "Also check the path's CA certificates below the trust anchor with the same modes, each against its issuer's fetched CRL and its own OCSP responder (default false: the leaf only).",
  },
} as const;

/** `mtls.certificate_policies`: the config file's keys and rules (docs/config.md, "Certificate policies"). */
const CERT_POLICY_PROPERTIES = {
  accept: {
    ...strings('Certificate policy OIDs the tenant accepts, dotted (2.23.140.1.2.1) or anyPolicy (default: anyPolicy).', CONFIG_LIMITS.maxAcceptedPolicies, 1024),
    minItems: 1,
  },
  explicit: { type: 'boolean', description: 'Every client path must be valid for an accepted policy, else client_cert_policy_mismatch (default false).' },
  inhibit_mapping: { type: 'boolean', description: "Ignore the CAs' policyMappings (default false)." },
  inhibit_any: { type: 'boolean', description: 'anyPolicy in a CA certificate no longer stands for every policy (default false).' },
} as const;

const MTLS_PROPERTIES = {
  mode: { type: 'string', enum: [...MTLS_MODES], description: 'require (default): a valid client certificate is needed; optional: checked when presented; off: not looked at.' },
  ca_pem: str('PEM CA certificates that issue client certificates; must parse, be CA certificates, and not be expired. Required unless mode is off.', TENANT_LIMITS.maxCaPemBytes),
  crl_pems: strings('PEM CRL texts (each one or more X509 CRL blocks).', TENANT_LIMITS.maxCrls, TENANT_LIMITS.maxCrlPemBytes),
  stale_crl: { type: 'string', enum: [...STALE_CRL], description: 'What to do with a CRL past its nextUpdate: deny (default) or use.' },
  exempt_paths: strings('Paths that skip the certificate check: exact, or a prefix ending in /*.', TENANT_LIMITS.maxExemptPaths, 1024),
  revocation: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: REVOCATION_PROPERTIES,
    description: 'Network revocation checks (OCSP, fetched CRLs); null or absent: none. Not allowed with mode off; with crl on, crl_urls or crl_distribution_points is needed.',
  },
  certificate_policies: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: CERT_POLICY_PROPERTIES,
    description: "Certificate policy inputs of RFC 5280 §6.1.1; null or absent: RFC 5280's defaults (any policy, none required). Not allowed with mode off.",
  },
} as const;

/** `mtls` as a client writes it. */
export const MTLS_INPUT_SCHEMA: JsonSchema = { type: 'object', additionalProperties: false, properties: MTLS_PROPERTIES };

const HOSTNAMES_INPUT = strings('DNS names, exact or *.suffix (one label); normalised to lowercase without a trailing dot.', TENANT_LIMITS.maxHostnames, 253, { minItems: 1 });

export const TENANT_INPUT_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'hostnames'],
  properties: {
    name: str('1–63 characters of a-z, 0-9, - and _, starting with a letter or digit.', 63),
    hostnames: HOSTNAMES_INPUT,
    mtls: MTLS_INPUT_SCHEMA,
  },
};

/** PUT /v1/tenants/{name}: the name comes from the path; a name in the body must match it. */
export const TENANT_REPLACE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['hostnames'],
  properties: { name: str('Optional; must equal the name in the path.', 63), hostnames: HOSTNAMES_INPUT, mtls: MTLS_INPUT_SCHEMA },
};

export const TENANT_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'hostnames', 'mtls', 'version', 'created_at', 'updated_at'],
  properties: {
    name: { type: 'string' },
    hostnames: { type: 'array', items: { type: 'string' }, description: 'Sorted, lowercase.' },
    mtls: {
      type: 'object',
      additionalProperties: false,
      required: ['mode', 'ca_pem', 'crl_pems', 'stale_crl', 'exempt_paths', 'revocation', 'certificate_policies'],
      properties: {
        mode: { type: 'string', enum: [...MTLS_MODES] },
        ca_pem: { type: ['string', 'null'], description: 'Null only when mode is off.' },
        crl_pems: { type: 'array', items: { type: 'string' } },
        stale_crl: { type: 'string', enum: [...STALE_CRL] },
        exempt_paths: { type: 'array', items: { type: 'string' } },
        revocation: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: Object.keys(REVOCATION_PROPERTIES),
          properties: REVOCATION_PROPERTIES,
          description: 'Every field written out; null when the tenant has no network revocation checks.',
        },
        certificate_policies: {
          type: ['object', 'null'],
          additionalProperties: false,
          required: Object.keys(CERT_POLICY_PROPERTIES),
          properties: CERT_POLICY_PROPERTIES,
          description: "Every field written out, anyPolicy as its OID 2.5.29.32.0; null when the tenant sets none (RFC 5280's defaults).",
        },
      },
    },
    version: { type: 'integer', description: 'Grows by one with every change.' },
    created_at: dateTime('When the tenant was created, by the database clock.'),
    updated_at: dateTime('When the tenant last changed.'),
  },
};

export const CA_CERTIFICATE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['subject', 'issuer', 'serial', 'fingerprint256', 'not_before', 'not_after'],
  properties: {
    subject: { type: 'string' },
    issuer: { type: 'string' },
    serial: { type: 'string', description: 'Lowercase hex.' },
    fingerprint256: { type: 'string', description: 'Lowercase hex SHA-256 of the DER.' },
    not_before: { type: 'string', format: 'date-time' },
    not_after: { type: 'string', format: 'date-time' },
  },
};

const TRUST_STATUS_SCHEMA: JsonSchema = {
  type: 'string',
  enum: ['ok', 'degraded', 'unusable'],
  description: "ok; degraded: some CA certificates (or files) are unusable and set aside; unusable: no usable CA is left, so the tenant's devices are denied tenant_trust_unusable.",
};

/** The trust status of one tenant and the reasons behind it. */
export const TRUST_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['status', 'problems'],
  properties: {
    status: TRUST_STATUS_SCHEMA,
    revocation: {
      type: 'object',
      additionalProperties: false,
      required: ['crl', 'ocsp'],
      description:
        "This replica's revocation sources of the tenant (absent when it has none): fetched CRLs past nextUpdate and not replaced (stale; stale_crl decides), never fetched because downloads fail (unavailable; crl: require denies), and OCSP responders whose last exchange failed within 10 minutes (under ocsp: require, new certificates are denied).",
      properties: {
        crl: {
          type: 'object',
          additionalProperties: false,
          required: ['sources', 'stale', 'unavailable'],
          properties: { sources: { type: 'integer' }, stale: { type: 'array', items: { type: 'string' } }, unavailable: { type: 'array', items: { type: 'string' } } },
        },
        ocsp: {
          type: 'object',
          additionalProperties: false,
          required: ['failing'],
          properties: {
            failing: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['url', 'mode', 'failure', 'failing_since'],
                properties: { url: { type: 'string' }, mode: { type: 'string', enum: ['prefer', 'require'] }, failure: { type: 'string' }, failing_since: { type: 'string', format: 'date-time' } },
              },
            },
          },
        },
      },
    },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', description: 'ca_unreadable, ca_no_certificate, ca_unparsable, ca_not_a_ca, ca_no_key_cert_sign, ca_expired, ca_not_yet_valid, ca_weak_key, crl_invalid, revocation_invalid or certificate_policies_invalid.' },
          message: { type: 'string' },
        },
      },
    },
  },
};

/** GET /v1/tenants/{name}: the stored tenant, what its CA bundle holds, and its trust status. */
export const TENANT_DETAIL_SCHEMA: JsonSchema = {
  ...TENANT_SCHEMA,
  required: [...(TENANT_SCHEMA.required as string[]), 'ca_certificates', 'trust'],
  properties: { ...(TENANT_SCHEMA.properties as JsonSchema), ca_certificates: { type: 'array', items: CA_CERTIFICATE_SCHEMA }, trust: TRUST_SCHEMA },
};

/** The answer to every tenant change. */
export const TENANT_CHANGE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['tenant', 'warnings'],
  properties: {
    tenant: TENANT_SCHEMA,
    warnings: { type: 'array', items: { type: 'string' }, description: 'Accepted, but worth a look: a CA expiring within 30 days, a stale CRL, a CRL of another issuer.' },
  },
};

export const TENANT_PAGE_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'hostnames', 'mode', 'version'],
        properties: {
          name: { type: 'string' },
          hostnames: { type: 'array', items: { type: 'string' } },
          mode: { type: 'string', enum: [...MTLS_MODES] },
          version: { type: 'integer' },
          trust_status: { ...TRUST_STATUS_SCHEMA, description: `${String(TRUST_STATUS_SCHEMA.description)} Listed for the config file's tenants; for tenants in PostgreSQL, read one tenant.` },
        },
      },
    },
    next: { type: 'string', description: 'Pass as `after` to get the next page; absent on the last page.' },
  },
};

export const TENANT_NAME_PARAMS: JsonSchema = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', maxLength: 63, description: 'Tenant name.' } },
};

export const LIMIT_QUERY = (max: number, dflt: number): JsonSchema => ({
  type: 'integer',
  minimum: 1,
  maximum: max,
  description: `Most items to return; default ${dflt}.`,
});

export const SINCE_QUERY: JsonSchema = dateTime('Only entries at or after this time (RFC 3339, such as 2026-11-23T12:00:00Z).');

export const QUERY_LIMIT = LIMIT_QUERY(ADMIN_DEFAULTS.queryLimitMax, ADMIN_DEFAULTS.queryLimitDefault);

export const IDENTIFIER_BODY = (name: string, description: string): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  required: [name],
  properties: { [name]: { type: 'string', minLength: 1, maxLength: 512, description } },
});

/**
 * The admin API's error codes, each with its HTTP status, in one place. Every
 * 4xx and 5xx the API sends, fastify's own included, carries one of these
 * codes (or a {@link TenantStoreErrorCode}) in the body
 * `{ "error": code, "message": text, "request_id": id }`. Codes are stable and
 * searchable; messages are for people and may change.
 */
import { BouncerError } from '../core/errors.js';
import { TenantStoreError, type TenantStoreErrorCode } from '../stores/tenant-store.js';
import { HostnameError, type HostnameErrorCode } from '../hostnames/manager-contract.js';
import { HostnameStoreError } from '../hostnames/store.js';

/** Codes raised by the admin API itself. */
export const ADMIN_ERROR_STATUS = {
  /** Body is not valid JSON (or has a `__proto__` key), or is empty while declared as JSON. */
  ERR_ADMIN_BAD_JSON: 400,
  /** Body, path or query does not match the operation's schema (wrong type, unknown field, missing field). */
  ERR_ADMIN_BAD_REQUEST: 400,
  /** No `Authorization: Bearer` header, or a token that matches no configured admin token (RFC 6750 §3.1 invalid_token). */
  ERR_ADMIN_UNAUTHENTICATED: 401,
  /** The token is valid but lacks the scope the operation needs (RFC 6750 §3.1 insufficient_scope). */
  ERR_ADMIN_FORBIDDEN: 403,
  /** No such route. */
  ERR_ADMIN_NOT_FOUND: 404,
  /** The route exists with other methods; the `Allow` header lists them. */
  ERR_ADMIN_METHOD_NOT_ALLOWED: 405,
  /** POST /v1/tenants for a name that exists (PUT /v1/tenants/{name} replaces). */
  ERR_TENANT_EXISTS: 409,
  /** An app, IdP or service token change the config loader refuses; the message lists every problem with its field. */
  ERR_CONFIG_REJECTED: 400,
  /** No app, IdP or service token of that name in the database. */
  ERR_CONFIG_NOT_FOUND: 404,
  /** Apps, IdPs and service tokens come from the config file here (no `store.postgres`): edit the file. */
  ERR_CONFIG_READ_ONLY: 409,
  /** Body larger than the operation's limit. */
  ERR_ADMIN_BODY_TOO_LARGE: 413,
  /** Bodies must be `application/json`. */
  ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE: 415,
  /** Customer hostnames are not enabled here (no `hostnames` section in the config). */
  ERR_HOSTNAMES_NOT_CONFIGURED: 409,
  /** bouncer is not Envoy's xDS server here (no `xds` section, or this process does not run ext_authz). */
  ERR_XDS_NOT_CONFIGURED: 409,
  /** A bug or an unexpected failure; the log has the details under the request id. */
  ERR_ADMIN_INTERNAL: 500,
  /** A dependency (revocation store, audit store) cannot answer right now. */
  ERR_ADMIN_UNAVAILABLE: 503,
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERROR_STATUS;

/**
 * Statuses of the tenant store's codes, as its own docs ask adapters to map
 * them: invalid input 400, missing 404, hostname of another tenant 409,
 * database unreachable 503.
 */
export const STORE_ERROR_STATUS: Readonly<Record<TenantStoreErrorCode, number>> = {
  ERR_TENANT_INVALID: 400,
  ERR_CA_INVALID: 400,
  ERR_CRL_INVALID: 400,
  ERR_TENANT_NOT_FOUND: 404,
  ERR_HOSTNAME_NOT_FOUND: 404,
  ERR_HOSTNAME_TAKEN: 409,
  ERR_STORE_UNAVAILABLE: 503,
  ERR_STORE_MIGRATION: 503,
  ERR_STORE_READ_ONLY: 409,
  ERR_TENANT_CONFLICT: 409,
};

/** Statuses of the customer hostname codes. */
export const HOSTNAME_ERROR_STATUS: Readonly<Record<HostnameErrorCode, number>> = {
  ERR_CUSTOM_HOSTNAME_INVALID: 400,
  ERR_CUSTOM_HOSTNAME_RESERVED: 409,
  ERR_UPLOAD_INVALID: 400,
  ERR_TENANT_NOT_FOUND: 404,
  ERR_CUSTOM_HOSTNAME_NOT_FOUND: 404,
  ERR_CUSTOM_HOSTNAME_TAKEN: 409,
};

/** Every code a client of the admin API can see. */
export type AdminApiErrorCode = AdminErrorCode | TenantStoreErrorCode | HostnameErrorCode;

/**
 * An error the admin API answers with on purpose. Route steps throw it; the one
 * error renderer in `server.ts` turns it into the JSON body.
 *
 * @example
 * ```ts
 * if (existing) throw new AdminError('ERR_TENANT_EXISTS', `tenant '${name}' exists; PUT /v1/tenants/${name} replaces it`);
 * ```
 */
export class AdminError extends BouncerError<AdminErrorCode> {
  readonly status: number;
  /** The request field at fault (`body.mtls.mode`), when there is one. */
  readonly field: string | undefined;
  /** Extra response headers (`WWW-Authenticate`, `Allow`). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: AdminErrorCode, message: string, options: { field?: string; headers?: Record<string, string>; cause?: unknown } = {}) {
    super(code, message, options);
    this.status = ADMIN_ERROR_STATUS[code];
    this.field = options.field;
    this.headers = options.headers ?? {};
  }
}

/** The JSON body of every error answer. */
export interface ErrorBody {
  readonly error: AdminApiErrorCode;
  readonly message: string;
  readonly request_id: string;
  /** The request field at fault, when known (`body.hostnames[1]`, `body.mtls.ca_pem`). */
  readonly field?: string;
  /** With ERR_UPLOAD_INVALID: the reason code of the refused certificate (`upload_invalid_chain_incomplete`, ...). */
  readonly reason?: string;
}

/** What an error becomes on the wire: status, body fields, extra headers. */
export interface RenderedError {
  readonly status: number;
  readonly code: AdminApiErrorCode;
  readonly message: string;
  readonly field: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly reason?: string | undefined;
}

/**
 * Maps a thrown value to its answer. Known errors keep their code and message;
 * fastify's own (bad JSON, body too large, wrong media type, schema failures
 * already turned into {@link AdminError} by the server) get ours; anything else
 * is a 500 whose message says nothing about internals.
 */
export function renderError(err: unknown): RenderedError {
  if (err instanceof AdminError) return { status: err.status, code: err.code, message: err.message, field: err.field, headers: err.headers };
  if (err instanceof TenantStoreError) {
    const field = err.field === undefined ? undefined : toApiField(err.field);
    return { status: STORE_ERROR_STATUS[err.code], code: err.code, message: toApiMessage(err.message), field, headers: {} };
  }
  if (err instanceof HostnameError) {
    return { status: HOSTNAME_ERROR_STATUS[err.code], code: err.code, message: err.message, field: undefined, headers: {}, reason: err.reason };
  }
  if (err instanceof HostnameStoreError) {
    if (err.code === 'ERR_STORE_UNAVAILABLE') return plain(503, 'ERR_ADMIN_UNAVAILABLE', 'the hostname database cannot be reached; retry');
    return { status: HOSTNAME_ERROR_STATUS[err.code], code: err.code, message: err.message, field: undefined, headers: {} };
  }
  const fastifyCode = (err as { code?: unknown } | null)?.code;
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  const message = err instanceof Error ? err.message : String(err);
  switch (fastifyCode) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return plain(400, 'ERR_ADMIN_BAD_JSON', 'the request body is not valid JSON');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return plain(400, 'ERR_ADMIN_BAD_JSON', 'the request body is empty but Content-Type says application/json; send a JSON object');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return plain(413, 'ERR_ADMIN_BODY_TOO_LARGE', 'the request body is larger than this operation accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return plain(415, 'ERR_ADMIN_UNSUPPORTED_MEDIA_TYPE', 'send request bodies as application/json');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return plain(400, 'ERR_ADMIN_BAD_REQUEST', 'the Content-Length header does not match the body');
    default:
      break;
  }
  // secure-json-parse refuses `__proto__` and `constructor.prototype` keys with a SyntaxError.
  if (err instanceof SyntaxError && typeof status === 'number' && status === 400) {
    return plain(400, 'ERR_ADMIN_BAD_JSON', `the request body is refused: ${message}`);
  }
  if (typeof status === 'number' && status >= 400 && status < 500) return plain(status, 'ERR_ADMIN_BAD_REQUEST', message);
  return plain(500, 'ERR_ADMIN_INTERNAL', 'internal error; the server log has the details under this request id');
}

function plain(status: number, code: AdminErrorCode, message: string): RenderedError {
  return { status, code, message, field: undefined, headers: {} };
}

/**
 * The tenant store names fields as its TypeScript input does (`mtls.caPem`);
 * the API's JSON is snake_case (`mtls.ca_pem`), so messages and fields are
 * translated to what the client actually sent.
 */
const STORE_TO_API_FIELDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bcaPem\b/g, 'ca_pem'],
  [/\bcrlPems\b/g, 'crl_pems'],
  [/\bstaleCrl\b/g, 'stale_crl'],
  [/\bexemptPaths\b/g, 'exempt_paths'],
  [/\bocspUrl\b/g, 'ocsp_url'],
  [/\bocspNonce\b/g, 'ocsp_nonce'],
  [/\bcrlUrls\b/g, 'crl_urls'],
  [/\bcrlDistributionPoints\b/g, 'crl_distribution_points'],
  [/\bcertificatePolicies\b/g, 'certificate_policies'],
  [/\binhibitMapping\b/g, 'inhibit_mapping'],
  [/\binhibitAny\b/g, 'inhibit_any'],
];

export function toApiField(field: string): string {
  return STORE_TO_API_FIELDS.reduce((f, [from, to]) => f.replace(from, to), field);
}

function toApiMessage(message: string): string {
  return toApiField(message);
}

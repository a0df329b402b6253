import { BouncerError } from '../core/errors.js';
import type { MtlsMode, Tenant } from '../core/tenant.js';
import type { TrustReport, TrustStatus } from '../core/trust-anchor.js';
import { TENANT_LIMITS } from '../config/defaults.js';
import type { RevocationPolicy } from '../core/revocation-policy.js';
import type { RevocationInput } from './tenant-revocation.js';
import type { PolicyInputs } from '../core/cert-policy.js';
import type { CertificatePoliciesInput } from './tenant-policies.js';

/**
 * The one contract every tenant backend (YAML file, PostgreSQL) fulfils. The
 * decision core never sees it: callers resolve the tenant first (the only
 * asynchronous step) and hand plain {@link Tenant} data to `evaluate`, as the
 * session gate does for app sessions.
 */
export interface TenantStore {
  /**
   * Finds the tenant serving `host`, which must already be normalised with
   * `normalizeHost`. Exact names win over `*.suffix` wildcards, and a wildcard
   * covers one label (RFC 6125 §6.4.3), as in the in-memory `resolveTenant`.
   * Never throws: a store that cannot answer says so with `store_unavailable`,
   * which the caller turns into a denial.
   *
   * @example
   * ```ts
   * const found = await store.resolveHost(normalizeHost(input.authority));
   * if (found.kind === 'store_unavailable') return deny('tenant_store_unavailable', found.detail);
   * ```
   */
  resolveHost(host: string): Promise<TenantLookup>;
  /**
   * {@link resolveHost} from memory alone: the answer when the store can give
   * it without I/O (a cached tenant or a cached absence), else undefined. The
   * per-request path tries this first, so a warm tenant costs no promise and
   * no timer.
   */
  peekHost(host: string): TenantLookup | undefined;
  /** The stored form of one tenant, or undefined when there is none. */
  getTenant(name: string): Promise<TenantRecord | undefined>;
  /** Tenants ordered by name, one page at a time (keyset pagination: pass the previous page's `next`). */
  listTenants(options?: ListTenantsOptions): Promise<TenantPage>;
  /**
   * Creates or replaces a tenant after {@link checkTenantInput}. Throws
   * {@link TenantStoreError}: `ERR_TENANT_INVALID`, `ERR_CA_INVALID`,
   * `ERR_CRL_INVALID`, `ERR_HOSTNAME_TAKEN` or `ERR_STORE_UNAVAILABLE`.
   */
  putTenant(input: TenantInput, condition?: PutCondition): Promise<PutTenantResult>;
  /** Removes a tenant and its hostnames, CA bundle and CRLs. Throws `ERR_TENANT_NOT_FOUND`. */
  deleteTenant(name: string): Promise<void>;
  /** Adds one hostname to an existing tenant. Throws `ERR_TENANT_NOT_FOUND`, `ERR_TENANT_INVALID`, `ERR_HOSTNAME_TAKEN`. */
  addHostname(name: string, hostname: string): Promise<TenantRecord>;
  /**
   * Removes one hostname. Throws `ERR_TENANT_NOT_FOUND`, `ERR_HOSTNAME_NOT_FOUND`,
   * or `ERR_TENANT_INVALID` for the last one (delete the tenant instead).
   */
  removeHostname(name: string, hostname: string): Promise<TenantRecord>;
  /**
   * Calls `listener` for every change made by any replica, once per change, and
   * with `{ kind: 'resync' }` after an outage, when changes may have been missed.
   * Returns the function that unsubscribes.
   */
  onChange(listener: (change: TenantChange) => void): () => void;
  /** Whether the backend is reachable and changes are being received. */
  health(): TenantStoreHealth;
  /** Stops listening and closes connections; lookups afterwards answer `store_unavailable`. */
  close(): Promise<void>;
}

/**
 * The answer to a host lookup. `unknown` means the store is sure no tenant
 * serves the host; `store_unavailable` means it could not find out, so the
 * request must be denied without claiming the tenant does not exist.
 */
export type TenantLookup =
  | { readonly kind: 'tenant'; readonly tenant: Tenant }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'store_unavailable'; readonly detail: string };

/** A tenant as an API client writes it. Optional fields take the YAML file's defaults. */
export interface TenantInput {
  readonly name: string;
  /** DNS names, exact or `*.suffix`; normalised (lowercase, no trailing dot) before storing. */
  readonly hostnames: readonly string[];
  readonly mtls?: {
    /** Defaults to `require`: fail closed, as in the config file. */
    readonly mode?: MtlsMode | undefined;
    /** PEM bundle of the CA certificates that issue client certificates; required unless mode is `off`. */
    readonly caPem?: string | undefined;
    /** PEM CRLs (one or more `X509 CRL` blocks each). */
    readonly crlPems?: readonly string[] | undefined;
    readonly staleCrl?: 'deny' | 'use' | undefined;
    /** Exact paths, or prefixes ending in `/*`, that skip the certificate check. */
    readonly exemptPaths?: readonly string[] | undefined;
    /** Network revocation checks (OCSP, fetched CRLs), as `mtls.revocation` in the config file; null or absent: none. */
    readonly revocation?: RevocationInput | null | undefined;
    /** Certificate policy inputs (RFC 5280 §6.1.1), as `mtls.certificate_policies` in the config file; null or absent: RFC 5280's defaults. */
    readonly certificatePolicies?: CertificatePoliciesInput | null | undefined;
  } | undefined;
}

/**
 * Makes {@link TenantStore.putTenant} conditional, so read-modify-write callers
 * never overwrite a change they did not see: `absent` creates only, `version`
 * replaces only the version that was read. Otherwise `ERR_TENANT_CONFLICT`.
 */
export type PutCondition = { readonly absent: true } | { readonly version: number };

/** A tenant as stored: validated, normalised, with defaults filled in. */
export interface TenantRecord {
  readonly name: string;
  /** Sorted, lowercase. */
  readonly hostnames: readonly string[];
  readonly mtls: {
    readonly mode: MtlsMode;
    /** Null only when mode is `off`. */
    readonly caPem: string | null;
    readonly crlPems: readonly string[];
    readonly staleCrl: 'deny' | 'use';
    readonly exemptPaths: readonly string[];
    /** Network revocation checks; absent when none (both modes off). */
    readonly revocation?: RevocationPolicy | undefined;
    /** Certificate policy inputs, defaults filled in; absent when none are set (RFC 5280's defaults apply). */
    readonly certificatePolicies?: PolicyInputs | undefined;
  };
  /** Starts at 1 and grows by one with every change; cached copies compare it to tell stale from fresh. */
  readonly version: number;
  /**
   * The trust status as the store serves it, when the store knows it without
   * re-reading the PEM (the config file's tenants, whose unusable certificates
   * are not in `caPem`); otherwise the reader judges `caPem` itself.
   */
  readonly trust?: TrustReport | undefined;
  /** ms since the epoch, by the database clock. */
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface PutTenantResult {
  readonly record: TenantRecord;
  /** False when an existing tenant was replaced. */
  readonly created: boolean;
  /** Accepted but worth telling the operator (a CA expiring soon, a stale CRL, a CRL of another issuer). */
  readonly warnings: readonly string[];
}

export interface ListTenantsOptions {
  /** Page size, 1 to {@link TENANT_LIMITS}.listMax; default {@link TENANT_LIMITS}.listDefault. */
  readonly limit?: number | undefined;
  /** Return tenants whose name sorts after this one. */
  readonly after?: string | undefined;
}

/** One line of a tenant listing: enough to pick a tenant, without the PEM bodies. */
export interface TenantSummary {
  readonly name: string;
  readonly hostnames: readonly string[];
  readonly mode: MtlsMode;
  readonly version: number;
  /** The trust status, when the store knows it without parsing (the config file's tenants). */
  readonly trustStatus?: TrustStatus | undefined;
}

export interface TenantPage {
  readonly items: readonly TenantSummary[];
  /** Pass as `after` for the next page; undefined on the last page. */
  readonly next: string | undefined;
}

/**
 * A change seen by a replica. `hostnames` holds the tenant's names before and
 * after the change, so caches keyed by hostname know what to drop.
 */
export type TenantChange = { readonly kind: 'tenant'; readonly name: string; readonly hostnames: readonly string[] } | { readonly kind: 'resync' };

export interface TenantStoreHealth {
  readonly healthy: boolean;
  /** ms since the epoch when `healthy` last changed. */
  readonly since: number;
  /** Why the store is unhealthy; undefined when healthy. */
  readonly reason: string | undefined;
}

/**
 * Stable codes for tenant store failures. Adapters map them once: the admin API
 * to 400 (invalid input), 404, 409 (hostname taken), 503 (unavailable).
 */
export type TenantStoreErrorCode =
  | 'ERR_TENANT_INVALID'
  | 'ERR_CA_INVALID'
  | 'ERR_CRL_INVALID'
  | 'ERR_HOSTNAME_TAKEN'
  | 'ERR_TENANT_NOT_FOUND'
  | 'ERR_HOSTNAME_NOT_FOUND'
  | 'ERR_STORE_UNAVAILABLE'
  /** A conditional write found the tenant in another state than expected (created meanwhile, or changed since it was read). */
  | 'ERR_TENANT_CONFLICT'
  /** Tenants come from the config file, which the API does not write. */
  | 'ERR_STORE_READ_ONLY'
  | 'ERR_STORE_MIGRATION';

/**
 * Every error a tenant store raises on purpose. Callers switch on `code`; the
 * message is for people and may change.
 *
 * @example
 * ```ts
 * try { await store.putTenant(input); }
 * catch (err) { if (err instanceof TenantStoreError && err.code === 'ERR_HOSTNAME_TAKEN') reply(409, err.message); }
 * ```
 */
export class TenantStoreError extends BouncerError<TenantStoreErrorCode> {
  /** The input field at fault (`hostnames[1]`, `mtls.caPem`), when there is one. */
  readonly field: string | undefined;
  /** For `ERR_HOSTNAME_TAKEN`: the tenant that owns the hostname, when known. */
  readonly owner: string | undefined;

  constructor(code: TenantStoreErrorCode, message: string, options: { field?: string; owner?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.field = options.field;
    this.owner = options.owner;
  }
}

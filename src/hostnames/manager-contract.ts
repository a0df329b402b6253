/**
 * What the hostname lifecycle offers its callers (the admin API, the CLI, `serve`)
 * and what it needs: its errors, its dependencies and its operations. The state
 * machine behind them is manager.ts.
 */
import type { Logger } from 'pino';
import { BouncerError } from '../core/errors.js';
import type { TenantStore } from '../stores/tenant-store.js';
import type { AcmeIssuer } from './acme-issuer.js';
import type { LiveHostnameCatalog } from './catalog.js';
import type { DnsCheck } from './dns-check.js';
import type { KekRing } from './key-envelope.js';
import type { HostnameReason } from './lifecycle.js';
import type { HostnameMetrics } from './metrics.js';
import type { HostnameRecord, HostnameStore, ListHostnamesOptions } from './store.js';

export type HostnameErrorCode = 'ERR_CUSTOM_HOSTNAME_INVALID' | 'ERR_CUSTOM_HOSTNAME_RESERVED' | 'ERR_CUSTOM_HOSTNAME_TAKEN' | 'ERR_CUSTOM_HOSTNAME_NOT_FOUND' | 'ERR_UPLOAD_INVALID' | 'ERR_TENANT_NOT_FOUND';

/** A refused hostname operation; `reason` is the upload's reason code for `ERR_UPLOAD_INVALID`. */
export class HostnameError extends BouncerError<HostnameErrorCode> {
  readonly reason: HostnameReason | undefined;
  constructor(code: HostnameErrorCode, message: string, options: { reason?: HostnameReason; cause?: unknown } = {}) {
    super(code, message, options);
    this.reason = options.reason;
  }
}

export interface UploadRequest {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  readonly anchorsPem?: string | undefined;
}

export interface HostnameManagerDeps {
  readonly store: HostnameStore;
  readonly tenants: Pick<TenantStore, 'getTenant' | 'resolveHost' | 'addHostname' | 'onChange'>;
  readonly keys: KekRing;
  /** Absent: ACME is not configured, only uploads are possible. */
  readonly issuer?: AcmeIssuer | undefined;
  /** Absent: no DNS check before ordering; the CA's validation decides. */
  readonly dnsCheck?: DnsCheck | undefined;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly metrics?: HostnameMetrics | undefined;
  /** Hostnames bouncer serves itself (the login service's `auth.domain`): never a customer's. */
  readonly reserved?: readonly string[] | undefined;
  /** Names this replica's leases; random by default. */
  readonly replicaId?: string | undefined;
  readonly renewAtFraction?: number | undefined;
  readonly retry?: { readonly initialMs: number; readonly maxMs: number; readonly retryAfterMaxMs: number } | undefined;
  readonly workerIntervalMs?: number | undefined;
  readonly leaseMs?: number | undefined;
}

export interface HostnameManager {
  readonly catalog: LiveHostnameCatalog;
  /** Adds a hostname whose certificate bouncer obtains by ACME. */
  add(tenant: string, hostname: string): Promise<HostnameRecord>;
  /** Stores a customer's certificate for a hostname (added now if it is new). */
  upload(tenant: string, hostname: string, upload: UploadRequest): Promise<HostnameRecord>;
  remove(hostname: string): Promise<HostnameRecord>;
  get(hostname: string): Promise<HostnameRecord | undefined>;
  list(options: ListHostnamesOptions): Promise<HostnameRecord[]>;
  /** Schedules the next attempt now (after the customer fixed their DNS, say). */
  retry(hostname: string): Promise<HostnameRecord>;
  /** One worker pass: takes what is due and works it to its end. Resolves to how many hostnames it handled. */
  runDue(): Promise<number>;
  /** Loads the catalog and starts the periodic worker. */
  start(): Promise<void>;
  close(): Promise<void>;
}

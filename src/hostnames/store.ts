/**
 * Where customer hostnames, their sealed keys, ACME accounts and pending
 * HTTP-01 and TLS-ALPN-01 key authorizations live: in memory for one embedded process, in
 * PostgreSQL for a fleet (pg-store.ts). Work on a hostname (an order, a
 * renewal) is done under a lease, so two replicas never order for the same
 * hostname at once, and a replica that dies mid-order hands the hostname on
 * when its lease runs out.
 */
import type { AcmeChallengeType } from '../config/types.js';
import { BouncerError } from '../core/errors.js';
import type { CertificateSource, HostnameReason, HostnameState } from './lifecycle.js';

export type HostnameStoreErrorCode = 'ERR_CUSTOM_HOSTNAME_TAKEN' | 'ERR_CUSTOM_HOSTNAME_NOT_FOUND' | 'ERR_STORE_UNAVAILABLE';

export class HostnameStoreError extends BouncerError<HostnameStoreErrorCode> {}

export interface HostnameRecord {
  /** Lower-case A-label form; the key. */
  readonly hostname: string;
  readonly tenant: string;
  readonly wildcard: boolean;
  readonly source: CertificateSource;
  readonly state: HostnameState;
  readonly reason: HostnameReason | null;
  /** The CA's or the check's own words about the reason (never key material). */
  readonly reasonDetail: string | null;
  /** Leaf first; null until a certificate was obtained or uploaded. */
  readonly certificateChainPem: string | null;
  /** The private key as a key envelope (key-envelope.ts); never the PEM. */
  readonly sealedKey: string | null;
  readonly notBefore: number | null;
  readonly notAfter: number | null;
  /** When renewal starts (ACME certificates only). */
  readonly renewAt: number | null;
  /** When a worker should look at the hostname next; null when nothing is scheduled. */
  readonly nextAttemptAt: number | null;
  /** Failed attempts in a row; drives the backoff. */
  readonly attempts: number;
  /** The ACME order under way, so another replica taking over resumes it instead of ordering again. */
  readonly orderUrl: string | null;
  /** Grows with every change. */
  readonly version: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface NewHostname {
  readonly hostname: string;
  readonly tenant: string;
  readonly wildcard: boolean;
  readonly source: CertificateSource;
  readonly state: HostnameState;
  readonly reason?: HostnameReason | null;
  readonly reasonDetail?: string | null;
  readonly certificateChainPem?: string | null;
  readonly sealedKey?: string | null;
  readonly notBefore?: number | null;
  readonly notAfter?: number | null;
  readonly nextAttemptAt: number | null;
}

export type HostnamePatch = Partial<Omit<HostnameRecord, 'hostname' | 'tenant' | 'wildcard' | 'version' | 'createdAt' | 'updatedAt'>>;

/** An update applies only when this holds; otherwise it is refused (undefined). */
export interface UpdateGuard {
  /** The worker's lease on the hostname must still be its own. */
  readonly leaseOwner?: string | undefined;
  /** The record must still be at this version (read-modify-write from the API). */
  readonly version?: number | undefined;
}

export interface ListHostnamesOptions {
  readonly tenant?: string | undefined;
  /** Keyset pagination: hostnames sorting after this one. */
  readonly after?: string | undefined;
  readonly limit: number;
}

/** An ACME account as stored; the key sealed like hostnames' keys. */
export interface StoredAccount {
  readonly directoryUrl: string;
  readonly accountUrl: string;
  readonly sealedKey: string;
}

/** One sealed key in the store, for `bouncer hostname rewrap`. */
export interface SealedEntry {
  readonly kind: 'hostname' | 'account';
  /** The hostname, or the account's directory URL. */
  readonly id: string;
  readonly sealedKey: string;
}

export interface StateCount {
  readonly state: HostnameState;
  readonly reason: HostnameReason | null;
  readonly count: number;
}

export interface HostnameStore {
  /** Throws `ERR_CUSTOM_HOSTNAME_TAKEN` when the hostname exists, for this tenant or another. */
  create(input: NewHostname, nowMs: number): Promise<HostnameRecord>;
  get(hostname: string): Promise<HostnameRecord | undefined>;
  list(options: ListHostnamesOptions): Promise<HostnameRecord[]>;
  /** Every hostname that has a certificate (for the catalog), or those of one tenant. */
  listWithCertificates(tenant?: string): Promise<HostnameRecord[]>;
  /** Applies `patch` when `guard` holds; undefined when the hostname is gone or the guard failed. */
  update(hostname: string, patch: HostnamePatch, guard: UpdateGuard, nowMs: number): Promise<HostnameRecord | undefined>;
  /** True when it existed. Its pending challenges go with it. */
  remove(hostname: string): Promise<boolean>;
  /**
   * Leases up to `limit` hostnames whose `nextAttemptAt` has come and whose
   * lease (if any) has run out, to `owner`, for `leaseMs`.
   */
  claimDue(owner: string, nowMs: number, leaseMs: number, limit: number): Promise<HostnameRecord[]>;
  /** Gives a lease back early (work done). */
  release(hostname: string, owner: string): Promise<void>;
  countByState(): Promise<StateCount[]>;
  /** Stores a pending challenge's key authorization; `type` defaults to `http-01`. */
  putChallenge(token: string, keyAuthorization: string, hostname: string, expiresAt: number, type?: AcmeChallengeType): Promise<void>;
  /** The key authorization for an HTTP-01 `token`, unless it expired. TLS-ALPN-01 challenges are not served over HTTP. */
  getChallenge(token: string, nowMs: number): Promise<string | undefined>;
  /**
   * The key authorization of the TLS-ALPN-01 challenge pending for `hostname`, unless it
   * expired (the one expiring last, should there be two). Each replica builds its own
   * validation certificate from it, so no certificate key is ever stored.
   */
  getTlsAlpnChallenge(hostname: string, nowMs: number): Promise<string | undefined>;
  deleteChallenge(token: string): Promise<void>;
  /**
   * The account for `directoryUrl`; when there is none, `create` makes one and
   * it is stored. Replicas asking together get the same account: one creates,
   * the others wait and read it.
   */
  account(directoryUrl: string, create: () => Promise<StoredAccount>): Promise<StoredAccount>;
  /** Every sealed key, for re-wrapping. */
  listSealed(): Promise<SealedEntry[]>;
  /** Replaces one sealed key if it is still `expected`; false when it changed meanwhile. */
  replaceSealed(entry: SealedEntry, replacement: string): Promise<boolean>;
  /** Called with the hostname after every change by any replica; `'*'` after an outage (re-read everything). */
  onChange(listener: (hostname: string) => void): () => void;
  close(): Promise<void>;
}

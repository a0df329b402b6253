import type { ParsedCert } from './cert-parse.js';
import type { RevocationFailure } from './reasons.js';
import type { Tenant } from './tenant.js';

/**
 * How hard a tenant leans on a network revocation source (docs/config.md,
 * `mtls.revocation`): `off` never asks; `prefer` asks and lets a certificate
 * through when no trustworthy answer comes (soft-fail, counted and logged);
 * `require` denies without a trustworthy answer (hard-fail).
 */
export type RevocationMode = 'off' | 'prefer' | 'require';

/** A tenant's `mtls.revocation`, validated. */
export interface RevocationPolicy {
  readonly ocsp: RevocationMode;
  /** Responder used for every certificate instead of the one in its authorityInfoAccess. */
  readonly ocspUrl: string | undefined;
  /**
   * Send a nonce (RFC 8954) and require it echoed. Off for responders that
   * serve pre-signed answers (CDN-fronted public CAs), which never echo one;
   * freshness then rests on thisUpdate/nextUpdate alone.
   */
  readonly ocspNonce: boolean;
  readonly crl: RevocationMode;
  /** CRLs fetched from the start and kept fresh, whoever the client is. */
  readonly crlUrls: readonly string[];
  /** Also fetch the cRLDistributionPoints named by the certificates clients present. */
  readonly crlDistributionPoints: boolean;
}

/**
 * The revocation answer for a verified chain, from what is already known
 * (never from the network on the caller's time). `pending` is a denial that
 * may turn into an answer: the caller may wait for `settled` once and ask again.
 */
export type RevocationAnswer =
  | { readonly kind: 'pass' }
  | {
      readonly kind: 'deny';
      readonly reason: RevocationFailure;
      readonly detail: string;
      readonly settled?: Promise<void> | undefined;
    };

/**
 * What the decision core asks about revocation. Implemented outside the core
 * (src/revocation) over caches filled in the background; `check` must answer
 * synchronously from memory.
 */
export interface RevocationView {
  check(tenant: Tenant, chain: readonly ParsedCert[], nowMs: number): RevocationAnswer;
}

import type { ParsedCert } from './parsed-cert.js';
import type { CertFailure } from './reasons.js';

// What a client-certificate path validation is asked and answers, and the one
// way its parts build a failure.

/**
 * Outcome of {@link verifyClientChain}. On success `chain` runs from the leaf
 * (index 0) to the trust anchor (last) and `validUntil` is the instant (ms) after
 * which the verdict must be recomputed. On failure `reason` is a stable code and
 * `detail` a sentence for the audit log naming the certificate at fault.
 */
export type ChainResult =
  | { readonly ok: true; readonly chain: readonly ParsedCert[]; readonly validUntil: number }
  | { readonly ok: false; readonly reason: CertFailure; readonly detail: string };

export type Failure = Extract<ChainResult, { ok: false }>;

/**
 * Choices a caller may make about the leaf. The production path passes none:
 * every default is the strict one.
 */
export interface ChainOptions {
  /**
   * Accept a leaf without an extendedKeyUsage extension (RFC 5280 §4.2.1.12:
   * no EKU means any purpose). Off by default, because Envoy does not enforce
   * clientAuth and a server certificate of the same CA must not log in as a
   * client. Only conformance suites written for generic path validation (NIST
   * PKITS, whose end-entity certificates carry no EKU) turn it on. A leaf whose
   * EKU is present and lacks clientAuth is refused either way.
   */
  readonly allowLeafWithoutEku?: boolean;
  /**
   * Refuse a certificate whose issuer has no CRL configured
   * (`client_cert_crl_missing`). Off by default: CRLs are optional per tenant.
   * Conformance runs (PKITS supplies a CRL for every CA) turn it on.
   */
  readonly requireCrl?: boolean;
}

export function fail(reason: CertFailure, detail: string): Failure {
  return { ok: false, reason, detail };
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

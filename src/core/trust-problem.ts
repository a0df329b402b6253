/**
 * Why a piece of a tenant's trust data was set aside. Its own module because
 * both the tenant model (`tenant.ts`) and the judge (`trust-anchor.ts`) speak of it.
 */

/** Stable codes for why trust data was set aside; the admin API and logs carry them. */
export type TrustProblemCode =
  /** The CA file could not be read (missing, permissions). */
  | 'ca_unreadable'
  /** No `-----BEGIN CERTIFICATE-----` block at all. */
  | 'ca_no_certificate'
  /** One PEM block is not a certificate DER we can parse. */
  | 'ca_unparsable'
  /** basicConstraints cA absent or false (RFC 5280 §4.2.1.9). */
  | 'ca_not_a_ca'
  /** keyUsage present without keyCertSign (RFC 5280 §4.2.1.3). */
  | 'ca_no_key_cert_sign'
  | 'ca_expired'
  | 'ca_not_yet_valid'
  | 'ca_weak_key'
  /** A CRL the tenant names cannot be used; the tenant is unusable (fail closed). */
  | 'crl_invalid'
  /** Stored revocation settings (a PostgreSQL row edited by hand) break the rules; the tenant is unusable (fail closed). */
  | 'revocation_invalid'
  /** Stored certificate policy inputs (a PostgreSQL row edited by hand) break the rules; the tenant is unusable (fail closed). */
  | 'certificate_policies_invalid';

export interface TrustProblem {
  readonly code: TrustProblemCode;
  /** For people: what is wrong, naming the certificate when there is one. */
  readonly message: string;
  /** The certificate's subject, when the problem is one certificate's. */
  readonly subject?: string | undefined;
}

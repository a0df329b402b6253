/**
 * The states a customer hostname goes through and the reasons it can fail,
 * with stable codes: the admin API, the metrics labels and the log lines all
 * carry these strings. docs/hostnames.md explains each.
 */

/**
 * - `pending_validation`: added; waiting for the first (or next) validation attempt.
 * - `issuing`: an ACME order is under way.
 * - `active`: a valid certificate is served.
 * - `renewing`: the certificate passed about two thirds of its lifetime and a new one is being
 *   obtained; the current one is still served.
 * - `failed`: no certificate can be served; `reason` says why, and ACME failures are retried
 *   with backoff.
 */
export const HOSTNAME_STATES = ['pending_validation', 'issuing', 'active', 'renewing', 'failed'] as const;
export type HostnameState = (typeof HOSTNAME_STATES)[number];

/** Why the last attempt failed. ACME reasons are retried with backoff; upload reasons wait for a new upload. */
export const HOSTNAME_REASONS = {
  dns_not_pointing_here: "the hostname's DNS does not resolve to the addresses configured as bouncer's (hostnames.acme.expected_addresses), or does not resolve",
  challenge_failed: 'the CA could not validate the challenge: no HTTP-01 key authorization or TLS-ALPN-01 validation certificate at the hostname, or a wrong one (the detail names the type)',
  ca_refused: 'the CA refused to issue for this name (policy, blocked name, malformed request)',
  rate_limited: 'the CA rate-limited the order; retried after the time it asked for',
  ca_unavailable: 'the CA could not be reached or answered with a server error',
  certificate_expired: 'the certificate expired before a new one could be obtained or uploaded',
  acme_not_configured: 'no ACME CA is configured (hostnames.acme); upload a certificate instead',
  wildcard_needs_upload: 'a wildcard cannot be validated over HTTP-01 or TLS-ALPN-01; upload its certificate',
  upload_invalid_pem: 'the upload does not parse: no certificate, or a certificate or key that is not valid PEM/DER',
  upload_invalid_key_mismatch: "the private key does not belong to the leaf certificate's public key",
  upload_invalid_hostname_mismatch: "the leaf certificate's subject alternative names do not cover the hostname",
  upload_invalid_chain_incomplete: "the chain does not lead from the leaf to a root or to one of the declared intermediates, or a signature in it does not verify",
  upload_invalid_expired: 'the leaf or a certificate of its chain has expired',
  upload_invalid_not_yet_valid: 'the leaf or a certificate of its chain is not valid yet',
  upload_invalid_key_unsupported: 'the key type or size is not one Envoy and browsers accept (RSA below 2048 bits, unknown curve)',
  upload_invalid_not_server_cert: 'the leaf is a CA certificate, or its extended key usage excludes TLS server authentication',
} as const;
export type HostnameReason = keyof typeof HOSTNAME_REASONS;
export const HOSTNAME_REASON_CODES = Object.keys(HOSTNAME_REASONS) as HostnameReason[];

export type CertificateSource = 'acme' | 'upload';

/** Whether an ACME attempt that failed this way is worth another try later. */
export function isRetryable(reason: HostnameReason): boolean {
  return !reason.startsWith('upload_invalid_') && reason !== 'wildcard_needs_upload' && reason !== 'acme_not_configured';
}

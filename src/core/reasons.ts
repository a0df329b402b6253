/**
 * The one list of decision reasons. The same code appears in the deny body, the
 * audit line and the `reason` label of the metrics, so it must stay stable.
 */
export const DENY_REASONS = {
  host_missing: 400,
  tenant_unknown: 403,
  /**
   * The tenant's trust data has no usable CA: every certificate of its bundle is
   * expired, not yet valid, not a CA or unparsable, or a CRL it names is unusable.
   * Only that tenant's devices are affected.
   */
  tenant_trust_unusable: 403,
  sni_host_mismatch: 421,
  client_cert_missing: 401,
  client_cert_malformed: 403,
  client_cert_untrusted: 403,
  client_cert_expired: 403,
  client_cert_not_yet_valid: 403,
  client_cert_revoked: 403,
  client_cert_bad_eku: 403,
  client_cert_is_ca: 403,
  client_cert_weak_signature: 403,
  client_cert_weak_key: 403,
  client_cert_chain_invalid: 403,
  client_cert_crl_stale: 403,
  client_cert_duplicate_extension: 403,
  client_cert_extension_malformed: 403,
  client_cert_ec_explicit_params: 403,
  client_cert_signature_unsupported: 403,
  client_cert_critical_extension: 403,
  client_cert_key_id_critical: 403,
  client_cert_aki_missing: 403,
  client_cert_ski_missing: 403,
  client_cert_ca_subject_empty: 403,
  client_cert_ca_basic_constraints_not_critical: 403,
  client_cert_ca_key_usage_missing: 403,
  client_cert_key_cert_sign_not_ca: 403,
  client_cert_name_constraints_not_ca: 403,
  client_cert_empty_subject_san: 403,
  client_cert_name_constraints: 403,
  client_cert_name_constraints_invalid: 403,
  client_cert_name_constraints_too_complex: 403,
  /** An explicit certificate policy is required (a CA's or the anchor's policyConstraints, or the tenant's setting) and none the tenant accepts is valid for the path. */
  client_cert_policy_mismatch: 403,
  /** Evaluating the path's certificate policies would take more than the bound (policy graph explosion). */
  client_cert_policy_too_complex: 403,
  client_cert_policy_invalid: 403,
  client_cert_crl_missing: 403,
  /** CRLs of the issuer are configured, but each names an issuingDistributionPoint the certificate's cRLDistributionPoints do not. */
  client_cert_crl_not_in_scope: 403,
  /** mtls.revocation.ocsp is require and no trustworthy OCSP answer is at hand (responder down, bad or stale response). */
  client_cert_ocsp_unavailable: 403,
  /** The responder answered "unknown" for the certificate, under mtls.revocation.ocsp: require. */
  client_cert_ocsp_unknown: 403,
  /** mtls.revocation.crl is require and no verified, fetched CRL covers the certificate's issuer. */
  client_cert_crl_unavailable: 403,
  xfcc_malformed: 400,
  xfcc_untrusted: 403,
  xfcc_mismatch: 403,
  xfcc_unexpected_elements: 400,
  internal_error: 403,
  login_required: 401,
  policy_deny: 403,
  policy_no_match: 403,
  service_token_invalid: 401,
  handoff_invalid: 400,
  /** The handoff link was started in another browser: its binding cookie is missing or different (login CSRF). */
  handoff_browser_mismatch: 400,
  session_established: 302,
  signed_out: 302,
  /** The tenant store (PostgreSQL) could not say who serves this host, and it is not cached. */
  tenant_store_unavailable: 503,
  /** The shared store (Redis) could not answer a check that needs it: revocations or a single-use handoff. */
  state_unavailable: 503,
} as const satisfies Record<string, number>;

export type DenyReason = keyof typeof DENY_REASONS;

export const ALLOW_REASONS = [
  'mtls_verified',
  'mtls_optional_absent',
  'mtls_off',
  'path_exempt',
  'auth_domain',
  'policy_allow',
  'policy_bypass',
  'policy_service_auth',
] as const;
export type AllowReason = (typeof ALLOW_REASONS)[number];

export type Reason = DenyReason | AllowReason;

/** Reasons a certificate path can fail; a subset of {@link DenyReason}. */
export type CertFailure = Extract<
  DenyReason,
  | 'client_cert_malformed'
  | 'client_cert_untrusted'
  | 'client_cert_expired'
  | 'client_cert_not_yet_valid'
  | 'client_cert_revoked'
  | 'client_cert_bad_eku'
  | 'client_cert_is_ca'
  | 'client_cert_weak_signature'
  | 'client_cert_weak_key'
  | 'client_cert_chain_invalid'
  | 'client_cert_crl_stale'
  | 'tenant_trust_unusable'
  | 'client_cert_duplicate_extension'
  | 'client_cert_extension_malformed'
  | 'client_cert_ec_explicit_params'
  | 'client_cert_signature_unsupported'
  | 'client_cert_critical_extension'
  | 'client_cert_key_id_critical'
  | 'client_cert_aki_missing'
  | 'client_cert_ski_missing'
  | 'client_cert_ca_subject_empty'
  | 'client_cert_ca_basic_constraints_not_critical'
  | 'client_cert_ca_key_usage_missing'
  | 'client_cert_key_cert_sign_not_ca'
  | 'client_cert_name_constraints_not_ca'
  | 'client_cert_empty_subject_san'
  | 'client_cert_name_constraints'
  | 'client_cert_name_constraints_invalid'
  | 'client_cert_name_constraints_too_complex'
  | 'client_cert_policy_mismatch'
  | 'client_cert_policy_too_complex'
  | 'client_cert_policy_invalid'
  | 'client_cert_crl_missing'
  | 'client_cert_crl_not_in_scope'
>;

/** Reasons a network revocation check (OCSP, fetched CRLs) can deny; see src/core/revocation-policy.ts. */
export type RevocationFailure = Extract<
  DenyReason,
  'client_cert_revoked' | 'client_cert_ocsp_unavailable' | 'client_cert_ocsp_unknown' | 'client_cert_crl_unavailable' | 'client_cert_crl_stale'
>;

export function statusFor(reason: DenyReason): number {
  return DENY_REASONS[reason];
}

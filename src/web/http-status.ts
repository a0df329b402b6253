/**
 * Every refusal of the web service (login pages, SAML IdP, OIDC provider, App
 * Launcher) and its HTTP status, in one table, as `authz/grpc-errors.ts` is for
 * gRPC and `admin/errors.ts` for the admin API. A page or JSON body names the
 * code; the status comes from here. Codes are stable; texts live beside the
 * code that raises them.
 */
import type { LoginErrorCode } from './idp/connector.js';
import type { SamlIdpErrorCode } from './saml-idp/errors.js';

/** Refusals of the login service's own steps (web/auth). */
type AuthPageCode = 'auth_not_configured' | 'app_unknown' | 'return_url_invalid' | 'idp_not_allowed' | 'idp_unavailable' | 'login_unbound' | 'login_required' | 'not_found' | 'bad_request' | 'internal_error';
/** The OIDC provider's interaction, and the OAuth errors bouncer answers itself before oidc-provider does (RFC 6749 §5.2). */
type OidcProviderCode = 'oidc_interaction_expired' | 'invalid_client' | 'temporarily_unavailable' | 'server_error';

/**
 * A policy refused the user. The page names the policy's own reason
 * (`core/reasons.ts`, `policy_no_match` and friends); the status is this one.
 */
export const POLICY_DENIED_STATUS = 403;

export type WebErrorCode = AuthPageCode | LoginErrorCode | SamlIdpErrorCode | OidcProviderCode;

export const WEB_ERROR_STATUS = {
  // web/auth: the sign-in steps
  auth_not_configured: 503,
  app_unknown: 400,
  return_url_invalid: 400,
  idp_not_allowed: 400,
  idp_unavailable: 503,
  login_unbound: 400,
  /** `/me` without a session. */
  login_required: 401,
  not_found: 404,
  /** fastify refused the request (body too large, bad content type, …); its own 4xx status is kept when it gives one. */
  bad_request: 400,
  internal_error: 500,

  // web/idp: a failed round trip to the IdP (LoginError)
  login_state_mismatch: 400,
  login_expired: 400,
  login_replayed: 400,
  login_idp_error: 502,
  login_token_invalid: 400,
  login_nonce_mismatch: 400,
  login_issuer_mismatch: 400,
  login_not_member: 403,
  login_saml_invalid: 400,
  login_email_unverified: 403,
  login_unavailable: 503,

  // web/saml-idp: bouncer as a SAML IdP (SamlIdpError)
  saml_sp_unknown: 404,
  saml_request_missing: 400,
  saml_request_malformed: 400,
  saml_request_too_large: 400,
  saml_issuer_mismatch: 400,
  saml_acs_not_registered: 400,
  saml_request_unsigned: 400,
  saml_signature_invalid: 400,
  saml_request_expired: 400,
  saml_request_unbound: 400,
  saml_relay_state_invalid: 400,
  saml_identity_incomplete: 403,
  saml_not_configured: 503,

  // web/oidc-provider
  oidc_interaction_expired: 400,
  invalid_client: 401,
  temporarily_unavailable: 503,
  server_error: 500,
} as const satisfies Record<WebErrorCode, number>;

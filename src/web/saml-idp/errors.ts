/**
 * Every way the SAML IdP refuses a request, and the text users see. Codes are
 * stable: they appear on the error page, in logs and tests. Their HTTP statuses
 * are in `web/http-status.ts`.
 */
import { BouncerError } from '../../core/errors.js';

/** Stable refusal codes of the SAML IdP endpoints. */
export type SamlIdpErrorCode =
  | 'saml_sp_unknown'
  | 'saml_request_missing'
  | 'saml_request_malformed'
  | 'saml_request_too_large'
  | 'saml_issuer_mismatch'
  | 'saml_acs_not_registered'
  | 'saml_request_unsigned'
  | 'saml_signature_invalid'
  | 'saml_request_expired'
  | 'saml_request_unbound'
  | 'saml_relay_state_invalid'
  | 'saml_identity_incomplete'
  | 'saml_not_configured';

/** User-facing text per code (the detail goes to the log only). */
export const SAML_IDP_TEXT: Readonly<Record<SamlIdpErrorCode, string>> = {
  saml_sp_unknown: 'This sign-in link names no known SAML application.',
  saml_request_missing: 'The sign-in request from the application is missing.',
  saml_request_malformed: 'The sign-in request from the application could not be read.',
  saml_request_too_large: 'The sign-in request from the application is too large.',
  saml_issuer_mismatch: 'The sign-in request was sent by a different application than the one this link belongs to.',
  saml_acs_not_registered: 'The application asked for the sign-in to be sent to an address that is not registered for it. No sign-in was sent. Ask the administrator to add the address to acs_urls if it is genuine.',
  saml_request_unsigned: 'The sign-in request from the application must be signed, and is not.',
  saml_signature_invalid: 'The signature on the sign-in request from the application is not valid.',
  saml_request_expired: 'This sign-in took too long or was already completed. Please start again from the application.',
  saml_request_unbound: 'This sign-in was started in another browser. Please start again from the application.',
  saml_relay_state_invalid: 'The RelayState sent by the application is too long or contains characters it may not.',
  saml_identity_incomplete: 'Your account has no email address, which this application needs to identify you.',
  saml_not_configured: 'SAML sign-in is not configured.',
};

/** A refused SAML IdP request. `detail` is for the log, never shown to the user. */
export class SamlIdpError extends BouncerError<SamlIdpErrorCode> {
  constructor(
    code: SamlIdpErrorCode,
    readonly detail: string,
  ) {
    super(code, `${code}: ${detail}`);
  }
}

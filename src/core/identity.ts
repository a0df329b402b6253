/**
 * Identity types shared by the policy engine, the session layer and the IdP
 * connectors. Kept in a dependency-free module so every layer can import it
 * without pulling in I/O.
 */

/** Kind of identity provider that authenticated the user. */
export type IdpType = 'oidc' | 'github' | 'saml';

/** Identity after login, normalised across IdPs. */
export interface Identity {
  /** Stable per IdP: `${idpId}:${subject-at-idp}`. */
  readonly sub: string;
  /** Lowercase email address, if the IdP supplied one. */
  readonly email: string | undefined;
  /** Whether the IdP asserted that the email is verified. */
  readonly emailVerified: boolean;
  /** Display name, if known. */
  readonly name: string | undefined;
  /** Group memberships as reported by the IdP. */
  readonly groups: readonly string[];
  /** The IdP that authenticated the user. */
  readonly idp: { readonly id: string; readonly type: IdpType };
  /** RFC 8176 authentication method references ('pwd', 'mfa', 'hwk', 'otp', 'fido', ...). */
  readonly amr: readonly string[];
  /** Milliseconds since epoch when the user authenticated at the IdP. */
  readonly authTime: number;
}

/** Verified client certificate facts (present only when the mTLS check verified a client cert). */
export interface RequestCertificate {
  readonly fingerprint256: string;
  readonly subject: string;
  readonly commonName: string | undefined;
  readonly dns: readonly string[];
  readonly uri: readonly string[];
  readonly email: readonly string[];
}

/** Per-request facts the policies may look at (besides Identity). */
export interface RequestContext {
  /** Current time in ms since epoch; passed in so the core stays pure. */
  readonly nowMs: number;
  readonly host: string;
  readonly path: string;
  readonly method: string;
  readonly sourceIp: string | undefined;
  /** ISO 3166 alpha-2, from a trusted header (config), else undefined. */
  readonly country: string | undefined;
  /** Present only when the mTLS check verified a client cert. */
  readonly certificate: RequestCertificate | undefined;
  /** A verified service token, if presented. */
  readonly serviceToken: { readonly id: string } | undefined;
}

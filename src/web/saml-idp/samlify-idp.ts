/**
 * samlify as an identity provider, typed with local interfaces for the same reason
 * as `../idp/saml/libs.ts` (its declarations pull the DOM library into the whole
 * program). Lists exactly the IdP-side calls bouncer makes, so an upgrade that
 * changes them fails here.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** samlify entity metadata, as much as the IdP side reads. */
export interface SamlifyEntityMeta {
  getEntityID(): string;
  getX509Certificate(use: 'signing' | 'encryption'): string | string[] | null;
}

/** samlify `ServiceProvider`, seen from the IdP. */
export interface SamlifyIdpSideSp {
  readonly entityMeta: SamlifyEntityMeta;
}

/** samlify `IdentityProvider`. */
export interface SamlifyIdpEntity {
  getMetadata(): string;
  /**
   * Builds, signs and base64-encodes a login Response for the POST binding.
   * `customTagReplacement` receives the configured template and returns the final,
   * unsigned XML; samlify then signs the assertion and/or the message as the SP's
   * settings say.
   */
  createLoginResponse(
    sp: SamlifyIdpSideSp,
    requestInfo: Record<string, never>,
    binding: 'post',
    user: Record<string, never>,
    customTagReplacement: (template: string) => { id: string; context: string },
  ): Promise<{ id: string; context: string }>;
}

/** Settings of `samlify.IdentityProvider` bouncer uses. */
export interface SamlifyIdpSettings {
  entityID: string;
  privateKey: string;
  signingCert: string;
  singleSignOnService: { Binding: string; Location: string }[];
  nameIDFormat: string[];
  requestSignatureAlgorithm: string;
  wantAuthnRequestsSigned: boolean;
  isAssertionEncrypted: false;
  generateID: () => string;
}

/** Settings of `samlify.ServiceProvider` bouncer uses (one ACS: the one this response goes to). */
export interface SamlifySpSettings {
  entityID: string;
  assertionConsumerService: { Binding: string; Location: string }[];
  authnRequestsSigned: boolean;
  /** Sign the Assertion. */
  wantAssertionsSigned: boolean;
  /** Sign the Response (also done whenever the assertion is not signed). */
  wantMessageSigned: boolean;
  signingCert?: string;
}

interface SamlifyIdpModule {
  IdentityProvider(settings: SamlifyIdpSettings): SamlifyIdpEntity;
  ServiceProvider(settings: SamlifySpSettings): SamlifyIdpSideSp;
  SamlLib: {
    /** `[verified, assertion | null]`; pins the certificate from `metadata`; may throw. */
    verifySignature(xml: string, options: { metadata: SamlifyEntityMeta }): [boolean, string | null];
  };
}

/** samlify (CommonJS), typed for the IdP side. */
export const samlifyIdp = require('samlify') as SamlifyIdpModule;

/** XML-DSig signature algorithm URIs (RFC 6931 §2.3.2, §2.3.4). */
export const SIGNATURE_ALGORITHM_URI = {
  'rsa-sha256': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'rsa-sha512': 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
} as const;

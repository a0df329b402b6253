/**
 * The only file that knows the shape of samlify (@xmldom/xmldom's is in core/xml.ts).
 *
 * Both are loaded with `createRequire` and typed with the small interfaces below
 * instead of their own declarations, on purpose: xmldom's declarations carry
 * `/// <reference lib="dom" />`, which would switch the DOM library on for the whole
 * program and change types such as `BufferSource` under unrelated code (PKI, JWT).
 * These interfaces list exactly what we use, so a library upgrade that changes it
 * fails here, in one place.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export type { XmlDocument, XmlElement, XmlNode } from '../../../core/xml.js';

/** IdP metadata accessors we rely on (samlify `IdpMetadata`). */
export interface SamlifyIdpMetadata {
  getEntityID(): string;
  getX509Certificate(use: 'signing' | 'encryption'): string | string[] | null;
  getSingleSignOnService(binding: string): string | object;
  isWantAuthnRequestsSigned(): boolean;
}

/** samlify `IdentityProvider` as the SP sees it. */
export interface SamlifyIdp {
  readonly entityMeta: SamlifyIdpMetadata;
}

/** samlify `ServiceProvider`. */
export interface SamlifySp {
  createLoginRequest(idp: SamlifyIdp, binding: 'redirect', options: { relayState: string }): { id: string; context: string };
  getMetadata(): string;
}

interface SamlifyModule {
  IdentityProvider(settings: { metadata: string }): SamlifyIdp;
  ServiceProvider(settings: {
    entityID: string;
    assertionConsumerService: { Binding: string; Location: string }[];
    authnRequestsSigned: boolean;
    wantAssertionsSigned: boolean;
    nameIDFormat: string[];
    generateID: () => string;
  }): SamlifySp;
  SamlLib: {
    /** `[verified, assertion XML covered by the verified signature | null]`; may throw. */
    verifySignature(xml: string, options: { metadata: SamlifyIdpMetadata }): [boolean, string | null];
  };
}

/** samlify (CommonJS), typed as above. */
export const samlify = require('samlify') as SamlifyModule;

export { XmlDomParser } from '../../../core/xml.js';

export { BINDING_POST, BINDING_REDIRECT, NAMEID_FORMAT_EMAIL } from '../../../core/saml-names.js';

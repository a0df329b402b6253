/**
 * The only file that knows the shapes of samlify and @xmldom/xmldom.
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

/** A DOM node, as much of it as we read. */
export interface XmlNode {
  readonly nodeType: number;
  readonly nodeValue: string | null;
  readonly childNodes: ArrayLike<XmlNode>;
  readonly parentNode: XmlNode | null;
}

/** A DOM element, as much of it as we read. */
export interface XmlElement extends XmlNode {
  readonly namespaceURI: string | null;
  readonly localName: string | null;
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  getElementsByTagName(name: string): ArrayLike<XmlElement>;
}

/** A parsed document. */
export interface XmlDocument extends XmlNode {
  readonly documentElement: XmlElement | null;
}

interface XmlDomModule {
  DOMParser: new (options: {
    locator?: object;
    errorHandler: { warning: (msg: string) => void; error: (msg: string) => void; fatalError: (msg: string) => void };
  }) => { parseFromString(xml: string, mimeType: string): XmlDocument };
}

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

/** xmldom's parser constructor (CommonJS), typed as above. */
export const XmlDomParser = (require('@xmldom/xmldom') as XmlDomModule).DOMParser;

/** SAML 2.0 binding URIs (SAML bindings §3.4, §3.5). */
export const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
export const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
/** NameID format for email addresses (SAML core §8.3.2). */
export const NAMEID_FORMAT_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';

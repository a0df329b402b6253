/**
 * SAML's use of the XML gate in `core/xml.ts`: every refusal becomes the one
 * login error SAML validation failures use, and the POST binding's base64 is
 * decoded here.
 */
import { LoginError } from '../connector.js';
import * as xml from '../../../core/xml.js';
import { MAX_SAML_XML_BYTES, type XmlDocument, type XmlElement } from '../../../core/xml.js';

export { MAX_SAML_XML_BYTES, allElements, attr, childElements, descendants } from '../../../core/xml.js';

/** Shorthand for the one error code SAML validation failures use. */
export function samlInvalid(detail: string): LoginError {
  return new LoginError('login_saml_invalid', `SAML response rejected: ${detail}`);
}

/**
 * Decodes the POST-binding `SAMLResponse` parameter (base64 of the XML, SAML bindings §3.5.4).
 *
 * @example
 * ```ts
 * const xml = decodeSamlResponse(params.get('SAMLResponse') ?? '');
 * ```
 */
export function decodeSamlResponse(encoded: string): string {
  // Base64 of 256 KiB is ~350 KB; refuse early before allocating for a huge one.
  const compact = encoded.replace(/[\r\n\t ]/g, '');
  if (compact.length === 0) throw samlInvalid('SAMLResponse is empty');
  if (compact.length > Math.ceil(MAX_SAML_XML_BYTES / 3) * 4 + 4) throw samlInvalid(`larger than ${MAX_SAML_XML_BYTES} bytes`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) throw samlInvalid('SAMLResponse is not base64');
  const bytes = Buffer.from(compact, 'base64');
  if (bytes.length > MAX_SAML_XML_BYTES) throw samlInvalid(`larger than ${MAX_SAML_XML_BYTES} bytes`);
  const xml = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  // U+FFFD means the bytes were not UTF-8; SAML over POST is UTF-8 in practice, and a lossy
  // decode would make what we check differ from what the signature covered.
  if (xml.includes('\uFFFD')) throw samlInvalid('SAMLResponse is not valid UTF-8');
  return xml;
}

/** {@link xml.parseGuardedXml}, refusing with {@link samlInvalid}. */
export function parseGuardedXml(text: string, what: string): XmlDocument {
  return xml.parseGuardedXml(text, what, samlInvalid);
}

/** {@link xml.optionalChild}, refusing with {@link samlInvalid}. */
export function optionalChild(parent: XmlElement, ns: string, local: string): XmlElement | undefined {
  return xml.optionalChild(parent, ns, local, samlInvalid);
}

/** {@link xml.requiredChild}, refusing with {@link samlInvalid}. */
export function requiredChild(parent: XmlElement, ns: string, local: string): XmlElement {
  return xml.requiredChild(parent, ns, local, samlInvalid);
}

/** {@link xml.textOf}, refusing with {@link samlInvalid}. */
export function textOf(el: XmlElement): string {
  return xml.textOf(el, samlInvalid);
}

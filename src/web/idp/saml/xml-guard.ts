/**
 * The first gate for SAML XML from the outside: size, encoding, DOCTYPE/ENTITY,
 * one root element. These run before any library parses or canonicalises the
 * message, because DTD tricks (entity expansion, external entities) and a second
 * root element are exactly what confuses parsers and signature code that come later.
 */
import { LoginError } from '../connector.js';
import { XmlDomParser, type XmlDocument, type XmlElement, type XmlNode } from './libs.js';

/** Largest decoded SAMLResponse we look at: real responses are a few KiB; 256 KiB bounds parse cost. */
export const MAX_SAML_XML_BYTES = 256 * 1024;

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;

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

/**
 * Refuses DTDs and entity declarations, then parses strictly and requires exactly one
 * root element with nothing but comments, processing instructions and whitespace around it.
 *
 * @example
 * ```ts
 * const doc = parseGuardedXml(xml, 'SAMLResponse');
 * ```
 */
export function parseGuardedXml(xml: string, what: string): XmlDocument {
  if (Buffer.byteLength(xml, 'utf8') > MAX_SAML_XML_BYTES) throw samlInvalid(`${what} larger than ${MAX_SAML_XML_BYTES} bytes`);
  // Any DTD is refused, even an internal subset with no entities: SAML never needs one (SAML core §1.3),
  // and entity expansion is how XXE and "billion laughs" work.
  if (/<!DOCTYPE/i.test(xml)) throw samlInvalid(`${what} contains a DOCTYPE declaration`);
  if (/<!ENTITY/i.test(xml)) throw samlInvalid(`${what} contains an ENTITY declaration`);
  const body = xml.replace(/^\uFEFF/, '').trimStart();
  if (!body.startsWith('<')) throw samlInvalid(`${what} has text before the root element`);

  let doc: XmlDocument;
  try {
    doc = new XmlDomParser({
      locator: {},
      errorHandler: {
        warning: () => undefined,
        error: (msg: string) => {
          throw new Error(msg);
        },
        fatalError: (msg: string) => {
          throw new Error(msg);
        },
      },
    }).parseFromString(xml, 'text/xml');
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/only one element/i.test(msg)) throw samlInvalid(`${what} has more than one root element`);
    throw samlInvalid(`${what} is not well-formed XML`);
  }
  let roots = 0;
  for (const node of Array.from(doc.childNodes)) {
    switch (node.nodeType) {
      case ELEMENT_NODE:
        roots++;
        break;
      case COMMENT_NODE:
      case PROCESSING_INSTRUCTION_NODE:
        break;
      case TEXT_NODE:
        if ((node.nodeValue ?? '').trim() !== '') throw samlInvalid(`${what} has text outside the root element`);
        break;
      default:
        throw samlInvalid(`${what} has an unexpected node (type ${node.nodeType}) at the top level`);
    }
  }
  if (roots !== 1) throw samlInvalid(`${what} must have exactly one root element, found ${roots}`);
  return doc;
}

/** Direct element children with this namespace and local name. */
export function childElements(parent: XmlElement | XmlDocument, ns: string, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const n of Array.from(parent.childNodes)) {
    if (n.nodeType === ELEMENT_NODE && (n as XmlElement).namespaceURI === ns && (n as XmlElement).localName === local) out.push(n as XmlElement);
  }
  return out;
}

/** At most one direct child; more than one is a structure error (the schema allows one). */
export function optionalChild(parent: XmlElement, ns: string, local: string): XmlElement | undefined {
  const found = childElements(parent, ns, local);
  if (found.length > 1) throw samlInvalid(`more than one <${local}> in <${parent.localName}>`);
  return found[0];
}

/** Exactly one direct child. */
export function requiredChild(parent: XmlElement, ns: string, local: string): XmlElement {
  const found = optionalChild(parent, ns, local);
  if (found === undefined) throw samlInvalid(`<${parent.localName}> has no <${local}>`);
  return found;
}

/** All descendant elements (any depth) with this namespace and local name. */
export function descendants(root: XmlElement | XmlDocument, ns: string, local: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (n: XmlNode): void => {
    for (const c of Array.from(n.childNodes)) {
      if (c.nodeType !== ELEMENT_NODE) continue;
      const el = c as XmlElement;
      if (el.namespaceURI === ns && el.localName === local) out.push(el);
      walk(el);
    }
  };
  walk(root);
  return out;
}

/** Every element under (and including) `root`, for whole-document checks. */
export function allElements(root: XmlElement): XmlElement[] {
  const out: XmlElement[] = [root];
  for (let i = 0; i < out.length; i++) {
    for (const c of Array.from((out[i] as XmlElement).childNodes)) if (c.nodeType === ELEMENT_NODE) out.push(c as XmlElement);
  }
  return out;
}

/**
 * Text content of a simple-content element, refusing comments, processing instructions
 * and child elements inside it: `admin@acme.test<!---->.evil.test` must not read as
 * either half (the classic NameID-splitting trick).
 */
export function textOf(el: XmlElement): string {
  let text = '';
  for (const c of Array.from(el.childNodes)) {
    if (c.nodeType === TEXT_NODE || c.nodeType === CDATA_SECTION_NODE) text += c.nodeValue ?? '';
    else throw samlInvalid(`<${el.localName}> contains markup (comment, processing instruction or element) instead of plain text`);
  }
  return text.trim();
}

/** An attribute value, or undefined when absent (xmldom returns '' for absent attributes). */
export function attr(el: XmlElement, name: string): string | undefined {
  return el.hasAttribute(name) ? el.getAttribute(name) ?? '' : undefined;
}

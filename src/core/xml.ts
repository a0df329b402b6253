/**
 * The first gate for XML from the outside (SAML messages, SAML metadata): size,
 * DOCTYPE/ENTITY, one root element. These run before any library parses or
 * canonicalises the document, because DTD tricks (entity expansion, external
 * entities) and a second root element are exactly what confuses parsers and
 * signature code that come later. Pure: text in, DOM out.
 *
 * @xmldom/xmldom is loaded with `createRequire` and typed with the small
 * interfaces below instead of its own declarations, on purpose: they carry
 * `/// <reference lib="dom" />`, which would switch the DOM library on for the
 * whole program and change types such as `BufferSource` under unrelated code.
 */
import { createRequire } from 'node:module';
import { BouncerError } from './errors.js';

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

/** xmldom's parser constructor (CommonJS), typed as above. */
export const XmlDomParser = (require('@xmldom/xmldom') as XmlDomModule).DOMParser;

/** Builds the error thrown for refused XML; callers that speak another error (a login's) pass their own. */
export type RejectXml = (detail: string) => Error;

/** XML refused by the gate, for callers without an error of their own. */
export class XmlRejectedError extends BouncerError<'ERR_XML_REJECTED'> {
  static readonly code = 'ERR_XML_REJECTED';
  constructor(detail: string) {
    super('ERR_XML_REJECTED', detail);
  }
}

const xmlRejected: RejectXml = (detail) => new XmlRejectedError(detail);

/** Largest decoded SAMLResponse we look at: real responses are a few KiB; 256 KiB bounds parse cost. */
export const MAX_SAML_XML_BYTES = 256 * 1024;

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;

/**
 * Refuses DTDs and entity declarations, then parses strictly and requires exactly one
 * root element with nothing but comments, processing instructions and whitespace around it.
 *
 * @example
 * ```ts
 * const doc = parseGuardedXml(xml, 'SAMLResponse');
 * ```
 */
export function parseGuardedXml(xml: string, what: string, reject: RejectXml = xmlRejected): XmlDocument {
  if (Buffer.byteLength(xml, 'utf8') > MAX_SAML_XML_BYTES) throw reject(`${what} larger than ${MAX_SAML_XML_BYTES} bytes`);
  // Any DTD is refused, even an internal subset with no entities: SAML never needs one (SAML core §1.3),
  // and entity expansion is how XXE and "billion laughs" work.
  if (/<!DOCTYPE/i.test(xml)) throw reject(`${what} contains a DOCTYPE declaration`);
  if (/<!ENTITY/i.test(xml)) throw reject(`${what} contains an ENTITY declaration`);
  const body = xml.replace(/^\uFEFF/, '').trimStart();
  if (!body.startsWith('<')) throw reject(`${what} has text before the root element`);

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
    if (/only one element/i.test(msg)) throw reject(`${what} has more than one root element`);
    throw reject(`${what} is not well-formed XML`);
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
        if ((node.nodeValue ?? '').trim() !== '') throw reject(`${what} has text outside the root element`);
        break;
      default:
        throw reject(`${what} has an unexpected node (type ${node.nodeType}) at the top level`);
    }
  }
  if (roots !== 1) throw reject(`${what} must have exactly one root element, found ${roots}`);
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
export function optionalChild(parent: XmlElement, ns: string, local: string, reject: RejectXml = xmlRejected): XmlElement | undefined {
  const found = childElements(parent, ns, local);
  if (found.length > 1) throw reject(`more than one <${local}> in <${parent.localName}>`);
  return found[0];
}

/** Exactly one direct child. */
export function requiredChild(parent: XmlElement, ns: string, local: string, reject: RejectXml = xmlRejected): XmlElement {
  const found = optionalChild(parent, ns, local, reject);
  if (found === undefined) throw reject(`<${parent.localName}> has no <${local}>`);
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
export function textOf(el: XmlElement, reject: RejectXml = xmlRejected): string {
  let text = '';
  for (const c of Array.from(el.childNodes)) {
    if (c.nodeType === TEXT_NODE || c.nodeType === CDATA_SECTION_NODE) text += c.nodeValue ?? '';
    else throw reject(`<${el.localName}> contains markup (comment, processing instruction or element) instead of plain text`);
  }
  return text.trim();
}

/** An attribute value, or undefined when absent (xmldom returns '' for absent attributes). */
export function attr(el: XmlElement, name: string): string | undefined {
  return el.hasAttribute(name) ? el.getAttribute(name) ?? '' : undefined;
}

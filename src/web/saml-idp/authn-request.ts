/**
 * Reading an AuthnRequest from a service provider, for both bindings, with every
 * check that must pass before the request is believed: size (also after
 * inflation), no DTD, one root, the protocol shape, the issuer, the ACS URL
 * against the registered ones, and the signature when the SP is required to sign.
 */
import { createPublicKey, createVerify, X509Certificate } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { BINDING_POST, type XmlElement } from '../idp/saml/libs.js';
import { attr, childElements, descendants, parseGuardedXml, textOf } from '../idp/saml/xml-guard.js';
import { SamlIdpError } from './errors.js';
import { samlifyIdp } from './samlify-idp.js';

/** Real AuthnRequests are about 1 KiB; 64 KiB leaves room for signatures and extensions. */
export const MAX_AUTHN_REQUEST_BYTES = 64 * 1024;

const NS_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NS_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const NS_DS = 'http://www.w3.org/2000/09/xmldsig#';

/** SAML ID: an xs:ID (NCName); we also bound its length since it is echoed into InResponseTo. */
const SAML_ID = /^[A-Za-z_][\w.-]{0,255}$/;

/** Query signature algorithms accepted on the redirect binding (SHA-1 is refused). */
const REDIRECT_SIG_ALGS: Readonly<Record<string, string>> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'RSA-SHA256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'RSA-SHA512',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256': 'SHA256',
};

/** What bouncer takes from a verified AuthnRequest. */
export interface AuthnRequestInfo {
  /** The request's ID: the response's InResponseTo. */
  id: string;
  issuer: string;
  /** The ACS the response goes to: one of the registered URLs, never anything else. */
  acsUrl: string;
  /** `ForceAuthn="true"`: the SP wants a fresh login. */
  forceAuthn: boolean;
}

/** What the request is checked against. */
export interface AuthnRequestExpectations {
  /** The SP's entity ID; the request's Issuer must equal it. */
  entityId: string;
  /** Registered ACS URLs, default first. */
  acsUrls: readonly string[];
  /** Our SSO endpoint URL; a Destination, when present, must equal it. */
  ssoUrl: string;
  /** When true, only signed requests verified with `spCertPem` are accepted. */
  authnRequestsSigned: boolean;
  spCertPem: string | undefined;
}

/** The HTTP-Redirect binding (SAML bindings §3.4): `rawQuery` is the query string exactly as received. */
export interface RedirectBindingInput {
  binding: 'redirect';
  rawQuery: string;
}

/** The HTTP-POST binding (SAML bindings §3.5): the form's SAMLRequest value. */
export interface PostBindingInput {
  binding: 'post';
  samlRequest: string;
}

/**
 * Decodes, checks and (when required) verifies an AuthnRequest.
 *
 * @throws {SamlIdpError} with the code saying what was wrong.
 * @example
 * const info = readAuthnRequest({ binding: 'redirect', rawQuery }, { entityId, acsUrls, ssoUrl, authnRequestsSigned: false, spCertPem: undefined });
 */
export function readAuthnRequest(input: RedirectBindingInput | PostBindingInput, expect: AuthnRequestExpectations): AuthnRequestInfo {
  let xml: string;
  let redirectSig: { sigAlg: string; signature: string; signedOctets: string } | undefined;
  if (input.binding === 'redirect') {
    const params = splitRawQuery(input.rawQuery);
    const encoded = params.get('SAMLRequest');
    if (encoded === undefined) throw new SamlIdpError('saml_request_missing', 'no SAMLRequest in the query');
    xml = inflateRequest(decodeBase64(decodeQueryValue(encoded.raw)));
    const sigAlg = params.get('SigAlg');
    const signature = params.get('Signature');
    if (sigAlg !== undefined && signature !== undefined) {
      // SAML bindings §3.4.4.1: the signed octets are the parameters as received, in this order.
      const relay = params.get('RelayState');
      const signedOctets = [`SAMLRequest=${encoded.raw}`, ...(relay ? [`RelayState=${relay.raw}`] : []), `SigAlg=${sigAlg.raw}`].join('&');
      redirectSig = { sigAlg: decodeQueryValue(sigAlg.raw), signature: decodeQueryValue(signature.raw), signedOctets };
    }
  } else {
    const bytes = decodeBase64(input.samlRequest);
    // SAML bindings §3.5.4: POST messages are not deflated. Some SP libraries (node-saml by
    // default) deflate them anyway; anything that does not start like XML gets the same
    // bounded inflate as the redirect binding.
    if (/^(?:\uFEFF)?\s*</.test(bytes.subarray(0, 64).toString('utf8'))) {
      xml = bytes.toString('utf8');
      checkUtf8(xml);
    } else xml = inflateRequest(bytes);
  }

  const doc = guarded(xml);
  const root = doc.documentElement as XmlElement;
  if (root.namespaceURI !== NS_PROTOCOL || root.localName !== 'AuthnRequest') throw new SamlIdpError('saml_request_malformed', `root element is ${root.localName ?? '?'}, not samlp:AuthnRequest`);
  if (attr(root, 'Version') !== '2.0') throw new SamlIdpError('saml_request_malformed', 'Version is not 2.0');
  const id = attr(root, 'ID') ?? '';
  if (!SAML_ID.test(id)) throw new SamlIdpError('saml_request_malformed', 'ID missing or not an xs:ID');

  const issuers = childElements(root, NS_ASSERTION, 'Issuer');
  if (issuers.length !== 1) throw new SamlIdpError('saml_request_malformed', `expected one Issuer, found ${issuers.length}`);
  const issuer = safeText(issuers[0] as XmlElement);
  if (issuer !== expect.entityId) throw new SamlIdpError('saml_issuer_mismatch', `Issuer '${issuer.slice(0, 200)}' is not this app's SP entity ID`);

  // Signature first: nothing else in an unverified request is worth trusting.
  const xmlSignatures = childElements(root, NS_DS, 'Signature');
  if (expect.authnRequestsSigned) {
    if (expect.spCertPem === undefined) throw new SamlIdpError('saml_signature_invalid', 'no SP certificate configured');
    if (input.binding === 'redirect') {
      if (redirectSig === undefined) throw new SamlIdpError('saml_request_unsigned', 'redirect binding request without SigAlg/Signature');
      verifyRedirectSignature(redirectSig, expect.spCertPem);
    } else {
      if (xmlSignatures.length === 0) throw new SamlIdpError('saml_request_unsigned', 'POST binding request without an enveloped signature');
      verifyPostSignature(xml, root, id, expect.spCertPem, expect.entityId);
    }
  }

  const destination = attr(root, 'Destination');
  if (destination !== undefined && destination !== expect.ssoUrl) {
    throw new SamlIdpError('saml_request_malformed', `Destination '${destination.slice(0, 200)}' is not this endpoint (${expect.ssoUrl})`);
  }
  const binding = attr(root, 'ProtocolBinding');
  if (binding !== undefined && binding !== BINDING_POST) throw new SamlIdpError('saml_request_malformed', `ProtocolBinding ${binding.slice(0, 100)} is not supported; bouncer answers over HTTP-POST`);

  const acsUrl = chooseAcs(root, expect.acsUrls);
  return { id, issuer, acsUrl, forceAuthn: attr(root, 'ForceAuthn') === 'true' || attr(root, 'ForceAuthn') === '1' };
}

/**
 * The ACS the response goes to. A requested URL must be registered, byte for byte;
 * it is refused, not replaced by the default, so a misconfiguration (or an attack)
 * shows up instead of sending assertions somewhere nobody looked at.
 */
function chooseAcs(root: XmlElement, registered: readonly string[]): string {
  const url = attr(root, 'AssertionConsumerServiceURL');
  const index = attr(root, 'AssertionConsumerServiceIndex');
  // SAML core §3.4.1: the two are mutually exclusive.
  if (url !== undefined && index !== undefined) throw new SamlIdpError('saml_request_malformed', 'both AssertionConsumerServiceURL and AssertionConsumerServiceIndex');
  if (url !== undefined) {
    if (!registered.includes(url)) throw new SamlIdpError('saml_acs_not_registered', `AssertionConsumerServiceURL '${url.slice(0, 300)}' is not in acs_urls`);
    return url;
  }
  if (index !== undefined) {
    // Indexes are positions in acs_urls (0 = the first, the default).
    const i = /^\d{1,5}$/.test(index) ? Number(index) : -1;
    const chosen = registered[i];
    if (chosen === undefined) throw new SamlIdpError('saml_acs_not_registered', `AssertionConsumerServiceIndex '${index.slice(0, 20)}' names no registered ACS URL`);
    return chosen;
  }
  const first = registered[0];
  if (first === undefined) throw new SamlIdpError('saml_acs_not_registered', 'no ACS URL is registered');
  return first;
}

/** Query parameters as received (still percent-encoded), for signature verification. */
function splitRawQuery(rawQuery: string): Map<string, { raw: string }> {
  const out = new Map<string, { raw: string }>();
  for (const part of rawQuery.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq);
    // A repeated parameter is ambiguous (which one was signed?): refuse.
    if (out.has(name)) throw new SamlIdpError('saml_request_malformed', `parameter ${name} given twice`);
    out.set(name, { raw: part.slice(eq + 1) });
  }
  return out;
}

function decodeQueryValue(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new SamlIdpError('saml_request_malformed', 'bad percent-encoding in the query');
  }
}

function decodeBase64(value: string): Buffer {
  const compact = value.replace(/[\r\n\t ]/g, '');
  if (compact.length === 0) throw new SamlIdpError('saml_request_missing', 'SAMLRequest is empty');
  if (compact.length > Math.ceil(MAX_AUTHN_REQUEST_BYTES / 3) * 4 + 4) throw new SamlIdpError('saml_request_too_large', 'SAMLRequest larger than the limit');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) throw new SamlIdpError('saml_request_malformed', 'SAMLRequest is not base64');
  return Buffer.from(compact, 'base64');
}

/** DEFLATE (RFC 1951) with an output bound: a few KiB can inflate to gigabytes. */
function inflateRequest(deflated: Buffer): string {
  let out: Buffer;
  try {
    out = inflateRawSync(deflated, { maxOutputLength: MAX_AUTHN_REQUEST_BYTES });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new SamlIdpError('saml_request_too_large', 'inflated SAMLRequest larger than the limit');
    throw new SamlIdpError('saml_request_malformed', 'SAMLRequest is not DEFLATE-compressed');
  }
  const xml = out.toString('utf8');
  checkUtf8(xml);
  return xml;
}

function checkUtf8(xml: string): void {
  if (Buffer.byteLength(xml, 'utf8') > MAX_AUTHN_REQUEST_BYTES) throw new SamlIdpError('saml_request_too_large', 'SAMLRequest larger than the limit');
  if (xml.includes('\uFFFD')) throw new SamlIdpError('saml_request_malformed', 'SAMLRequest is not valid UTF-8');
}

function guarded(xml: string): ReturnType<typeof parseGuardedXml> {
  try {
    return parseGuardedXml(xml, 'SAMLRequest');
  } catch (err) {
    throw new SamlIdpError('saml_request_malformed', err instanceof Error ? err.message : String(err));
  }
}

function safeText(el: XmlElement): string {
  try {
    return textOf(el);
  } catch (err) {
    throw new SamlIdpError('saml_request_malformed', err instanceof Error ? err.message : String(err));
  }
}

function verifyRedirectSignature(sig: { sigAlg: string; signature: string; signedOctets: string }, certPem: string): void {
  const alg = REDIRECT_SIG_ALGS[sig.sigAlg];
  if (alg === undefined) throw new SamlIdpError('saml_signature_invalid', `SigAlg ${sig.sigAlg.slice(0, 100)} is not accepted (RSA-SHA256/512 or ECDSA-SHA256)`);
  const key = createPublicKey(new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'pem' }));
  const verifier = createVerify(alg);
  verifier.update(sig.signedOctets, 'utf8');
  // ECDSA signatures in XML-DSig are r||s (RFC 4050), not DER.
  const ok = verifier.verify(alg === 'SHA256' ? { key, dsaEncoding: 'ieee-p1363' } : key, Buffer.from(sig.signature, 'base64'));
  if (!ok) throw new SamlIdpError('saml_signature_invalid', 'redirect binding signature does not verify with the SP certificate');
}

/**
 * Enveloped XML signature over the whole request, verified with the pinned SP
 * certificate (never a key from the message: xml-crypto CVE-2024-32962). The one
 * Reference must point at the root, or a valid signature over some other element
 * would vouch for an unsigned request.
 */
function verifyPostSignature(xml: string, root: XmlElement, id: string, certPem: string, entityId: string): void {
  const sigs = childElements(root, NS_DS, 'Signature');
  if (sigs.length !== 1) throw new SamlIdpError('saml_signature_invalid', `expected one Signature on the request, found ${sigs.length}`);
  const refs = descendants(sigs[0] as XmlElement, NS_DS, 'Reference');
  if (refs.length !== 1 || attr(refs[0] as XmlElement, 'URI') !== `#${id}`) throw new SamlIdpError('saml_signature_invalid', 'the signature does not cover the AuthnRequest element');
  let verified: boolean;
  try {
    [verified] = samlifyIdp.SamlLib.verifySignature(xml, { metadata: { getEntityID: () => entityId, getX509Certificate: () => certPem } });
  } catch (err) {
    throw new SamlIdpError('saml_signature_invalid', `signature check failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!verified) throw new SamlIdpError('saml_signature_invalid', 'enveloped signature does not verify with the SP certificate');
}

/**
 * Builds bouncer's signed SAML Response for one SP (SAML core §2.3.3, §3.3.3;
 * SAML profiles §4.1.4.2 for what a Web Browser SSO response must carry).
 *
 * The XML is written here with every dynamic value escaped in one pass (no
 * placeholder templates: a user value that looks like a placeholder must stay
 * text), then samlify signs it with the IdP key.
 */
import { randomBytes } from 'node:crypto';
import type { SaasAppConfig, SaasSamlConfig } from '../../config/types.js';
import type { Identity } from '../../core/identity.js';
import { BINDING_POST, BINDING_REDIRECT } from '../idp/saml/libs.js';
import { SamlIdpError } from './errors.js';
import { SIGNATURE_ALGORITHM_URI, samlifyIdp, type SamlifyIdpEntity } from './samlify-idp.js';

/** The IdP's signing material: PEM certificate and unencrypted PKCS#8 key. */
export interface SamlIdpSigning {
  readonly certPem: string;
  readonly keyPem: string;
}

/** How long an assertion may be presented: SAML profiles §4.1.4.2 want it short; five minutes is the usual. */
export const ASSERTION_LIFETIME_SEC = 300;
/** NotBefore is set this far back so an SP whose clock runs slightly behind ours still accepts it. */
export const NOT_BEFORE_SKEW_SEC = 30;

const NAMEID_FORMAT_URI: Readonly<Record<SaasSamlConfig['nameIdFormat'], string>> = {
  emailAddress: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
};

/** AuthnContext classes (SAML authn context §3.4; REFEDS MFA profile for multi-factor). */
export const AUTHN_CONTEXT = {
  mfa: 'https://refeds.org/profile/mfa',
  password: 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport',
} as const;

/** The IdP's URLs for one SaaS app. */
export interface SamlIdpUrls {
  /** IdP entity ID (also where its metadata is served). */
  entityId: string;
  ssoUrl: string;
}

/** The URLs of the IdP bouncer is for `app`, under the auth service's public base URL. */
export function samlIdpUrls(baseUrl: string, app: string): SamlIdpUrls {
  const root = `${baseUrl.replace(/\/+$/, '')}/saml/idp/${encodeURIComponent(app)}`;
  return { entityId: `${root}/metadata`, ssoUrl: `${root}/sso` };
}

/** A fresh SAML ID: 160 random bits, starting with a letter as xs:ID requires. */
export function newSamlId(): string {
  return `_${randomBytes(20).toString('hex')}`;
}

const idpCache = new WeakMap<SaasAppConfig, Map<string, SamlifyIdpEntity>>();

/**
 * The samlify IdentityProvider for an app (cached per loaded config and signing key,
 * so a reload or a key change builds a new one).
 */
export function samlIdpEntity(app: SaasAppConfig, saml: SaasSamlConfig, urls: SamlIdpUrls, signing: SamlIdpSigning): SamlifyIdpEntity {
  let perKey = idpCache.get(app);
  if (!perKey) idpCache.set(app, (perKey = new Map()));
  const cacheKey = `${urls.entityId}\n${signing.certPem}`;
  let idp = perKey.get(cacheKey);
  if (!idp) {
    idp = samlifyIdp.IdentityProvider({
      entityID: urls.entityId,
      privateKey: signing.keyPem,
      signingCert: signing.certPem,
      singleSignOnService: [
        { Binding: BINDING_REDIRECT, Location: urls.ssoUrl },
        { Binding: BINDING_POST, Location: urls.ssoUrl },
      ],
      nameIDFormat: [NAMEID_FORMAT_URI[saml.nameIdFormat]],
      requestSignatureAlgorithm: SIGNATURE_ALGORITHM_URI[saml.signatureAlgorithm],
      wantAuthnRequestsSigned: saml.authnRequestsSigned,
      isAssertionEncrypted: false,
      generateID: newSamlId,
    });
    perKey.set(cacheKey, idp);
  }
  return idp;
}

/** Inputs of {@link buildSamlResponse}. */
export interface SamlResponseInput {
  app: SaasAppConfig;
  saml: SaasSamlConfig;
  urls: SamlIdpUrls;
  signing: SamlIdpSigning;
  identity: Identity;
  /** The registered ACS URL this response is posted to (Destination and Recipient). */
  acsUrl: string;
  /** The AuthnRequest's ID; undefined for IdP-initiated logins. */
  inResponseTo: string | undefined;
  /** The global session's id: the AuthnStatement's SessionIndex. */
  sessionIndex: string;
  /** When the global session ends (ms); the SP session should not outlive it. */
  sessionNotOnOrAfterMs: number;
  nowMs: number;
}

/**
 * Builds and signs the Response; returns it base64-encoded for the POST binding.
 *
 * @throws {SamlIdpError} `saml_identity_incomplete` when the NameID source is missing (no email).
 * @example
 * const { samlResponse } = await buildSamlResponse({ app, saml, urls, signing, identity, acsUrl, inResponseTo: req.id, sessionIndex: sid, sessionNotOnOrAfterMs, nowMs });
 */
export async function buildSamlResponse(i: SamlResponseInput): Promise<{ samlResponse: string; responseId: string; assertionId: string }> {
  const nameId = i.saml.nameIdSource === 'email' ? i.identity.email : i.identity.sub;
  if (nameId === undefined || nameId === '') throw new SamlIdpError('saml_identity_incomplete', `identity has no ${i.saml.nameIdSource} for the NameID`);
  const responseId = newSamlId();
  const assertionId = newSamlId();
  const now = iso(i.nowMs);
  const notBefore = iso(i.nowMs - NOT_BEFORE_SKEW_SEC * 1000);
  const notOnOrAfter = iso(i.nowMs + ASSERTION_LIFETIME_SEC * 1000);
  const inResponseTo = i.inResponseTo === undefined ? '' : ` InResponseTo="${x(i.inResponseTo)}"`;
  const xml =
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${responseId}" Version="2.0" IssueInstant="${now}" Destination="${x(i.acsUrl)}"${inResponseTo}>` +
    `<saml:Issuer>${x(i.urls.entityId)}</saml:Issuer>` +
    '<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>' +
    `<saml:Assertion xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="${assertionId}" Version="2.0" IssueInstant="${now}">` +
    `<saml:Issuer>${x(i.urls.entityId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${NAMEID_FORMAT_URI[i.saml.nameIdFormat]}">${x(nameId)}</saml:NameID>` +
    '<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">' +
    `<saml:SubjectConfirmationData NotOnOrAfter="${notOnOrAfter}" Recipient="${x(i.acsUrl)}"${inResponseTo}/>` +
    '</saml:SubjectConfirmation></saml:Subject>' +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}"><saml:AudienceRestriction><saml:Audience>${x(i.saml.entityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${iso(i.identity.authTime)}" SessionIndex="${x(i.sessionIndex)}" SessionNotOnOrAfter="${iso(i.sessionNotOnOrAfterMs)}">` +
    `<saml:AuthnContext><saml:AuthnContextClassRef>${authnContextClass(i.identity.amr)}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    attributeStatement(i.saml, i.identity) +
    '</saml:Assertion></samlp:Response>';

  const idp = samlIdpEntity(i.app, i.saml, i.urls, i.signing);
  const sp = samlifyIdp.ServiceProvider({
    entityID: i.saml.entityId,
    // Exactly the ACS this response goes to, so nothing in samlify can pick another.
    assertionConsumerService: [{ Binding: BINDING_POST, Location: i.acsUrl }],
    authnRequestsSigned: i.saml.authnRequestsSigned,
    wantAssertionsSigned: i.saml.sign !== 'response',
    wantMessageSigned: i.saml.sign !== 'assertion',
  });
  const signed = await idp.createLoginResponse(sp, {}, 'post', {}, () => ({ id: responseId, context: xml }));
  return { samlResponse: signed.context, responseId, assertionId };
}

/** `mfa` or `hwk` in the session's amr (RFC 8176) means a second factor was used. */
export function authnContextClass(amr: readonly string[]): string {
  return amr.includes('mfa') || amr.includes('hwk') ? AUTHN_CONTEXT.mfa : AUTHN_CONTEXT.password;
}

function attributeStatement(saml: SaasSamlConfig, identity: Identity): string {
  const attrs: string[] = [];
  for (const a of saml.attributes) {
    const values = 'value' in a ? [a.value] : identityValues(identity, a.from);
    if (values.length === 0) continue;
    // URI-looking names (urn:, http:) use the uri name format (SAML core §8.2.2); plain names basic (§8.2.1).
    const format = /^[a-z][a-z0-9+.-]*:/i.test(a.name) ? 'urn:oasis:names:tc:SAML:2.0:attrname-format:uri' : 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic';
    attrs.push(
      `<saml:Attribute Name="${x(a.name)}" NameFormat="${format}">` +
        values.map((v) => `<saml:AttributeValue xsi:type="xs:string">${x(v)}</saml:AttributeValue>`).join('') +
        '</saml:Attribute>',
    );
  }
  return attrs.length === 0 ? '' : `<saml:AttributeStatement>${attrs.join('')}</saml:AttributeStatement>`;
}

function identityValues(identity: Identity, from: 'email' | 'name' | 'groups' | 'sub' | 'idp' | 'amr'): string[] {
  switch (from) {
    case 'email':
      return identity.email === undefined ? [] : [identity.email];
    case 'name':
      return identity.name === undefined ? [] : [identity.name];
    case 'groups':
      return [...identity.groups];
    case 'sub':
      return [identity.sub];
    case 'idp':
      return [identity.idp.id];
    case 'amr':
      return [...identity.amr];
  }
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/**
 * Escapes text for XML element content and double-quoted attributes. Characters XML 1.0
 * cannot carry at all (§2.2: most C0 controls, lone surrogates, U+FFFE/FFFF) become
 * U+FFFD, so user data can neither change the structure nor make the document invalid.
 */
export function x(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '\uFFFD')
    .replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string)
    // A literal CR, LF or TAB in an attribute would be normalised away by the SP's parser (XML §3.3.3).
    .replace(/\r/g, '&#13;')
    .replace(/\n/g, '&#10;')
    .replace(/\t/g, '&#9;');
}

function iso(ms: number): string {
  // SAML core §1.3.3: xs:dateTime in UTC; millisecond precision is allowed and common.
  return new Date(ms).toISOString();
}

/**
 * The checks samlify leaves to the SP (Audience, Recipient, InResponseTo, validity
 * window, bearer confirmation; SAML profiles §4.1.4.3) and the mapping of a verified
 * assertion to our Identity. Input is the assertion exactly as the signature check
 * returned it, so every value read here was covered by the IdP's signature.
 */
import type { Identity } from '../../../core/identity.js';
import type { XmlElement } from './libs.js';
import { attr, childElements, optionalChild, requiredChild, samlInvalid, textOf } from './xml-guard.js';

/** SAML 2.0 assertion namespace (SAML core §2). */
export const NS_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
/** SAML 2.0 protocol namespace (SAML core §3). */
export const NS_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';

const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';
const NAMEID_EMAIL = 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress';
const NAMEID_ENTITY = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';
const EMAIL_RE = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/;

/** What the assertion must match; all from our side, never from the message. */
export interface AssertionExpectations {
  readonly idpEntityId: string;
  readonly spEntityId: string;
  readonly acsUrl: string;
  readonly requestId: string;
  readonly nowMs: number;
  readonly skewMs: number;
}

/** Facts from a checked assertion. */
export interface CheckedAssertion {
  readonly id: string;
  /** Latest instant the assertion may be used (for the replay cache's expiry). */
  readonly usableUntilMs: number;
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly authnInstantMs: number;
  readonly authnContextClassRefs: readonly string[];
  /** Attribute name → values, names as sent. */
  readonly attributes: ReadonlyMap<string, readonly string[]>;
}

function parseInstant(value: string | undefined, what: string): number | undefined {
  if (value === undefined) return undefined;
  // xs:dateTime in UTC as SAML core §1.3.3 requires; Date.parse alone accepts far too much.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(value)) throw samlInvalid(`${what} is not an xs:dateTime`);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw samlInvalid(`${what} is not a valid time`);
  return ms;
}

/**
 * Checks one verified `<saml:Assertion>` against our expectations and returns its facts.
 * Throws LoginError('login_saml_invalid') with the first failed rule.
 *
 * @example
 * ```ts
 * const a = checkAssertion(verifiedAssertion, { idpEntityId, spEntityId, acsUrl, requestId, nowMs, skewMs: 60_000 });
 * ```
 */
export function checkAssertion(assertion: XmlElement, x: AssertionExpectations): CheckedAssertion {
  if (assertion.namespaceURI !== NS_ASSERTION || assertion.localName !== 'Assertion') throw samlInvalid('signed element is not a SAML 2.0 Assertion');
  if (attr(assertion, 'Version') !== '2.0') throw samlInvalid('assertion Version is not 2.0');
  const id = attr(assertion, 'ID');
  if (id === undefined || id === '') throw samlInvalid('assertion has no ID');

  // Issuer (SAML profiles §4.1.4.2): must be the IdP we imported, in entity format.
  const issuer = requiredChild(assertion, NS_ASSERTION, 'Issuer');
  const issuerFormat = attr(issuer, 'Format');
  if (issuerFormat !== undefined && issuerFormat !== NAMEID_ENTITY) throw samlInvalid('assertion Issuer is not an entity ID');
  if (textOf(issuer) !== x.idpEntityId) throw samlInvalid(`assertion Issuer is not the configured IdP (${x.idpEntityId})`);

  const earliest = x.nowMs + x.skewMs;
  const latest = x.nowMs - x.skewMs;

  // Conditions (SAML core §2.5): validity window and audience.
  const conditions = optionalChild(assertion, NS_ASSERTION, 'Conditions');
  if (conditions === undefined) throw samlInvalid('assertion has no Conditions (an AudienceRestriction is required)');
  const notBefore = parseInstant(attr(conditions, 'NotBefore'), 'Conditions NotBefore');
  const condNotOnOrAfter = parseInstant(attr(conditions, 'NotOnOrAfter'), 'Conditions NotOnOrAfter');
  if (notBefore !== undefined && notBefore > earliest) throw samlInvalid('assertion is not yet valid (Conditions NotBefore is in the future)');
  if (condNotOnOrAfter !== undefined && condNotOnOrAfter <= latest) throw samlInvalid('assertion has expired (Conditions NotOnOrAfter has passed)');
  const restrictions = childElements(conditions, NS_ASSERTION, 'AudienceRestriction');
  if (restrictions.length === 0) throw samlInvalid('assertion has no AudienceRestriction');
  // Each AudienceRestriction must be satisfied on its own (SAML core §2.5.1.4).
  for (const r of restrictions) {
    const audiences = childElements(r, NS_ASSERTION, 'Audience').map(textOf);
    if (!audiences.includes(x.spEntityId)) throw samlInvalid(`Audience is not this service provider (${x.spEntityId})`);
  }

  // Subject and its bearer confirmation (SAML profiles §4.1.4.2–4.1.4.3).
  const subject = requiredChild(assertion, NS_ASSERTION, 'Subject');
  if (childElements(subject, NS_ASSERTION, 'EncryptedID').length > 0) throw samlInvalid('encrypted NameIDs are not supported');
  const nameIdEl = requiredChild(subject, NS_ASSERTION, 'NameID');
  const nameId = textOf(nameIdEl);
  if (nameId === '') throw samlInvalid('NameID is empty');
  const bearers = childElements(subject, NS_ASSERTION, 'SubjectConfirmation').filter((c) => attr(c, 'Method') === BEARER);
  if (bearers.length === 0) throw samlInvalid('assertion has no bearer SubjectConfirmation');
  let confirmedUntil: number | undefined;
  let firstFailure: string | undefined;
  for (const c of bearers) {
    const failure = checkBearer(c, x);
    if (typeof failure === 'number') {
      confirmedUntil = Math.max(confirmedUntil ?? 0, failure);
    } else {
      firstFailure ??= failure;
    }
  }
  if (confirmedUntil === undefined) throw samlInvalid(firstFailure ?? 'no bearer SubjectConfirmation matches');

  // AuthnStatement (SAML profiles §4.1.4.2: at least one in the SSO assertion).
  const authn = childElements(assertion, NS_ASSERTION, 'AuthnStatement');
  if (authn.length === 0) throw samlInvalid('assertion has no AuthnStatement');
  let authnInstantMs = 0;
  const classRefs: string[] = [];
  for (const s of authn) {
    const instant = parseInstant(attr(s, 'AuthnInstant'), 'AuthnInstant');
    if (instant === undefined) throw samlInvalid('AuthnStatement has no AuthnInstant');
    if (instant > earliest) throw samlInvalid('AuthnInstant is in the future');
    authnInstantMs = Math.max(authnInstantMs, instant);
    const sessionEnd = parseInstant(attr(s, 'SessionNotOnOrAfter'), 'SessionNotOnOrAfter');
    if (sessionEnd !== undefined && sessionEnd <= latest) throw samlInvalid('the IdP session has ended (SessionNotOnOrAfter has passed)');
    const ctx = optionalChild(s, NS_ASSERTION, 'AuthnContext');
    const ref = ctx !== undefined ? optionalChild(ctx, NS_ASSERTION, 'AuthnContextClassRef') : undefined;
    if (ref !== undefined) classRefs.push(textOf(ref));
  }

  const attributes = new Map<string, string[]>();
  for (const st of childElements(assertion, NS_ASSERTION, 'AttributeStatement')) {
    if (childElements(st, NS_ASSERTION, 'EncryptedAttribute').length > 0) throw samlInvalid('encrypted attributes are not supported');
    for (const a of childElements(st, NS_ASSERTION, 'Attribute')) {
      const name = attr(a, 'Name');
      if (name === undefined || name === '') continue;
      const values = childElements(a, NS_ASSERTION, 'AttributeValue').map(textOf).filter((v) => v !== '');
      attributes.set(name, [...(attributes.get(name) ?? []), ...values]);
    }
  }

  const usableUntilMs = Math.min(confirmedUntil, condNotOnOrAfter ?? confirmedUntil);
  return { id, usableUntilMs, nameId, nameIdFormat: attr(nameIdEl, 'Format'), authnInstantMs, authnContextClassRefs: classRefs, attributes };
}

/** Returns the confirmation's NotOnOrAfter when it satisfies every rule, else why not. */
function checkBearer(c: XmlElement, x: AssertionExpectations): number | string {
  const data = optionalChild(c, NS_ASSERTION, 'SubjectConfirmationData');
  if (data === undefined) return 'bearer SubjectConfirmation has no SubjectConfirmationData';
  const recipient = attr(data, 'Recipient');
  if (recipient !== x.acsUrl) return `SubjectConfirmationData Recipient is not our ACS URL (${x.acsUrl})`;
  const inResponseTo = attr(data, 'InResponseTo');
  if (inResponseTo !== x.requestId) return 'SubjectConfirmationData InResponseTo does not match our AuthnRequest';
  const notOnOrAfter = parseInstant(attr(data, 'NotOnOrAfter'), 'SubjectConfirmationData NotOnOrAfter');
  if (notOnOrAfter === undefined) return 'SubjectConfirmationData has no NotOnOrAfter';
  if (notOnOrAfter <= x.nowMs - x.skewMs) return 'assertion has expired (SubjectConfirmationData NotOnOrAfter has passed)';
  const notBefore = parseInstant(attr(data, 'NotBefore'), 'SubjectConfirmationData NotBefore');
  if (notBefore !== undefined && notBefore > x.nowMs + x.skewMs) return 'assertion is not yet valid (SubjectConfirmationData NotBefore is in the future)';
  return notOnOrAfter;
}

/**
 * AuthnContextClassRef → RFC 8176 `amr`. Only classes whose meaning is clear are
 * mapped; an unknown class adds nothing rather than a guess.
 */
const AMR_BY_CLASS: Readonly<Record<string, readonly string[]>> = {
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Password': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos': ['pwd'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:X509': ['swk'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard': ['sc'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI': ['sc', 'hwk', 'pin', 'mfa'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken': ['otp', 'mfa'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract': ['mfa'],
  'urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorUnregistered': ['mfa'],
  // REFEDS MFA profile, used by research & education federations.
  'https://refeds.org/profile/mfa': ['mfa'],
  // Entra ID (Azure AD) and ADFS report MFA with this class.
  'http://schemas.microsoft.com/claims/multipleauthn': ['mfa'],
};

/** Attribute names we read, in priority order; OIDs and URIs are what Entra ID, ADFS, Okta and Shibboleth send. */
const EMAIL_ATTRS = ['email', 'mail', 'emailAddress', 'urn:oid:0.9.2342.19200300.100.1.3', 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress'];
const NAME_ATTRS = ['displayName', 'name', 'urn:oid:2.16.840.1.113730.3.1.241', 'http://schemas.microsoft.com/identity/claims/displayname', 'cn', 'urn:oid:2.5.4.3'];
const GROUP_ATTRS = ['groups', 'group', 'memberOf', 'urn:oid:1.3.6.1.4.1.5923.1.5.1.1', 'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups', 'http://schemas.xmlsoap.org/claims/Group'];

/**
 * Maps a checked assertion to the normalised Identity.
 *
 * @example
 * ```ts
 * const identity = toSamlIdentity('corp', checked);
 * ```
 */
export function toSamlIdentity(idpId: string, a: CheckedAssertion): Identity {
  const first = (names: readonly string[]): string | undefined => {
    for (const n of names) {
      const v = a.attributes.get(n)?.[0];
      if (v !== undefined) return v;
    }
    return undefined;
  };
  const attrEmail = first(EMAIL_ATTRS);
  const nameIdEmail = a.nameIdFormat === NAMEID_EMAIL || EMAIL_RE.test(a.nameId) ? a.nameId : undefined;
  const emailCandidate = attrEmail ?? nameIdEmail;
  const email = emailCandidate !== undefined && EMAIL_RE.test(emailCandidate) ? emailCandidate.toLowerCase() : undefined;
  const groups = new Set<string>();
  for (const n of GROUP_ATTRS) for (const g of a.attributes.get(n) ?? []) groups.add(g);
  const amr = new Set<string>();
  for (const ref of a.authnContextClassRefs) for (const m of AMR_BY_CLASS[ref] ?? []) amr.add(m);
  return {
    sub: `${idpId}:${a.nameId}`,
    email,
    // The address comes from the IdP's signed assertion: the IdP is the directory of record for it.
    emailVerified: email !== undefined,
    name: first(NAME_ATTRS),
    groups: [...groups],
    idp: { id: idpId, type: 'saml' },
    amr: [...amr],
    authTime: a.authnInstantMs,
  };
}

/**
 * A SAML 2.0 IdP as a login method, with bouncer as the service provider:
 * AuthnRequest over HTTP-Redirect, Response over HTTP-POST to our ACS
 * (`POST /callback/:idp`), signed assertions required.
 *
 * samlify builds the AuthnRequest and verifies the XML signature against the
 * certificate pinned from the IdP's metadata. Everything samlify does not enforce
 * is done here, in this order, and a failure at any step is
 * LoginError('login_saml_invalid'):
 *   1. size, base64, UTF-8; no DOCTYPE/ENTITY; one root element     (before any parsing)
 *   2. root is samlp:Response; exactly one Assertion anywhere; no EncryptedAssertion;
 *      unique IDs; no SHA-1 signature or digest algorithms
 *   3. SAML 2.0 schema validation (bounded, in worker threads)
 *   4. Status = Success; Response Destination = our ACS; Response InResponseTo / Issuer when present
 *   5. signature by the pinned certificate over the Response or the Assertion
 *   6. on the signed assertion only: Issuer, Audience, bearer Recipient and InResponseTo,
 *      validity window (60 s skew), AuthnStatement
 *   7. one-time use of the assertion ID
 */
import { randomBytes } from 'node:crypto';
import type { Identity } from '../../core/identity.js';
import { LoginError, type IdpConnector } from './connector.js';
import { BINDING_POST, NAMEID_FORMAT_EMAIL, samlify, type SamlifyIdp, type SamlifySp, type XmlElement } from './saml/libs.js';
import { checkAssertion, NS_ASSERTION, NS_PROTOCOL, toSamlIdentity } from './saml/assertion.js';
import { createMemoryReplayCache, ReplayCacheFullError, type AssertionReplayStore } from './saml/replay-cache.js';
import { SharedStateError } from '../../stores/shared-state-errors.js';
import { createSchemaValidator, type SchemaValidator } from './saml/schema-validator.js';
import { allElements, attr, childElements, decodeSamlResponse, descendants, optionalChild, parseGuardedXml, samlInvalid, textOf } from './saml/xml-guard.js';

/** What the SAML connector needs from config (the `saml` variant of `IdpConfig` fits). */
export interface SamlConnectorConfig {
  readonly id: string;
  /** The IdP's metadata XML (EntityDescriptor with an IDPSSODescriptor). */
  readonly metadataXml: string;
  /** Our SP entity ID, e.g. `https://auth.acme.test/saml/corp`; the Audience we require. */
  readonly entityId: string;
  /** Shown on the IdP chooser; defaults to "SAML (<id>)". */
  readonly displayName?: string;
}

/** Injected dependencies and tunables; all optional. */
export interface SamlConnectorDeps {
  /** Shared between connectors is fine (IDs are keyed by IdP). Default: a private 100 000-entry cache. */
  /** Where used assertion IDs are remembered: in memory by default, the shared store in a fleet. */
  readonly replayCache?: AssertionReplayStore;
  /** Default: at most 4 validations at once, 64 waiting. */
  readonly validateSchema?: SchemaValidator;
  /** Allowed clock difference with the IdP; default 60 s. */
  readonly clockSkewSec?: number;
}

/** The SAML connector: an {@link IdpConnector} that can also describe us as an SP. */
export interface SamlConnector extends IdpConnector {
  readonly type: 'saml';
  /** Our SP entity ID (Audience). */
  readonly entityId: string;
  /** The IdP entity ID from its metadata. */
  readonly idpEntityId: string;
  /** Our SP metadata XML for `GET /saml/:idp/metadata`, with `acsUrl` as the POST ACS. */
  spMetadata(acsUrl: string): string;
}

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const ENC = 'http://www.w3.org/2001/04/xmlenc#';
const SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
/** SHA-1 signatures and digests are collision-prone (xmldsig-core 1.1 §6.4); a modern IdP never needs them. */
const WEAK_ALGORITHMS = new Set([
  'http://www.w3.org/2000/09/xmldsig#rsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#dsa-sha1',
  'http://www.w3.org/2000/09/xmldsig#hmac-sha1',
  'http://www.w3.org/2000/09/xmldsig#sha1',
  'http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1',
]);
/** Bound on SP entity objects cached per callback URL (normally one or two: the configured auth domain). */
const MAX_SP_CACHE = 16;

/**
 * Create a SAML connector from the IdP's metadata. Throws a plain Error (a config
 * problem) when the metadata is unusable: no signing certificate, no HTTP-Redirect
 * SSO endpoint, or an IdP that insists on signed AuthnRequests.
 *
 * @example
 * ```ts
 * const corp = createSamlConnector({ id: 'corp', metadataXml, entityId: 'https://auth.acme.test/saml/corp' });
 * const { redirectUrl, secrets } = await corp.start({ callbackUrl: 'https://auth.acme.test/callback/corp', transactionId });
 * // … browser posts SAMLResponse + RelayState to the callback …
 * const identity = await corp.finish({ callbackUrl, params: formBody, secrets, nowMs: Date.now() });
 * ```
 */
export function createSamlConnector(config: SamlConnectorConfig, deps: SamlConnectorDeps = {}): SamlConnector {
  const idp = importIdpMetadata(config);
  const idpEntityId = idp.entityMeta.getEntityID();
  const replayCache = deps.replayCache ?? createMemoryReplayCache();
  const validateSchema = deps.validateSchema ?? createSchemaValidator();
  const skewMs = (deps.clockSkewSec ?? 60) * 1000;
  const sps = new Map<string, SamlifySp>();

  /** The SP entity depends on the ACS URL, which the auth service passes per call (it may carry a test port). */
  function spFor(acsUrl: string): SamlifySp {
    let sp = sps.get(acsUrl);
    if (sp === undefined) {
      if (sps.size >= MAX_SP_CACHE) sps.clear();
      sp = samlify.ServiceProvider({
        entityID: config.entityId,
        assertionConsumerService: [{ Binding: BINDING_POST, Location: acsUrl }],
        authnRequestsSigned: false,
        wantAssertionsSigned: true,
        nameIDFormat: [NAMEID_FORMAT_EMAIL],
        // Request IDs are our InResponseTo anchor: make them unguessable (xs:ID must not start with a digit).
        generateID: () => `_${randomBytes(20).toString('hex')}`,
      });
      sps.set(acsUrl, sp);
    }
    return sp;
  }

  async function finish(o: { callbackUrl: string; params: URLSearchParams; secrets: Readonly<Record<string, string>>; nowMs: number }): Promise<Identity> {
    const { callbackUrl: acsUrl, params, secrets, nowMs } = o;
    const requestId = secrets['requestId'];
    if (requestId === undefined || requestId === '') throw new LoginError('login_state_mismatch', 'login transaction has no SAML request ID');
    const relayStates = params.getAll('RelayState');
    if (secrets['relayState'] !== undefined && (relayStates.length !== 1 || relayStates[0] !== secrets['relayState'])) {
      throw new LoginError('login_state_mismatch', 'RelayState does not match the login transaction');
    }
    const encoded = params.getAll('SAMLResponse');
    if (encoded.length !== 1) throw samlInvalid('expected exactly one SAMLResponse parameter');

    // 1. Before any parsing.
    const xml = decodeSamlResponse(encoded[0] as string);
    const doc = parseGuardedXml(xml, 'SAMLResponse');

    // 2. Structure: the shapes signature wrapping needs are refused outright.
    const response = doc.documentElement;
    if (response === null || response.namespaceURI !== NS_PROTOCOL || response.localName !== 'Response') {
      throw samlInvalid('root element is not a SAML 2.0 protocol Response');
    }
    const assertions = descendants(doc, NS_ASSERTION, 'Assertion');
    if (descendants(doc, NS_ASSERTION, 'EncryptedAssertion').length > 0) throw samlInvalid('encrypted assertions are not supported');
    if (assertions.length !== 1) throw samlInvalid(`expected exactly one Assertion, found ${assertions.length}`);
    const placed = assertions[0] as XmlElement;
    if (placed.parentNode !== response) throw samlInvalid('the Assertion is not a direct child of the Response');
    const ids = new Set<string>();
    for (const el of allElements(response)) {
      const id = attr(el, 'ID');
      if (id === undefined) continue;
      if (ids.has(id)) throw samlInvalid(`duplicate ID ${JSON.stringify(id)}`);
      ids.add(id);
    }
    for (const el of [...descendants(doc, DSIG, 'SignatureMethod'), ...descendants(doc, DSIG, 'DigestMethod'), ...descendants(doc, ENC, 'DigestMethod')]) {
      if (WEAK_ALGORITHMS.has(attr(el, 'Algorithm') ?? '')) throw samlInvalid('SHA-1 signature or digest algorithms are not accepted');
    }

    // 3. Schema.
    await validateSchema(xml);

    // 4. Response envelope. Possibly unsigned (when only the assertion is signed), so these
    //    checks add to, never replace, the ones on the signed assertion below.
    const status = optionalChild(response, NS_PROTOCOL, 'Status');
    const statusCode = status !== undefined ? optionalChild(status, NS_PROTOCOL, 'StatusCode') : undefined;
    const top = statusCode !== undefined ? attr(statusCode, 'Value') : undefined;
    if (top !== SUCCESS) throw samlInvalid(`IdP status is ${top ?? 'missing'}, not Success`);
    // SAML bindings §3.5.5.2: Destination must be our endpoint (required for signed messages; we always require it).
    if (attr(response, 'Destination') !== acsUrl) throw samlInvalid(`Response Destination is not our ACS URL (${acsUrl})`);
    const responseInResponseTo = attr(response, 'InResponseTo');
    if (responseInResponseTo !== undefined && responseInResponseTo !== requestId) {
      throw samlInvalid('Response InResponseTo does not match our AuthnRequest');
    }
    const responseIssuer = optionalChild(response, NS_ASSERTION, 'Issuer');
    if (responseIssuer !== undefined && textOf(responseIssuer) !== idpEntityId) throw samlInvalid('Response Issuer is not the configured IdP');

    // 5. Signature, by the certificate from the IdP metadata. samlify takes a KeyInfo
    //    certificate only when it equals a metadata certificate, and returns the assertion
    //    as covered by the verified signature.
    let verified: boolean;
    let signedAssertionXml: string | null;
    try {
      [verified, signedAssertionXml] = samlify.SamlLib.verifySignature(xml, { metadata: idp.entityMeta });
    } catch (err) {
      const code = err instanceof Error ? err.message : '';
      if (code === 'ERROR_UNMATCH_CERTIFICATE_DECLARATION_IN_METADATA') throw samlInvalid('signature certificate is not the one in the IdP metadata');
      if (code === 'ERR_POTENTIAL_WRAPPING_ATTACK') throw samlInvalid('signature wrapping detected');
      // xml-crypto throws (rather than returning false) when the SignatureValue does not verify.
      if (code.startsWith('invalid signature')) throw samlInvalid('signature is not valid for the IdP certificate');
      throw samlInvalid('signature could not be verified');
    }
    if (!verified) {
      const hasSignature = descendants(doc, DSIG, 'Signature').length > 0;
      throw samlInvalid(hasSignature ? 'signature is not valid for the IdP certificate' : 'neither the Response nor the Assertion is signed');
    }
    if (signedAssertionXml === null) throw samlInvalid('the signature does not cover an Assertion');
    const signedDoc = parseGuardedXml(signedAssertionXml, 'signed Assertion');
    const signed = signedDoc.documentElement;
    if (signed === null) throw samlInvalid('signed Assertion is empty');
    // The signed assertion must be the one in the message, not some other signed element.
    if (attr(signed, 'ID') !== attr(placed, 'ID')) throw samlInvalid('the signed Assertion is not the Assertion in the Response');

    // 6. Assertion checks, on signed content only.
    const checked = checkAssertion(signed, { idpEntityId, spEntityId: config.entityId, acsUrl, requestId, nowMs, skewMs });

    // 7. One-time use (SAML profiles §4.1.4.5), remembered until it could no longer be accepted anyway.
    let fresh: boolean;
    try {
      fresh = await replayCache.remember(`${idpEntityId} ${checked.id}`, checked.usableUntilMs + skewMs, nowMs);
    } catch (err) {
      if (err instanceof ReplayCacheFullError) throw samlInvalid('too many recent logins to track replays; try again shortly');
      if (err instanceof SharedStateError) throw new LoginError('login_unavailable', `SAML replay check: ${err.message}`);
      throw err;
    }
    if (!fresh) throw samlInvalid(`assertion ${checked.id} was already used (replay)`);

    return toSamlIdentity(config.id, checked);
  }

  return {
    id: config.id,
    type: 'saml',
    displayName: config.displayName ?? `SAML (${config.id})`,
    entityId: config.entityId,
    idpEntityId,

    async start({ callbackUrl, transactionId }) {
      const { id, context } = spFor(callbackUrl).createLoginRequest(idp, 'redirect', { relayState: transactionId });
      return { redirectUrl: context, secrets: { requestId: id, relayState: transactionId } };
    },

    finish,

    spMetadata(acsUrl) {
      return spFor(acsUrl).getMetadata();
    },
  };
}

/** Parses and checks the IdP metadata once, at configuration time. */
function importIdpMetadata(config: SamlConnectorConfig): SamlifyIdp {
  const fail = (why: string): Error => new Error(`SAML IdP "${config.id}": ${why}`);
  try {
    parseGuardedXml(config.metadataXml, 'IdP metadata');
  } catch (err) {
    throw fail(err instanceof LoginError ? err.message.replace(/^SAML response rejected: /, '') : 'metadata is not well-formed XML');
  }
  let idp: SamlifyIdp;
  try {
    idp = samlify.IdentityProvider({ metadata: config.metadataXml });
  } catch (err) {
    throw fail(`metadata could not be read (${err instanceof Error ? err.message : String(err)})`);
  }
  const entityId = idp.entityMeta.getEntityID();
  if (typeof entityId !== 'string' || entityId === '') throw fail('metadata has no entityID');
  // The pinned certificate(s): without one, samlify would fall back to the certificate in
  // the message's KeyInfo, which an attacker controls (CVE-2024-32962 in xml-crypto).
  const certs = idp.entityMeta.getX509Certificate('signing');
  const certList = (Array.isArray(certs) ? certs : [certs]).filter((c) => typeof c === 'string' && c.trim() !== '');
  if (certList.length === 0) throw fail('metadata has no signing certificate');
  // samlify keys SSO endpoints by its short binding name.
  if (typeof idp.entityMeta.getSingleSignOnService('redirect') !== 'string') {
    throw fail('metadata has no HTTP-Redirect SingleSignOnService');
  }
  if (idp.entityMeta.isWantAuthnRequestsSigned()) throw fail('the IdP requires signed AuthnRequests, which bouncer does not send');
  return idp;
}

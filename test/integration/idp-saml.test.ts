import { jest } from '@jest/globals';
import type { Identity } from '../../src/core/identity.js';
import { LoginError } from '../../src/web/idp/connector.js';
import { createSamlConnector, type SamlConnector } from '../../src/web/idp/saml-sp.js';
import { createMemoryReplayCache, ReplayCacheFullError } from '../../src/web/idp/saml/replay-cache.js';
import type { XmlElement } from '../../src/web/idp/saml/libs.js';
import { parseGuardedXml, textOf } from '../../src/web/idp/saml/xml-guard.js';
import { startSamlIdp, type LoginResponseRequest, type SamlIdp } from '../helpers/saml-idp.js';

// The IdP is samlify in its own process (test/fixtures/saml-idp.mjs) with its own
// freshly generated key; the attacks are responses it builds with knobs, so each
// test changes exactly one thing against an otherwise valid login.

const SP_ENTITY_ID = 'https://auth.acme.test/saml/corp';
const ACS = 'https://auth.acme.test:8443/callback/corp';
const CAROL = { email: 'Carol@Acme.test', name: 'Carol SAML', groups: ['staff', 'saml-users'] };

let idp: SamlIdp;
let sp: SamlConnector;

beforeAll(async () => {
  idp = await startSamlIdp();
  sp = createSamlConnector({ id: 'corp', metadataXml: idp.metadataXml, entityId: SP_ENTITY_ID });
}, 60_000);
afterAll(async () => {
  await idp?.close();
});

/** start() → IdP builds a response for that AuthnRequest (with knobs) → the POST params the browser would send. */
async function prepare(knobs: Partial<LoginResponseRequest> = {}, connector: SamlConnector = sp) {
  const { redirectUrl, secrets } = await connector.start({ callbackUrl: ACS, transactionId: 'tx-saml-1' });
  const res = await idp.loginResponse({ redirectUrl, user: CAROL, ...knobs });
  const params = new URLSearchParams({ SAMLResponse: res.samlResponse, RelayState: res.relayState });
  return { redirectUrl, secrets, params, res };
}

async function login(knobs: Partial<LoginResponseRequest> = {}, connector: SamlConnector = sp): Promise<Identity> {
  const { secrets, params } = await prepare(knobs, connector);
  return connector.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() });
}

async function rejected(p: Promise<unknown>, detail: RegExp, code = 'login_saml_invalid'): Promise<LoginError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoginError);
  expect((err as LoginError).code).toBe(code);
  expect((err as LoginError).message).toMatch(detail);
  return err as LoginError;
}

const b64 = (xml: string): string => Buffer.from(xml, 'utf8').toString('base64');

describe('SAML SP: happy paths', () => {
  it('sends an AuthnRequest over HTTP-Redirect with RelayState = transaction id and keeps its ID for InResponseTo', async () => {
    const { redirectUrl, secrets, res } = await prepare();
    const u = new URL(redirectUrl);
    expect(`${u.origin}${u.pathname}`).toBe(`${idp.baseUrl}/sso`);
    expect(u.searchParams.get('RelayState')).toBe('tx-saml-1');
    // The IdP parsed (and schema-validated) our AuthnRequest.
    expect(res.authnRequest).toEqual({ id: secrets['requestId'], acsUrl: ACS, issuer: SP_ENTITY_ID, destination: `${idp.baseUrl}/sso` });
    expect(secrets['requestId']).toMatch(/^_[0-9a-f]{40}$/);
  });

  it('logs in with a signed assertion and takes identity from it', async () => {
    const before = Date.now();
    const identity = await login();
    expect(identity).toEqual({
      sub: 'corp:Carol@Acme.test',
      email: 'carol@acme.test',
      emailVerified: true,
      name: 'Carol SAML',
      groups: ['staff', 'saml-users'],
      idp: { id: 'corp', type: 'saml' },
      amr: ['pwd'],
      authTime: expect.any(Number) as number,
    });
    expect(identity.authTime).toBeLessThanOrEqual(Date.now());
    expect(identity.authTime).toBeGreaterThan(before - 5_000);
  });

  it('accepts a response signed at the Response level, and one signed at both levels', async () => {
    expect((await login({ sign: 'response' })).email).toBe('carol@acme.test');
    expect((await login({ sign: 'both' })).email).toBe('carol@acme.test');
  });

  it('maps an MFA authentication context to amr mfa', async () => {
    const identity = await login({ authnContextClassRef: 'http://schemas.microsoft.com/claims/multipleauthn' });
    expect(identity.amr).toEqual(['mfa']);
  });

  it('uses an opaque NameID as the subject and the email attribute as the email', async () => {
    const identity = await login({ user: { ...CAROL, nameId: 'u-7f3a' }, nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent' });
    expect(identity.sub).toBe('corp:u-7f3a');
    expect(identity.email).toBe('carol@acme.test');
  });

  it('tolerates 60 s of clock skew at the end of the validity window', async () => {
    await expect(login({ notOnOrAfterOffsetSec: -30 })).resolves.toMatchObject({ email: 'carol@acme.test' });
  });

  it('works through the IdP browser pages (login form, auto-posted response) as the end-to-end tests use them', async () => {
    const { redirectUrl, secrets } = await sp.start({ callbackUrl: ACS, transactionId: 'tx-browser' });
    const page = await (await fetch(redirectUrl)).text();
    expect(page).toContain('<form method="post" action="/sso">');
    const hidden = (html: string, name: string): string => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';
    const form = new URLSearchParams({ SAMLRequest: hidden(page, 'SAMLRequest'), RelayState: hidden(page, 'RelayState'), email: 'intern@acme.test' });
    const post = await (await fetch(`${idp.baseUrl}/sso`, { method: 'POST', body: form })).text();
    expect(post).toContain(`action="${ACS}"`);
    const params = new URLSearchParams({ SAMLResponse: hidden(post, 'SAMLResponse'), RelayState: hidden(post, 'RelayState') });
    expect(params.get('RelayState')).toBe('tx-browser');
    const identity = await sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() });
    expect(identity).toMatchObject({ sub: 'corp:intern@acme.test', email: 'intern@acme.test', name: 'Ian Intern', groups: ['interns'] });
  });

  it('publishes SP metadata with our entity ID and POST ACS', () => {
    const xml = sp.spMetadata(ACS);
    expect(xml).toContain(`entityID="${SP_ENTITY_ID}"`);
    expect(xml).toContain(`Location="${ACS}"`);
    expect(xml).toContain('WantAssertionsSigned="true"');
  });
});

describe('SAML SP: attacks that must fail', () => {
  it('refuses an unsigned response', async () => {
    await rejected(login({ sign: 'none' }), /neither the Response nor the Assertion is signed/);
  });

  it('refuses a response re-signed with another key (its certificate in KeyInfo)', async () => {
    await rejected(login({ signWith: 'attacker' }), /certificate is not the one in the IdP metadata/);
  });

  it('refuses a response re-signed with another key (no KeyInfo: checked against the pinned certificate)', async () => {
    await rejected(login({ signWith: 'attacker', omitKeyInfo: true }), /signature is not valid for the IdP certificate/);
  });

  it('refuses a signed assertion whose content was changed afterwards', async () => {
    const { secrets, res } = await prepare();
    const tampered = res.xml.replace('>Carol@Acme.test</saml:NameID>', '>admin@acme.test</saml:NameID>');
    expect(tampered).not.toBe(res.xml);
    const params = new URLSearchParams({ SAMLResponse: b64(tampered), RelayState: res.relayState });
    await rejected(sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() }), /signature is not valid/);
  });

  it('refuses signature wrapping: an unsigned assertion beside the signed one', async () => {
    await rejected(login({ wrap: 'extra-assertion' }), /expected exactly one Assertion, found 2/);
  });

  it('refuses signature wrapping: the signed assertion moved into Extensions, an unsigned one in its place', async () => {
    await rejected(login({ wrap: 'moved-assertion' }), /expected exactly one Assertion, found 2/);
  });

  it('refuses signature wrapping: the unsigned replacement reuses the signed assertion ID', async () => {
    await rejected(login({ wrap: 'same-id-assertion', sign: 'response' }), /expected exactly one Assertion, found 2/);
  });

  it('refuses an Audience that is not our SP entity ID', async () => {
    await rejected(login({ audience: 'https://other-sp.test/saml' }), /Audience is not this service provider/);
  });

  it('refuses a bearer Recipient that is not our ACS URL', async () => {
    await rejected(login({ recipient: 'https://other-sp.test/acs' }), /Recipient is not our ACS URL/);
  });

  it('refuses a Response Destination that is not our ACS URL', async () => {
    await rejected(login({ destination: 'https://other-sp.test/acs' }), /Response Destination is not our ACS URL/);
  });

  it('refuses an assertion whose InResponseTo is not our AuthnRequest', async () => {
    await rejected(login({ assertionInResponseTo: '_someone-elses-request' }), /SubjectConfirmationData InResponseTo does not match/);
  });

  it('refuses a Response whose InResponseTo is not our AuthnRequest', async () => {
    await rejected(login({ responseInResponseTo: '_someone-elses-request' }), /Response InResponseTo does not match/);
  });

  it('refuses a valid response for another login transaction (its AuthnRequest ID)', async () => {
    const first = await prepare();
    const other = await sp.start({ callbackUrl: ACS, transactionId: 'tx-saml-1' });
    await rejected(sp.finish({ callbackUrl: ACS, params: first.params, secrets: other.secrets, nowMs: Date.now() }), /InResponseTo does not match/);
  });

  it('refuses an expired assertion (beyond the 60 s skew)', async () => {
    await rejected(login({ notBeforeOffsetSec: -900, notOnOrAfterOffsetSec: -120, authnInstantOffsetSec: -900 }), /expired/);
  });

  it('refuses an assertion that is not valid yet', async () => {
    await rejected(login({ notBeforeOffsetSec: 300, notOnOrAfterOffsetSec: 900 }), /not yet valid/);
  });

  it('refuses a replay of the same response', async () => {
    const { secrets, params } = await prepare();
    await sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() });
    await rejected(sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() }), /already used \(replay\)/);
  });

  it('refuses a payload with a DOCTYPE / ENTITY declaration before parsing it', async () => {
    await rejected(login({ doctype: true }), /contains a DOCTYPE declaration/);
  });

  it('refuses an assertion from another issuer even when the pinned key signed it', async () => {
    await rejected(login({ issuer: 'https://other-idp.test/metadata' }), /Issuer is not the configured IdP/);
  });

  it('refuses a non-Success status', async () => {
    await rejected(login({ statusCode: 'urn:oasis:names:tc:SAML:2.0:status:Requester' }), /status is .*Requester/);
  });

  it('reads a NameID split by a comment as the whole signed value, never the first half', async () => {
    // "admin@acme.test<!---->.evil.test": exclusive c14n drops the comment, so the IdP signed the
    // whole address; a reader that stopped at the comment would see admin@acme.test.
    const identity = await login({ user: { ...CAROL, email: undefined, nameId: 'admin@acme.test.evil.test' }, nameIdComment: true, nameIdCommentAt: 15 });
    expect(identity.email).toBe('admin@acme.test.evil.test');
    expect(identity.sub).toBe('corp:admin@acme.test.evil.test');
  });

  it('refuses markup inside a value it reads (the net under comment-splitting)', () => {
    const doc = parseGuardedXml('<a><b>admin@acme.test<!---->.evil.test</b><c>ok</c></a>', 'test');
    const [b, c] = Array.from(doc.documentElement?.getElementsByTagName('*') ?? []);
    expect(textOf(c as XmlElement)).toBe('ok');
    expect(() => textOf(b as XmlElement)).toThrow(/contains markup/);
  });

  it('refuses oversized, multi-root, non-base64 and duplicated inputs before parsing', async () => {
    const { secrets, res } = await prepare();
    const finish = (SAMLResponse: string | string[]) => {
      const params = new URLSearchParams({ RelayState: res.relayState });
      for (const v of Array.isArray(SAMLResponse) ? SAMLResponse : [SAMLResponse]) params.append('SAMLResponse', v);
      return sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() });
    };
    await rejected(finish(b64(res.xml.replace('</saml:Issuer>', `</saml:Issuer><!--${'x'.repeat(300 * 1024)}-->`))), /larger than 262144 bytes/);
    await rejected(finish(b64(`${res.xml}<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`)), /more than one root element/);
    await rejected(finish('%%%not-base64%%%'), /not base64/);
    await rejected(finish([res.samlResponse, res.samlResponse]), /exactly one SAMLResponse/);
  });

  it('refuses a response that does not conform to the SAML schema', async () => {
    const { secrets, res } = await prepare();
    // An attribute the protocol schema does not allow on <Response>; the signature (on the assertion) still holds.
    const bad = res.xml.replace('<samlp:Response ', '<samlp:Response Surprise="1" ');
    const params = new URLSearchParams({ SAMLResponse: b64(bad), RelayState: res.relayState });
    // The validator library prints its findings; keep the test output readable.
    const quiet = [jest.spyOn(console, 'error').mockImplementation(() => undefined), jest.spyOn(console, 'debug').mockImplementation(() => undefined)];
    try {
      await rejected(sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() }), /does not conform to the SAML 2.0 schema/);
    } finally {
      for (const q of quiet) q.mockRestore();
    }
  });

  it('refuses a RelayState that is not the transaction (login_state_mismatch)', async () => {
    const { secrets, res } = await prepare();
    const params = new URLSearchParams({ SAMLResponse: res.samlResponse, RelayState: 'tx-other' });
    await rejected(sp.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() }), /RelayState/, 'login_state_mismatch');
  });
});

describe('SAML SP: configuration and replay cache', () => {
  it('refuses IdP metadata without a signing certificate, with a DOCTYPE, or without a redirect SSO endpoint', () => {
    const noCert = idp.metadataXml.replace(/<KeyDescriptor[\s\S]*?<\/KeyDescriptor>/g, '');
    expect(() => createSamlConnector({ id: 'x', metadataXml: noCert, entityId: SP_ENTITY_ID })).toThrow(/no signing certificate/);
    expect(() => createSamlConnector({ id: 'x', metadataXml: `<!DOCTYPE x []>${idp.metadataXml}`, entityId: SP_ENTITY_ID })).toThrow(/DOCTYPE/);
    const noSso = idp.metadataXml.replace(/<SingleSignOnService[^>]*(\/>|>\s*<\/SingleSignOnService>)/g, '');
    expect(noSso).not.toContain('SingleSignOnService');
    expect(() => createSamlConnector({ id: 'x', metadataXml: noSso, entityId: SP_ENTITY_ID })).toThrow(/HTTP-Redirect SingleSignOnService/);
  });

  it('keeps assertion IDs until they expire, and fails closed when full of live IDs', () => {
    const cache = createMemoryReplayCache({ maxEntries: 2 });
    expect(cache.remember('a', 1_000, 0)).toBe(true);
    expect(cache.remember('a', 1_000, 999)).toBe(false);
    expect(cache.remember('b', 2_000, 0)).toBe(true);
    expect(() => cache.remember('c', 3_000, 500)).toThrow(ReplayCacheFullError);
    // Once 'a' expired, its slot is reused.
    expect(cache.remember('c', 3_000, 1_000)).toBe(true);
    expect(() => cache.remember('a', 4_000, 1_000)).toThrow(ReplayCacheFullError);
    expect(cache.remember('a', 4_000, 2_000)).toBe(true);
  });
});

// `saas_apps`, `auth.saml_idp` and `apps[].launcher`: what the loader fills in,
// what it reads from SP metadata, and every refusal with its file:line:column.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadConfig } from '../../src/config/load.js';
import type { BouncerConfig } from '../../src/config/types.js';
import { ConfigError, type ConfigIssue } from '../../src/core/errors.js';
import { generateSigning } from '../../src/web/saml-idp/signing.js';

let dir: string;
const p = (name: string): string => join(dir, name);
const write = (name: string, text: string): string => {
  writeFileSync(p(name), text);
  return p(name);
};

let spCert: string;
let idpPair: { certPem: string; keyPem: string };
let otherPair: { certPem: string; keyPem: string };

const spMetadata = (cert: string, extra = ''): string =>
  [
    '<?xml version="1.0"?>',
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sf.example/sp">',
    `  <md:SPSSODescriptor AuthnRequestsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${extra}`,
    `    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    `    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${cert.replace(/-----[^-]+-----|\s/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
    '    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sf.example/redirect-acs" index="0"/>',
    '    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sf.example/acs-1" index="1"/>',
    '    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sf.example/acs-default" index="2" isDefault="true"/>',
    '  </md:SPSSODescriptor>',
    '</md:EntityDescriptor>',
  ].join('\n');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-saas-'));
  const now = Date.now();
  const sp = await generateSigning('sf.example', now);
  spCert = sp.certPem;
  idpPair = await generateSigning('auth.acme.test', now);
  otherPair = await generateSigning('other.test', now);
  write('sp.xml', spMetadata(spCert));
  write('sp-cert.pem', spCert);
  write('idp.pem', idpPair.certPem);
  write('idp.key', idpPair.keyPem);
  write('other.key', otherPair.keyPem);
  write('idp-meta.xml', spMetadata(spCert).replace(/SPSSODescriptor/g, 'IDPSSODescriptor'));
  write('doctype.xml', `<!DOCTYPE x [<!ENTITY a "b">]>\n${spMetadata(spCert)}`);
  write('saas.secret', 'oidc-saas-secret\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = [
  'auth:',
  '  domain: auth.acme.test',
  'idps:',
  '  - { id: okta, type: oidc, issuer: https://okta.example, client_id: b, client_secret_env: OKTA }',
  '  - { id: google, type: oidc, preset: google, client_id: g, client_secret_env: OKTA }',
];
const ENV = { OKTA: 'x', SAAS_SECRET: 'env-saas-secret' };
const POLICY = '    policies: [{ name: staff, action: allow, include: [{ email_domain: [acme.test] }] }]';

async function load(name: string, lines: string[]): Promise<BouncerConfig> {
  return loadConfig(write(name, `${lines.join('\n')}\n`), ENV);
}

async function issues(name: string, lines: string[]): Promise<Array<Pick<ConfigIssue, 'line' | 'field' | 'message'>>> {
  const err: unknown = await load(name, lines).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ConfigError)) throw new Error(`expected a ConfigError, got ${String(err)}`);
  return err.issues.map(({ line, field, message }) => ({ line, field, message }));
}

describe('saas_apps: loaded', () => {
  it('fills defaults for a minimal SAML app and reads an OIDC app', async () => {
    const config = await load('minimal.yaml', [
      ...HEAD,
      'saas_apps:',
      '  - name: wiki-saas',
      '    idps: [okta]',
      POLICY,
      '    saml: { entity_id: https://wiki.example/sp, acs_urls: [https://wiki.example/acs] }',
      '  - name: chat',
      '    display_name: Team Chat',
      '    logo: https://cdn.example/chat.png',
      '    hidden: true',
      '    idps: [google, okta]',
      '    session_duration: 1h',
      POLICY,
      '    oidc: { client_id: chat-client, client_secret_file: ./saas.secret, redirect_uris: [https://chat.example/cb, http://127.0.0.1:9000/cb] }',
    ]);
    expect(config.saasApps).toHaveLength(2);
    const [wiki, chat] = config.saasApps;
    expect(wiki).toMatchObject({
      name: 'wiki-saas',
      displayName: 'wiki-saas',
      logo: undefined,
      hidden: false,
      idps: ['okta'],
      sessionDurationSec: 8 * 3600,
      oidc: undefined,
      saml: {
        entityId: 'https://wiki.example/sp',
        acsUrls: ['https://wiki.example/acs'],
        nameIdFormat: 'emailAddress',
        nameIdSource: 'email',
        attributes: [
          { name: 'email', from: 'email' },
          { name: 'name', from: 'name' },
          { name: 'groups', from: 'groups' },
        ],
        sign: 'both',
        signatureAlgorithm: 'rsa-sha256',
        authnRequestsSigned: false,
        spCertPem: undefined,
      },
    });
    expect(wiki?.policies).toHaveLength(1);
    expect(chat).toMatchObject({
      displayName: 'Team Chat',
      logo: 'https://cdn.example/chat.png',
      hidden: true,
      idps: ['google', 'okta'],
      sessionDurationSec: 3600,
      saml: undefined,
      oidc: { clientId: 'chat-client', clientSecret: 'oidc-saas-secret', redirectUris: ['https://chat.example/cb', 'http://127.0.0.1:9000/cb'], tokenEndpointAuthMethod: 'client_secret_basic' },
    });
    expect(config.files).toContain(p('saas.secret'));
    expect(config.auth?.samlIdp).toBeUndefined();
    expect(Object.isFrozen(config.saasApps[0]?.saml)).toBe(true);
  });

  it('token_endpoint_auth_method: client_secret_post when written, nothing else', async () => {
    const app = (method: string): string[] => [
      ...HEAD,
      'saas_apps:',
      '  - name: chat',
      '    idps: [okta]',
      POLICY,
      `    oidc: { client_id: chat-client, client_secret_env: SAAS_SECRET, redirect_uris: [https://chat.example/cb], token_endpoint_auth_method: ${method} }`,
    ];
    expect((await load('post.yaml', app('client_secret_post'))).saasApps[0]?.oidc?.tokenEndpointAuthMethod).toBe('client_secret_post');
    const bad = await issues('none.yaml', app('none'));
    expect(bad).toEqual([expect.objectContaining({ field: 'saas_apps[0].oidc.token_endpoint_auth_method', message: "token_endpoint_auth_method must be one of client_secret_basic, client_secret_post; got 'none'" })]);
  });

  it('SP metadata fills entity ID, POST ACS URLs (default first), signing certificate and AuthnRequestsSigned; written values win', async () => {
    const config = await load('meta.yaml', [
      ...HEAD,
      'saas_apps:',
      '  - name: sf',
      '    idps: [okta]',
      POLICY,
      '    saml:',
      '      metadata_file: ./sp.xml',
      '      name_id: { format: persistent }',
      '      attributes: { mail: email, "urn:oid:1.3.6.1.4.1.5923.1.1.1.7": groups, role: "static:viewer", who: sub, via: idp, how: amr }',
      '      sign: assertion',
      '      signature_algorithm: rsa-sha512',
      '  - name: sf2',
      '    idps: [okta]',
      POLICY,
      '    saml: { metadata_file: ./sp.xml, entity_id: https://sf.example/other, acs_urls: [https://sf.example/only], authn_requests_signed: false }',
    ]);
    const [sf, sf2] = config.saasApps;
    expect(sf?.saml).toMatchObject({
      entityId: 'https://sf.example/sp',
      acsUrls: ['https://sf.example/acs-default', 'https://sf.example/acs-1'],
      nameIdFormat: 'persistent',
      // persistent defaults to the stable subject, not the email address
      nameIdSource: 'sub',
      attributes: [
        { name: 'mail', from: 'email' },
        { name: 'urn:oid:1.3.6.1.4.1.5923.1.1.1.7', from: 'groups' },
        { name: 'role', value: 'viewer' },
        { name: 'who', from: 'sub' },
        { name: 'via', from: 'idp' },
        { name: 'how', from: 'amr' },
      ],
      sign: 'assertion',
      signatureAlgorithm: 'rsa-sha512',
      authnRequestsSigned: true,
    });
    expect(sf?.saml?.spCertPem?.replace(/\s/g, '')).toBe(spCert.replace(/\s/g, ''));
    expect(sf2?.saml).toMatchObject({ entityId: 'https://sf.example/other', acsUrls: ['https://sf.example/only'], authnRequestsSigned: false });
    expect(config.files).toContain(p('sp.xml'));
  });

  it('auth.saml_idp reads a matching certificate and key; apps[].launcher is filled in', async () => {
    const config = await load('idp-key.yaml', [
      'auth:',
      '  domain: auth.acme.test',
      '  saml_idp: { cert_file: ./idp.pem, key_file: ./idp.key }',
      'idps:',
      '  - { id: okta, type: oidc, issuer: https://okta.example, client_id: b, client_secret_env: OKTA }',
      'apps:',
      '  - name: grafana',
      '    hostnames: ["*.grafana.acme.test", grafana.acme.test]',
      '    idps: [okta]',
      POLICY,
      '  - name: wiki',
      '    hostnames: [wiki.acme.test]',
      '    idps: [okta]',
      POLICY,
      '    launcher: { hidden: true, display_name: Team Wiki, logo: "data:image/png;base64,iVBORw0KGgo=", url: https://wiki.acme.test/home }',
    ]);
    expect(config.auth?.samlIdp?.certPem.replace(/\s/g, '')).toBe(idpPair.certPem.replace(/\s/g, ''));
    expect(config.auth?.samlIdp?.keyPem).toContain('BEGIN PRIVATE KEY');
    expect(config.apps[0]?.launcher).toEqual({ hidden: false, displayName: 'grafana', logo: undefined, url: undefined });
    expect(config.apps[1]?.launcher).toEqual({ hidden: true, displayName: 'Team Wiki', logo: 'data:image/png;base64,iVBORw0KGgo=', url: 'https://wiki.acme.test/home' });
    expect(config.files).toEqual(expect.arrayContaining([p('idp.pem'), p('idp.key')]));
  });

  it('saas_apps alone (no apps, no tenants) is a complete config', async () => {
    const config = await load('saas-only.yaml', [...HEAD, 'saas_apps:', '  - name: a', '    idps: [okta]', POLICY, '    saml: { entity_id: "urn:a", acs_urls: [https://a.example/acs] }']);
    expect(config.apps).toEqual([]);
    expect(config.saasApps.map((a) => a.name)).toEqual(['a']);
    expect(config.warnings).toContain('idp google is not used by any app');
    expect(config.warnings).not.toContain('idp okta is not used by any app');
  });
});

describe('saas_apps: refused, each at its place', () => {
  it('shape problems', async () => {
    const found = await issues('shape.yaml', [
      ...HEAD, // lines 1-5
      'saas_apps:',
      '  - name: Bad Name', // 7
      '    idps: [okta]',
      POLICY,
      '    saml: { entity_id: https://x.example, acs_urls: [https://x.example/acs] }',
      '    oidc: { client_id: c, client_secret_env: SAAS_SECRET, redirect_uris: [https://x.example/cb] }', // 11
      '  - name: nothing', // 12
      '    idps: [okta]',
      POLICY,
      '  - name: bad-saml', // 15
      '    idps: [okta]',
      POLICY,
      '    saml:',
      '      acs_urls: [http://x.example/acs, "https://x.example/acs#frag"]', // 19
      '      name_id: { format: transient }', // 20
      '      attributes: { email: mail, role: "static:x" }', // 21
      '      sign: nothing', // 22
      '      signature_algorithm: rsa-sha1', // 23
      '      authn_requests_signed: true', // 24
      '  - name: bad-oidc', // 25
      '    idps: [okta]',
      POLICY,
      '    oidc: { client_id: c, client_secret: inline, redirect_uris: [javascript:alert(1)] }', // 28
      '    logo: http://cdn.example/x.png', // 29
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        { line: 7, field: 'saas_apps[0].name', message: expect.stringContaining("got 'Bad Name'") },
        { line: 11, field: 'saas_apps[0].oidc', message: expect.stringMatching(/^give either saml or oidc, not both/) },
        { line: 12, field: 'saas_apps[1].saml', message: expect.stringMatching(/^saml or oidc is required/) },
        { line: 19, field: 'saas_apps[2].saml.entity_id', message: expect.stringMatching(/^entity_id is required \(or metadata_file\)/) },
        { line: 19, field: 'saas_apps[2].saml.acs_urls[0]', message: expect.stringMatching(/^ACS URL must use https/) },
        { line: 19, field: 'saas_apps[2].saml.acs_urls[1]', message: expect.stringMatching(/^ACS URL must not have a fragment/) },
        { line: 20, field: 'saas_apps[2].saml.name_id.format', message: "format must be one of emailAddress, persistent, unspecified; got 'transient'" },
        { line: 21, field: 'saas_apps[2].saml.attributes.email', message: expect.stringMatching(/^must be one of email, name, groups, sub, idp, amr, or static:<value> for a fixed value; got 'mail'/) },
        { line: 22, field: 'saas_apps[2].saml.sign', message: "sign must be one of response, assertion, both; got 'nothing'" },
        { line: 23, field: 'saas_apps[2].saml.signature_algorithm', message: "signature_algorithm must be one of rsa-sha256, rsa-sha512; got 'rsa-sha1'" },
        { line: 28, field: 'saas_apps[3].oidc.client_secret', message: expect.stringMatching(/^secrets are never written in the config file/) },
        { line: 29, field: 'saas_apps[3].logo', message: expect.stringMatching(/^logo must be an https URL or a data:image/) },
      ]),
    );
  });

  it('cross-references: unknown idps, policy selectors, duplicate names and client ids, missing auth, unverifiable signing', async () => {
    const found = await issues('refs.yaml', [
      ...HEAD,
      'apps:',
      '  - name: wiki', // 7
      '    hostnames: [wiki.acme.test]',
      '    idps: [okta]',
      POLICY,
      'saas_apps:',
      '  - name: wiki', // 12
      '    idps: [github]', // 13
      '    policies: [{ name: p, action: allow, include: [{ idp: [google] }] }]', // 14
      '    oidc: { client_id: same, client_secret_env: SAAS_SECRET, redirect_uris: [https://a.example/cb] }',
      '  - name: other',
      '    idps: [okta]',
      POLICY,
      '    oidc: { client_id: same, client_secret_env: MISSING, redirect_uris: [https://b.example/cb] }', // 19
      '  - name: signed',
      '    idps: [okta]',
      POLICY,
      '    saml: { entity_id: "urn:x", acs_urls: [https://x.example/acs], authn_requests_signed: true }', // 23
    ]);
    expect(found).toEqual(
      expect.arrayContaining([
        { line: 12, field: 'saas_apps[0].name', message: expect.stringMatching(/^name 'wiki' is already used by app apps\[0\] \(line 7\); names must be unique across apps and saas_apps$/) },
        { line: 13, field: 'saas_apps[0].idps[0]', message: "idp 'github' is not defined in idps (defined: okta, google)" },
        { line: 14, field: 'saas_apps[0].policies[0].include[0].idp[0]', message: expect.stringContaining("idp 'google' is not one of this app's idps (github)") },
        { line: 19, field: 'saas_apps[1].oidc.client_id', message: expect.stringMatching(/^client_id 'same' is already used by saas_apps\[0\]/) },
        { line: 19, field: 'saas_apps[1].oidc.client_secret_env', message: 'environment variable MISSING is not set; it must hold the client secret' },
        { line: 23, field: 'saas_apps[2].saml.authn_requests_signed', message: expect.stringMatching(/^authn_requests_signed needs the SP's signing certificate/) },
      ]),
    );
    const noAuth = await issues('no-auth.yaml', ['saas_apps:', '  - name: a', '    idps: [okta]', POLICY, '    saml: { entity_id: "urn:a", acs_urls: [https://a.example/acs] }']);
    expect(noAuth).toEqual(expect.arrayContaining([{ line: 1, field: 'auth', message: expect.stringMatching(/^auth is required when saas_apps are configured/) }]));
  });

  it('files: SP metadata that is not SP metadata or has a DOCTYPE, an SP certificate that is not one, an IdP key that does not match', async () => {
    const found = await issues('files.yaml', [
      'auth:',
      '  domain: auth.acme.test',
      '  saml_idp: { cert_file: ./idp.pem, key_file: ./other.key }', // 3
      'idps:',
      '  - { id: okta, type: oidc, issuer: https://okta.example, client_id: b, client_secret_env: OKTA }',
      'saas_apps:',
      '  - name: a',
      '    idps: [okta]',
      POLICY,
      '    saml: { metadata_file: ./idp-meta.xml }', // 10
      '  - name: b',
      '    idps: [okta]',
      POLICY,
      '    saml: { metadata_file: ./doctype.xml }', // 14
      '  - name: c',
      '    idps: [okta]',
      POLICY,
      '    saml: { entity_id: "urn:c", acs_urls: [https://c.example/acs], sp_cert_file: ./saas.secret }', // 18
      '  - name: d',
      '    idps: [okta]',
      POLICY,
      '    saml: { metadata_file: ./missing.xml }', // 22
    ]);
    expect(found).toEqual([
      { line: 3, field: 'auth.saml_idp.key_file', message: `SAML IdP key file ${p('other.key')} does not belong to the certificate in ${p('idp.pem')}` },
      { line: 10, field: 'saas_apps[0].saml.metadata_file', message: expect.stringMatching(/has no SPSSODescriptor/) },
      { line: 14, field: 'saas_apps[1].saml.metadata_file', message: expect.stringMatching(/DOCTYPE/) },
      { line: 18, field: 'saas_apps[2].saml.sp_cert_file', message: `SP certificate file ${p('saas.secret')} is not a PEM certificate` },
      { line: 22, field: 'saas_apps[3].saml.metadata_file', message: expect.stringMatching(/^cannot read SAML SP metadata file .*ENOENT/) },
    ]);
  });
});

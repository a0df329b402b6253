import type { SaasAppConfig } from '../../src/config/types.js';
import { saasTileHref } from '../../src/web/launcher/tiles.js';

const base: SaasAppConfig = {
  name: 'crm',
  displayName: 'CRM',
  logo: undefined,
  hidden: false,
  idps: ['okta'],
  sessionDurationSec: 3600,
  policies: [],
  saml: undefined,
  oidc: { clientId: 'c', clientSecret: 's', redirectUris: ['https://crm.example/auth/cb'] },
};

describe('launcher tile links for SaaS apps', () => {
  test('an OIDC app with initiate_login_uri starts a third-party initiated login with our issuer', () => {
    const href = saasTileHref({ ...base, oidc: { ...base.oidc!, initiateLoginUri: 'https://crm.example/sso/start?tenant=acme' } }, 'https://auth.acme.test/oidc');
    const u = new URL(href ?? '');
    expect(u.origin + u.pathname).toBe('https://crm.example/sso/start');
    expect(u.searchParams.get('tenant')).toBe('acme');
    expect(u.searchParams.get('iss')).toBe('https://auth.acme.test/oidc');
  });

  test('without it, the tile opens the app where its callback lives', () => {
    expect(saasTileHref(base, 'https://auth.acme.test/oidc')).toBe('https://crm.example/');
  });

  test('a SAML app starts an IdP-initiated login', () => {
    expect(saasTileHref({ ...base, oidc: undefined, saml: {} as SaasAppConfig['saml'] })).toBe('/saml/idp/crm/init');
  });
});

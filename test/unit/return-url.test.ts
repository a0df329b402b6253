import { describe, expect, it } from '@jest/globals';
import { validateReturnUrl } from '../../src/web/auth/return-url.js';

const hosts = ['wiki.acme.test', 'Docs.Acme.Test', '*.apps.acme.test'];

describe('validateReturnUrl', () => {
  it.each([
    ['https://wiki.acme.test/'],
    ['https://wiki.acme.test/page?x=1#frag'],
    ['https://WIKI.acme.test/p'],
    ['https://docs.acme.test/'],
    ['https://wiki.acme.test:8443/p'],
    ['https://wiki.acme.test./p'],
    ['https://one.apps.acme.test/p'],
  ])('accepts %s', (raw) => {
    const r = validateReturnUrl(raw, hosts);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.url.protocol).toBe('https:');
  });

  it.each([
    [undefined, 'return_url_missing'],
    ['', 'return_url_missing'],
    ['//evil.test/', 'return_url_not_https'],
    ['/\\evil.test/', 'return_url_bad_characters'],
    ['https:evil.test', 'return_url_not_https'],
    ['https:/evil.test', 'return_url_not_https'],
    ['https:\\\\evil.test', 'return_url_bad_characters'],
    ['https://wiki.acme.test\\@evil.test/', 'return_url_bad_characters'],
    ['%2F%2Fevil.test', 'return_url_not_https'],
    ['%2f%2fevil.test', 'return_url_not_https'],
    ['https%3A%2F%2Fevil.test', 'return_url_not_https'],
    ['javascript:alert(1)', 'return_url_not_https'],
    ['JavaScript://wiki.acme.test/%0aalert(1)', 'return_url_not_https'],
    ['data:text/html,hi', 'return_url_not_https'],
    ['http://wiki.acme.test/', 'return_url_not_https'],
    ['/relative/path', 'return_url_not_https'],
    [' https://wiki.acme.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\n', 'return_url_bad_characters'],
    ['https://wi\tki.acme.test/', 'return_url_bad_characters'],
    ['https://evil.test/', 'return_url_host_not_allowed'],
    ['https://wiki.acme.test.evil.test/', 'return_url_host_not_allowed'],
    ['https://evilwiki.acme.test/', 'return_url_host_not_allowed'],
    ['https://apps.acme.test/', 'return_url_host_not_allowed'],
    ['https://a.b.apps.acme.test/', 'return_url_host_not_allowed'],
    ['https://xapps.acme.test/', 'return_url_host_not_allowed'],
    ['https://wiki.acme.test@evil.test/', 'return_url_userinfo'],
    ['https://user:pw@wiki.acme.test/', 'return_url_userinfo'],
    ['https://evil.test@wiki.acme.test/', 'return_url_userinfo'],
    ['https://%2F%2Fevil.test/', 'return_url_unparseable'],
  ])('rejects %j', (raw, problem) => {
    const r = validateReturnUrl(raw, hosts);
    expect(r).toEqual({ ok: false, problem });
  });

  it('rejects over-long URLs', () => {
    expect(validateReturnUrl(`https://wiki.acme.test/${'a'.repeat(3000)}`, hosts)).toEqual({ ok: false, problem: 'return_url_too_long' });
  });

  it('rejects every host when the allow-list is empty', () => {
    expect(validateReturnUrl('https://wiki.acme.test/', []).ok).toBe(false);
  });
});

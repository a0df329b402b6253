import { describe, expect, it } from '@jest/globals';
import { locationOnOrigin, validateReturnUrl, type ReturnUrlProblem } from '../../src/core/return-url.js';

const hosts = ['wiki.acme.test', 'Docs.Acme.Test', '*.apps.acme.test'];

describe('validateReturnUrl', () => {
  // [raw, origin, path]: what the Location is built from.
  it.each([
    ['https://wiki.acme.test/', 'https://wiki.acme.test', '/'],
    ['https://wiki.acme.test', 'https://wiki.acme.test', '/'],
    ['https://wiki.acme.test/page?x=1#frag', 'https://wiki.acme.test', '/page?x=1'],
    ['https://WIKI.acme.test/p', 'https://wiki.acme.test', '/p'],
    ['https://docs.acme.test/', 'https://docs.acme.test', '/'],
    ['https://wiki.acme.test:8443/p', 'https://wiki.acme.test:8443', '/p'],
    ['https://wiki.acme.test:443/p', 'https://wiki.acme.test', '/p'],
    ['https://wiki.acme.test./p', 'https://wiki.acme.test', '/p'],
    ['https://wiki\uff0eacme.test/p', 'https://wiki.acme.test', '/p'],
    ['https://wiki.acme.test/\uff0f\uff0fevil.test/', 'https://wiki.acme.test', '/%EF%BC%8F%EF%BC%8Fevil.test/'],
    ['https://one.apps.acme.test/p', 'https://one.apps.acme.test', '/p'],
    // Dot segments resolve as a browser resolves them, and stay on the host.
    ['https://wiki.acme.test/a/b/../c', 'https://wiki.acme.test', '/a/c'],
    ['https://wiki.acme.test/../../x', 'https://wiki.acme.test', '/x'],
    ['https://wiki.acme.test/a/./b', 'https://wiki.acme.test', '/a/b'],
    // Slashes, encoded or not, in the query are data: they never change the origin.
    ['https://wiki.acme.test/search?q=//evil.test/&r=%2F%2Fevil', 'https://wiki.acme.test', '/search?q=//evil.test/&r=%2F%2Fevil'],
    ['https://wiki.acme.test/caf\u00e9', 'https://wiki.acme.test', '/caf%C3%A9'],
    ['https://wiki.acme.test/a%20b', 'https://wiki.acme.test', '/a%20b'],
  ])('accepts %s', (raw, origin, path) => {
    const r = validateReturnUrl(raw, hosts);
    if (!r.ok) throw new Error(`refused: ${r.problem}`);
    expect(r.target).toMatchObject({ origin, path, href: `${origin}${path}` });
  });

  it.each<[string | undefined, ReturnUrlProblem]>([
    [undefined, 'return_url_missing'],
    ['', 'return_url_missing'],
    // Not an absolute https URL with an authority.
    ['//evil.test/', 'return_url_not_https'],
    ['https:evil.test', 'return_url_not_https'],
    ['https:/evil.test', 'return_url_not_https'],
    ['https:///evil.test', 'return_url_not_https'],
    ['%2F%2Fevil.test', 'return_url_not_https'],
    ['%2f%2fevil.test', 'return_url_not_https'],
    ['https%3A%2F%2Fevil.test', 'return_url_not_https'],
    ['javascript:alert(1)', 'return_url_not_https'],
    ['JavaScript://wiki.acme.test/%0aalert(1)', 'return_url_not_https'],
    ['data:text/html,hi', 'return_url_not_https'],
    ['vbscript:msgbox', 'return_url_not_https'],
    ['http://wiki.acme.test/', 'return_url_not_https'],
    ['wss://wiki.acme.test/', 'return_url_not_https'],
    ['/relative/path', 'return_url_not_https'],
    ['HTTPS://evil.test/', 'return_url_host_not_allowed'],
    // Backslashes, controls, whitespace: parsers drop or fold them.
    ['/\\evil.test/', 'return_url_bad_characters'],
    ['https:\\\\evil.test', 'return_url_bad_characters'],
    ['https://wiki.acme.test\\@evil.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\\evil.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\\\\evil.test/', 'return_url_bad_characters'],
    [' https://wiki.acme.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\n', 'return_url_bad_characters'],
    ['https://wi\tki.acme.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\t/evil.test/', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\u0000', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\u007f', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\u0085', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\u00a0', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\u2028', 'return_url_bad_characters'],
    ['https://wiki.acme.test/\ufeff', 'return_url_bad_characters'],
    // Another host.
    ['https://evil.test/', 'return_url_host_not_allowed'],
    ['https://wiki.acme.test.evil.test/', 'return_url_host_not_allowed'],
    ['https://evilwiki.acme.test/', 'return_url_host_not_allowed'],
    ['https://apps.acme.test/', 'return_url_host_not_allowed'],
    ['https://a.b.apps.acme.test/', 'return_url_host_not_allowed'],
    ['https://xapps.acme.test/', 'return_url_host_not_allowed'],
    ['https://wiki.acme.test\u3002evil.test/', 'return_url_host_not_allowed'],
    // Userinfo, and encoded characters in the authority.
    ['https://wiki.acme.test@evil.test/', 'return_url_userinfo'],
    ['https://user:pw@wiki.acme.test/', 'return_url_userinfo'],
    ['https://evil.test@wiki.acme.test/', 'return_url_userinfo'],
    ['https://wiki.acme.test%40evil.test/', 'return_url_unparseable'],
    ['https://%2F%2Fevil.test/', 'return_url_unparseable'],
    ['https://wiki%2eacme.test/', 'return_url_unparseable'],
    // A path a browser reads as another origin once it is in a Location.
    ['https://wiki.acme.test//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test///evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test:8443//evil.test:8443/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/.//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/..//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/a/..//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/a/b/../..//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/a/%2e%2e//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/a/%2E%2E//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/a/.%2e//evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%2e//evil.test/', 'return_url_path_unsafe'],
    // Encoded separators and controls in the path, once or twice encoded.
    ['https://wiki.acme.test/%2F%2Fevil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%2f%2fevil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%5C%5Cevil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%5c/evil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%252F%252Fevil.test/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/%252e%252e/', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/x%0d%0aSet-Cookie:a=b', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/x%09', 'return_url_path_unsafe'],
    ['https://wiki.acme.test/x%00', 'return_url_path_unsafe'],
  ])('rejects %j', (raw, problem) => {
    expect(validateReturnUrl(raw, hosts)).toEqual({ ok: false, problem });
  });

  it('rejects over-long URLs', () => {
    expect(validateReturnUrl(`https://wiki.acme.test/${'a'.repeat(3000)}`, hosts)).toEqual({ ok: false, problem: 'return_url_too_long' });
  });

  it('rejects every host when the allow-list is empty', () => {
    expect(validateReturnUrl('https://wiki.acme.test/', []).ok).toBe(false);
  });

  it('builds a Location on the login service origin from the validated path only', () => {
    const r = validateReturnUrl('https://auth.acme.test/saml/idp/x/sso?pending=abc', ['auth.acme.test']);
    if (!r.ok) throw new Error(r.problem);
    expect(locationOnOrigin('https://auth.acme.test:8443/', r.target)).toBe('https://auth.acme.test:8443/saml/idp/x/sso?pending=abc');
  });

  it('every accepted URL round-trips: its href validates to itself, and a browser resolving it lands on its origin', () => {
    const samples = ['https://wiki.acme.test/a/../b?c=d', 'https://wiki.acme.test:8443/x/./y/', 'https://one.apps.acme.test/%41'];
    for (const raw of samples) {
      const r = validateReturnUrl(raw, hosts);
      if (!r.ok) throw new Error(`${raw}: ${r.problem}`);
      const again = validateReturnUrl(r.target.href, hosts);
      expect(again).toEqual(r);
      // A Location resolved against any base lands on the target origin.
      expect(new URL(r.target.href, 'https://evil.test/').origin).toBe(r.target.origin);
    }
  });
});

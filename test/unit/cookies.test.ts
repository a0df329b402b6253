import { APP_COOKIE, AUTH_COOKIE, clearCookie, CookieReader, readCookie, serializeCookie } from '../../src/sessions/cookies.js';

describe('serializeCookie', () => {
  test('__Host- attributes, no Domain', () => {
    const c = serializeCookie(APP_COOKIE, 'eyJ.abc.def', { maxAgeSec: 3600.7 });
    expect(c).toBe('__Host-bouncer_session=eyJ.abc.def; Max-Age=3600; Path=/; Secure; HttpOnly; SameSite=Lax');
    expect(c).not.toMatch(/domain/i);
  });

  test('clearCookie keeps Secure and Path=/ so browsers accept the deletion', () => {
    expect(clearCookie(AUTH_COOKIE)).toBe('__Host-bouncer_auth=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax');
  });

  test.each([
    ['bad name', 'a b', 'v'],
    ['value with ;', APP_COOKIE, 'x; Domain=evil.test'],
    ['value with CRLF', APP_COOKIE, 'x\r\nSet-Cookie: y=z'],
    ['value with space', APP_COOKIE, 'a b'],
    ['too long', APP_COOKIE, 'a'.repeat(5000)],
  ])('refuses %s', (_n, name, value) => {
    expect(() => serializeCookie(name, value, { maxAgeSec: 1 })).toThrow(TypeError);
  });

  test('negative or NaN max-age', () => {
    expect(serializeCookie(APP_COOKIE, 'v', { maxAgeSec: -5 })).toContain('Max-Age=0;');
    expect(() => serializeCookie(APP_COOKIE, 'v', { maxAgeSec: Number.NaN })).toThrow(TypeError);
  });
});

describe('readCookie', () => {
  test.each<[string, string | readonly string[] | undefined, string | undefined]>([
    ['simple', `${APP_COOKIE}=tok`, 'tok'],
    ['among others', `a=1; ${APP_COOKIE}=tok; b=2`, 'tok'],
    ['no spaces', `a=1;${APP_COOKIE}=tok;b=2`, 'tok'],
    ['quoted', `${APP_COOKIE}="tok"`, 'tok'],
    ['value containing =', `${APP_COOKIE}=a=b`, 'a=b'],
    ['absent', 'a=1; b=2', undefined],
    ['undefined header', undefined, undefined],
    ['empty header', '', undefined],
    ['empty value', `${APP_COOKIE}=`, undefined],
    ['junk pairs around', `;;garbage;=x; ${APP_COOKIE}=tok; ;`, 'tok'],
    ['name is a prefix only', `${APP_COOKIE}x=tok`, undefined],
    ['case differs', `${APP_COOKIE.toLowerCase()}=tok`, undefined],
    ['without __Host- prefix', 'bouncer_session=tok', undefined],
    ['duplicate: treated as absent', `${APP_COOKIE}=a; ${APP_COOKIE}=b`, undefined],
    ['duplicate with same value: still absent', `${APP_COOKIE}=a; ${APP_COOKIE}=a`, undefined],
    ['duplicate across two headers', [`${APP_COOKIE}=a`, `x=1; ${APP_COOKIE}=b`], undefined],
    ['one of two headers', ['x=1', `${APP_COOKIE}=b`], 'b'],
    ['duplicate where one is junk', `${APP_COOKIE}=a b; ${APP_COOKIE}=good`, undefined],
    ['invalid characters', `${APP_COOKIE}=a\\b`, undefined],
    ['control characters', `${APP_COOKIE}=a\u0000b`, undefined],
  ])('%s', (_n, header, expected) => {
    expect(readCookie(header, APP_COOKIE)).toBe(expected);
  });

  test('the other cookie name is read independently', () => {
    expect(readCookie(`${APP_COOKIE}=a; ${AUTH_COOKIE}=b`, AUTH_COOKIE)).toBe('b');
  });
});

describe('CookieReader', () => {
  const headers = [
    `${APP_COOKIE}=tok`,
    `a=1; ${APP_COOKIE}=tok2; b=2`,
    `${APP_COOKIE}=one; ${APP_COOKIE}=two`,
    `${APP_COOKIE}="quoted"`,
    `${APP_COOKIE}=bad value`,
    `${APP_COOKIE}=`,
    'junk; =x; a',
    `${AUTH_COOKIE}=other`,
    '',
  ];

  test('answers exactly as readCookie does, first time and remembered', () => {
    const reader = new CookieReader(APP_COOKIE);
    for (let round = 0; round < 2; round++) for (const h of headers) expect(reader.read(h)).toBe(readCookie(h, APP_COOKIE));
    expect(reader.read(undefined)).toBeUndefined();
    expect(reader.size).toBe(headers.length);
  });

  test('holds at most `entries` headers, dropping the oldest, and skips long ones', () => {
    const reader = new CookieReader(APP_COOKIE, { entries: 4, maxHeaderChars: 64 });
    for (let i = 0; i < 10; i++) expect(reader.read(`${APP_COOKIE}=t${i}`)).toBe(`t${i}`);
    expect(reader.size).toBe(4);
    const long = `${APP_COOKIE}=${'x'.repeat(100)}`;
    expect(reader.read(long)).toBe('x'.repeat(100));
    expect(reader.size).toBe(4);
    // An early header was dropped, yet is still read right.
    expect(reader.read(`${APP_COOKIE}=t0`)).toBe('t0');
  });
});

import { XfccError } from '../../src/core/errors.js';
import { parseXfcc } from '../../src/core/xfcc.js';

const PEM = '-----BEGIN CERTIFICATE-----\nMIIB+zCCAaGgAwIBAgIU\n-----END CERTIFICATE-----\n';
const HASH = '3f'.repeat(32);
const enc = encodeURIComponent;

function malformed(value: string): XfccError {
  try {
    parseXfcc(value);
  } catch (err) {
    expect(err).toBeInstanceOf(XfccError);
    expect((err as XfccError).code).toBe('ERR_XFCC_MALFORMED');
    return err as XfccError;
  }
  throw new Error(`expected ${JSON.stringify(value)} to be rejected`);
}

describe('parseXfcc: what Envoy writes', () => {
  test('a SANITIZE_SET element with cert, chain, subject and an empty URI', () => {
    // Shape captured from Envoy 1.40 with forward_client_cert_details SANITIZE_SET and
    // set_current_client_cert_details {cert, chain, subject, uri, dns}.
    const v = `Hash=${HASH};Cert="${enc(PEM)}";Chain="${enc(PEM + PEM)}";Subject="CN=client";URI=`;
    const [e, ...rest] = parseXfcc(v);
    expect(rest).toHaveLength(0);
    expect(e).toEqual({ by: [], hash: HASH, cert: PEM, chain: PEM + PEM, subject: 'CN=client', uri: [], dns: [] });
  });

  test('repeated URI and DNS keys collect in order', () => {
    const [e] = parseXfcc('URI=spiffe://acme/a;DNS=a.acme.example;URI=spiffe://acme/b;DNS=b.acme.example;DNS=');
    expect(e?.uri).toEqual(['spiffe://acme/a', 'spiffe://acme/b']);
    expect(e?.dns).toEqual(['a.acme.example', 'b.acme.example']);
  });

  test('quoted values keep , ; = and unescape \\"', () => {
    const [e] = parseXfcc('Subject="CN=Doe\\, \\"Jr\\";O=Acme, Inc.;OU=a=b";By=spiffe://edge');
    expect(e?.subject).toBe('CN=Doe\\, "Jr";O=Acme, Inc.;OU=a=b');
    expect(e?.by).toEqual(['spiffe://edge']);
  });

  test('a backslash not before a quote is literal', () => {
    expect(parseXfcc('Subject="CN=a\\b"')[0]?.subject).toBe('CN=a\\b');
  });

  test('several elements, outermost first, with spaces after commas (two headers joined)', () => {
    const els = parseXfcc(`By=spiffe://front;Hash=${HASH};URI=spiffe://a, By=spiffe://edge;Hash=${'AB'.repeat(32)};DNS=x`);
    expect(els).toHaveLength(2);
    expect(els[0]?.by).toEqual(['spiffe://front']);
    expect(els[1]?.hash).toBe('ab'.repeat(32));
    expect(els[1]?.dns).toEqual(['x']);
  });

  test('a quoted value may be empty and a comma inside quotes does not split elements', () => {
    const els = parseXfcc('Subject="";URI="spiffe://a,b"');
    expect(els).toHaveLength(1);
    expect(els[0]?.subject).toBe('');
    expect(els[0]?.uri).toEqual(['spiffe://a,b']);
  });

  test('keys are case-insensitive', () => {
    expect(parseXfcc(`hash=${HASH};uri=spiffe://x`)[0]).toMatchObject({ hash: HASH, uri: ['spiffe://x'] });
  });

  test('the result is frozen', () => {
    const [e] = parseXfcc('URI=spiffe://x');
    expect(Object.isFrozen(e)).toBe(true);
    expect(Object.isFrozen(e?.uri)).toBe(true);
  });
});

describe('parseXfcc: malformed input is an XfccError, never a crash', () => {
  test.each<[string, string, RegExp]>([
    ['empty', '', /empty header/],
    ['blank', '   ', /empty header/],
    ['key without =', 'Hash', /not followed by '='/],
    ['unknown key', 'Foo=bar', /unknown key "Foo"/],
    ['unterminated quote', 'Subject="CN=a', /unterminated/],
    ['escaped quote at the end stays unterminated', 'Subject="CN=a\\"', /unterminated/],
    ['empty pair', 'URI=a;;DNS=b', /expected a key/],
    ['empty element', 'URI=a,,URI=b', /expected a key/],
    ['trailing comma', 'URI=a,', /expected a key, found end/],
    ['trailing semicolon', 'URI=a;', /expected a key, found end/],
    ['leading comma', ',URI=a', /expected a key/],
    ['garbage after a quoted value', 'Subject="a"b', /expected ';' or ','/],
    ['quote inside an unquoted value', 'URI=a"b', /contains "\\""/],
    ['= inside an unquoted value', 'URI=a=b', /contains "="/],
    ['space inside an unquoted value', 'URI=a b', /expected ';' or ','/],
    ['duplicate Hash', `Hash=${HASH};Hash=${HASH}`, /appears twice/],
    ['duplicate Cert', `Cert="${enc(PEM)}";Cert="${enc(PEM)}"`, /appears twice/],
    ['duplicate Subject', 'Subject="a";Subject="b"', /appears twice/],
    ['empty Cert', 'Cert=""', /empty value for Cert/],
    ['empty Hash', 'Hash=', /empty value for Hash/],
    ['Hash not hex', `Hash=${'zz'.repeat(32)}`, /not a hex SHA-256/],
    ['Hash wrong length', 'Hash=abcd', /not a hex SHA-256/],
    ['bad URL encoding', 'Cert="%zz"', /not valid URL encoding/],
    ['bad URL encoding unquoted', 'Cert=%E0%A4%A', /not valid URL encoding/],
    ['NUL smuggled through URL encoding', `Cert="${enc(PEM)}%00"`, /non-PEM character 0x0/],
    ['non-ASCII through URL encoding', 'Chain="%C3%A9"', /non-PEM character/],
    ['raw control character', 'URI=a\u0000b', /control character 0x00/],
    ['raw newline', 'URI=a\nDNS=b', /control character 0x0a/],
    ['DEL', 'URI=a\u007f', /control character 0x7f/],
    ['key with digits', 'Hash2=1', /not followed by '='/],
  ])('%s', (_name, value, message) => {
    expect(malformed(value).message).toMatch(message);
  });

  test('the error carries the offset of the problem', () => {
    expect(malformed('URI=a;Foo=b').offset).toBe(6);
  });

  test('oversized headers are refused before parsing', () => {
    expect(malformed(`URI=${'a'.repeat(70_000)}`).message).toMatch(/limit is 65536/);
  });

  test('element and pair counts are bounded', () => {
    expect(() => parseXfcc(Array.from({ length: 40 }, () => 'URI=a').join(','))).toThrow(/more than 32 elements/);
    expect(() => parseXfcc(Array.from({ length: 70 }, () => 'DNS=a').join(';'))).toThrow(/more than 64 pairs/);
    expect(parseXfcc('URI=a,URI=b', { maxLength: 100, maxElements: 2, maxPairs: 2 })).toHaveLength(2);
    expect(() => parseXfcc('URI=a,URI=b,URI=c', { maxLength: 100, maxElements: 2, maxPairs: 2 })).toThrow(XfccError);
  });

  test('random bytes never escape as anything but XfccError', () => {
    // A cheap fuzz pass over the grammar's alphabet: every outcome is a parse or an XfccError.
    const alphabet = ['Hash=', 'Cert=', 'URI=', 'DNS=', 'By=', 'Subject=', '"', '\\', ';', ',', '=', ' ', 'a', '%', '%41', HASH, '\u0001'];
    let seed = 12345;
    const rand = (k: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % k;
    };
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const len = 1 + rand(12);
      for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
      try {
        const els = parseXfcc(s);
        expect(els.length).toBeGreaterThan(0);
      } catch (err) {
        expect(err).toBeInstanceOf(XfccError);
      }
    }
  });
});

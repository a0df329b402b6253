import 'reflect-metadata';
import { Extension } from '@peculiar/x509';
import { BouncerError } from '../../src/core/errors.js';
import { normalizeSerialHex, parseCrlBundle, verifyCrlSignature } from '../../src/core/crl.js';
import { DAY, NOW, crlNumberExtension, makeCrl, makeIntermediate, makeLeaf, makeRoot, type TestCert, type TestCrl } from '../helpers/pki-fixtures.js';

let root: TestCert;
let inter: TestCert;
let other: TestCert;
let leafA: TestCert;
let leafB: TestCert;
let rootCrl: TestCrl;
let interCrl: TestCrl;
let noNextUpdate: TestCrl;
let forged: TestCrl;
let sha1Crl: TestCrl;

beforeAll(async () => {
  root = await makeRoot('CN=CRL Test Root');
  inter = await makeIntermediate('CN=CRL Test Intermediate', root);
  other = await makeRoot('CN=Unrelated Root');
  leafA = await makeLeaf('CN=a', inter);
  leafB = await makeLeaf('CN=b', inter, { serial: '00ff10' });
  rootCrl = await makeCrl({ issuer: root, thisUpdate: NOW - DAY, nextUpdate: NOW + 30 * DAY });
  interCrl = await makeCrl({ issuer: inter, revoked: [leafA.cert, leafB.cert], thisUpdate: NOW - 2 * DAY, nextUpdate: NOW + 5 * DAY });
  noNextUpdate = await makeCrl({ issuer: inter, nextUpdate: null });
  forged = await makeCrl({ issuer: inter, signingKeys: other.keys });
  sha1Crl = await makeCrl({ issuer: inter, hash: 'SHA-1' });
});

function parseError(text: string): BouncerError {
  try {
    parseCrlBundle(text);
  } catch (err) {
    if (err instanceof BouncerError) return err;
    throw err;
  }
  throw new Error('expected parseCrlBundle to throw');
}

describe('parseCrlBundle', () => {
  test('parses one CRL with its fields', () => {
    const [crl, ...rest] = parseCrlBundle(interCrl.pem);
    expect(rest).toHaveLength(0);
    expect(crl).toMatchObject({
      issuer: inter.cert.subject,
      thisUpdate: NOW - 2 * DAY,
      nextUpdate: NOW + 5 * DAY,
      signatureOid: '1.2.840.10045.4.3.2',
    });
    expect(Buffer.isBuffer(crl?.der)).toBe(true);
    // Serials are normalised exactly like ParsedCert.serial, so they compare as strings.
    expect([...(crl?.revokedSerials ?? [])].sort()).toEqual([leafA.cert.serial, leafB.cert.serial].sort());
    // 00ff10 was asked for; the sign octet is not part of the serial on either side.
    expect(leafB.cert.serial).toBe('ff10');
    expect(crl?.revokedSerials.has('ff10')).toBe(true);
  });

  test('accepts one DER CRL given as bytes, but not text that merely starts with "0"', () => {
    const der = interCrl.crl.der;
    expect(parseCrlBundle(der)[0]?.issuer).toBe(inter.cert.subject);
    expect(parseError('0 is not DER').code).toBe('ERR_CRL_PARSE');
    expect(() => parseCrlBundle(Buffer.from('hello'))).toThrow(BouncerError);
  });

  test('parses several CRLs with text around them, in order', () => {
    const bundle = `# tenant CRLs\n${rootCrl.pem}\nsome comment\n${interCrl.pem}${noNextUpdate.pem}`;
    const crls = parseCrlBundle(bundle);
    expect(crls.map((c) => c.issuer)).toEqual([root.cert.subject, inter.cert.subject, inter.cert.subject]);
    expect(crls[0]?.revokedSerials.size).toBe(0);
    expect(crls[2]?.nextUpdate).toBeUndefined();
  });

  test('accepts the plain "CRL" PEM label as well', () => {
    const pem = interCrl.pem.replace(/X509 CRL/g, 'CRL');
    expect(parseCrlBundle(pem)[0]?.issuer).toBe(inter.cert.subject);
  });

  const badInputs: Array<[string, () => string, RegExp]> = [
    ['empty text', () => '', /no PEM "X509 CRL" block/],
    ['a certificate instead of a CRL', () => root.pem, /no PEM "X509 CRL" block/],
    ['random text', () => 'hello world', /no PEM "X509 CRL" block/],
    ['invalid base64', () => '-----BEGIN X509 CRL-----\n@@@@\n-----END X509 CRL-----\n', /CRL #1: PEM block is not valid base64/],
    ['empty block', () => '-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n', /not valid base64/],
    ['valid base64, not DER', () => '-----BEGIN X509 CRL-----\naGVsbG8gd29ybGQ=\n-----END X509 CRL-----\n', /CRL #1: not a valid X.509 CRL/],
  ];
  test.each(badInputs)('%s -> ERR_CRL_PARSE', (_name, input, message) => {
    const err = parseError(input());
    expect(err.code).toBe('ERR_CRL_PARSE');
    expect(err.message).toMatch(message);
  });

  test('a certificate disguised as a CRL block -> ERR_CRL_PARSE naming the block', () => {
    const disguised = root.pem.replace(/CERTIFICATE/g, 'X509 CRL');
    const err = parseError(`${interCrl.pem}${disguised}`);
    expect(err.code).toBe('ERR_CRL_PARSE');
    expect(err.message).toMatch(/^CRL #2: not a valid X.509 CRL/);
  });

  test('truncated DER -> ERR_CRL_PARSE', () => {
    const der = parseCrlBundle(interCrl.pem)[0]?.der ?? Buffer.alloc(0);
    const cut = der.subarray(0, der.length - 20).toString('base64');
    expect(parseError(`-----BEGIN X509 CRL-----\n${cut}\n-----END X509 CRL-----\n`).code).toBe('ERR_CRL_PARSE');
  });

  test('delta CRLs are refused', async () => {
    const delta = new Extension('2.5.29.27', true, new Uint8Array([0x02, 0x01, 0x05]));
    const err = await makeCrl({ issuer: inter, extensions: [delta] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BouncerError);
    expect((err as BouncerError).code).toBe('ERR_CRL_PARSE');
    expect((err as BouncerError).message).toMatch(/delta CRLs are not supported/);
  });

  test('issuingDistributionPoint: its scope is read; an indirect CRL is refused', async () => {
    // IssuingDistributionPoint ::= SEQUENCE { onlyContainsUserCerts [1] IMPLICIT BOOLEAN TRUE }
    const userOnly = new Extension('2.5.29.28', true, new Uint8Array([0x30, 0x03, 0x81, 0x01, 0xff]));
    await expect(makeCrl({ issuer: inter, extensions: [userOnly] })).resolves.toMatchObject({ crl: { onlyUserCerts: true, onlyCaCerts: false, onlySomeReasons: undefined } });
    // onlySomeReasons [3] BIT STRING {keyCompromise(1), cACompromise(2)}: one byte, 5 unused bits.
    const someReasons = new Extension('2.5.29.28', true, new Uint8Array([0x30, 0x04, 0x83, 0x02, 0x05, 0x60]));
    await expect(makeCrl({ issuer: inter, extensions: [someReasons] })).resolves.toMatchObject({ crl: { onlySomeReasons: 0b110 } });
    const indirect = new Extension('2.5.29.28', true, new Uint8Array([0x30, 0x03, 0x84, 0x01, 0xff]));
    await expect(makeCrl({ issuer: inter, extensions: [indirect] })).rejects.toMatchObject({ code: 'ERR_CRL_PARSE', message: expect.stringMatching(/indirect/) });
    // An empty IDP sequence keeps the CRL complete.
    const plain = new Extension('2.5.29.28', true, new Uint8Array([0x30, 0x00]));
    await expect(makeCrl({ issuer: inter, extensions: [plain] })).resolves.toMatchObject({ crl: { issuer: inter.cert.subject, distributionPointKeys: undefined, onlyUserCerts: false } });
  });

  test('unknown critical CRL extensions are refused, non-critical ones ignored', async () => {
    const unknown = (critical: boolean): Extension => new Extension('1.3.6.1.4.1.55555.2', critical, new Uint8Array([0x05, 0x00]));
    await expect(makeCrl({ issuer: inter, extensions: [unknown(true)] })).rejects.toMatchObject({
      code: 'ERR_CRL_PARSE',
      message: expect.stringMatching(/unsupported critical CRL extension 1\.3\.6\.1\.4\.1\.55555\.2/),
    });
    await expect(makeCrl({ issuer: inter, extensions: [unknown(false)] })).resolves.toBeDefined();
  });

  test('cRLNumber is required, non-critical and single (RFC 5280 §5.2.3)', async () => {
    await expect(makeCrl({ issuer: inter, crlNumber: null })).rejects.toMatchObject({ code: 'ERR_CRL_PARSE', message: expect.stringMatching(/no cRLNumber/) });
    await expect(makeCrl({ issuer: inter, crlNumber: null, extensions: [crlNumberExtension(3, true)] })).rejects.toMatchObject({
      code: 'ERR_CRL_PARSE',
      message: expect.stringMatching(/cRLNumber critical/),
    });
    await expect(makeCrl({ issuer: inter, extensions: [crlNumberExtension(4)] })).rejects.toMatchObject({ code: 'ERR_CRL_PARSE', message: expect.stringMatching(/more than once/) });
    await expect(makeCrl({ issuer: inter, crlNumber: 300 })).resolves.toMatchObject({ crl: { crlNumber: '300' } });
  });

  test('a CRL without nextUpdate keeps its revoked entries (the ASN.1 library drops them)', async () => {
    const crl = await makeCrl({ issuer: inter, nextUpdate: null, revoked: [leafA.cert] });
    expect(crl.crl.nextUpdate).toBeUndefined();
    expect(crl.crl.revokedSerialKeys.has(leafA.cert.serialKey)).toBe(true);
  });
});

describe('normalizeSerialHex', () => {
  test.each([
    ['ff10', 'ff10'],
    ['00FF10', 'ff10'],
    ['0000000a', '0a'],
    ['00', '00'],
    ['0000', '00'],
    ['7f', '7f'],
  ])('%s -> %s', (input, expected) => {
    expect(normalizeSerialHex(input)).toBe(expected);
  });
});

describe('verifyCrlSignature', () => {
  test('true for the issuing CA', () => {
    expect(verifyCrlSignature(interCrl.crl, inter.cert)).toBe(true);
    expect(verifyCrlSignature(rootCrl.crl, root.cert)).toBe(true);
    expect(verifyCrlSignature(noNextUpdate.crl, inter.cert)).toBe(true);
  });

  test('false for another CA (name mismatch)', () => {
    expect(verifyCrlSignature(interCrl.crl, root.cert)).toBe(false);
  });

  test('false when signed by another key under the right name', () => {
    expect(verifyCrlSignature(forged.crl, inter.cert)).toBe(false);
  });

  test('false for a same-named CA with another key', async () => {
    const lookAlike = await makeRoot(inter.cert.subject);
    expect(verifyCrlSignature(interCrl.crl, lookAlike.cert)).toBe(false);
  });

  test('weak algorithms still verify; judging strength is the path check', () => {
    expect(sha1Crl.crl.signatureOid).toBe('1.2.840.10045.4.1');
    expect(verifyCrlSignature(sha1Crl.crl, inter.cert)).toBe(true);
  });

  test('false when the signed bytes were altered', () => {
    const der = Buffer.from(interCrl.crl.der);
    // Flip a byte inside the issuer name, well within tbsCertList.
    const at = der.indexOf(Buffer.from('CRL Test Intermediate'));
    expect(at).toBeGreaterThan(0);
    der[at] = (der[at] ?? 0) ^ 0x01;
    expect(verifyCrlSignature({ ...interCrl.crl, der }, inter.cert)).toBe(false);
  });

  test('never throws on nonsense', () => {
    expect(verifyCrlSignature({ ...interCrl.crl, der: Buffer.from('nope') }, inter.cert)).toBe(false);
    expect(verifyCrlSignature(interCrl.crl, { ...inter.cert, publicKey: null } as unknown as TestCert['cert'])).toBe(false);
  });
});

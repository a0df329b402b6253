import 'reflect-metadata';
import { SubjectAlternativeNameExtension, Extension, KeyUsageFlags } from '@peculiar/x509';
import { KeyObject, sign } from 'node:crypto';
import { children, readTlv } from '../../src/core/der.js';
import { isFastParsed, parseCertificateDer, parseCertificateDerComplete, splitPemCertificates, verifySignedBy, type ParsedCert } from '../../src/core/cert-parse.js';
import { createChainFixtures, makeCert, makeLeaf, makeRoot, type ChainFixtures, type TestCert } from '../helpers/pki-fixtures.js';

// parseCertificateDer reads usual certificates with a small DER walker and
// falls back to @peculiar/x509 + node's X509Certificate for anything else. Both
// must agree on every field bouncer uses, and on every signature.

let f: ChainFixtures;
const extra: Record<string, TestCert> = {};

beforeAll(async () => {
  f = await createChainFixtures();
  const root = f.root;
  extra.specials = await makeLeaf('CN=Doe\\, John+OU=R&D, O=a\\"b\\;c<d>\\\\e, L=\\ lead, ST=trail\\ , C=US', root);
  extra.hashLead = await makeLeaf('CN=\\#hash, O=x', root);
  extra.multiRdnAndOids = await makeLeaf('CN=a+CN=b, 2.5.4.5=SN123, DC=example, DC=com, E=ops@example.com, G=Ann, SN=Lee, T=Dr, I=A', root);
  extra.unicode = await makeLeaf('CN=Zoë Ünder, O=Ümlaut GmbH', root);
  extra.sans = await makeLeaf('CN=sans', root, {
    extraExtensions: [
      new SubjectAlternativeNameExtension([
        { type: 'dns', value: 'a.example' },
        { type: 'dns', value: '*.b.example' },
        { type: 'url', value: 'spiffe://acme/device/1' },
        { type: 'email', value: 'dev@example.com' },
      ]),
    ],
  });
  extra.ipv4San = await makeLeaf('CN=ipv4', root, { extraExtensions: [new SubjectAlternativeNameExtension([{ type: 'ip', value: '192.0.2.7' }, { type: 'dns', value: 'x' }])] });
  extra.ipSan = await makeLeaf('CN=ip', root, {
    extraExtensions: [new SubjectAlternativeNameExtension([{ type: 'ip', value: '192.0.2.7' }, { type: 'ip', value: '2001:db8::1' }, { type: 'dns', value: 'x' }])],
  });
  extra.allUsages = await makeLeaf('CN=usages', root, {
    keyUsage: KeyUsageFlags.digitalSignature | KeyUsageFlags.nonRepudiation | KeyUsageFlags.keyAgreement | KeyUsageFlags.encipherOnly | KeyUsageFlags.decipherOnly,
  });
  extra.pathLen5 = await makeRoot('CN=pathlen five', { pathLen: 5 });
  extra.rsaLeaf = await makeLeaf('CN=rsa leaf', f.rsaRoot, { keyKind: 'rsa2048' });
  extra.bigSerial = await makeLeaf('CN=serial', root, { serial: 'ff00112233445566778899aabbccddeeff' });
  extra.smallSerial = await makeLeaf('CN=serial small', root, { serial: '01' });
  extra.oldDate = await makeLeaf('CN=gen time', root, { notAfter: Date.UTC(2051, 0, 1) });
  extra.criticalUnknown = await makeLeaf('CN=crit', root, { extraExtensions: [new Extension('1.3.6.1.4.1.55555.7', true, new Uint8Array([0x05, 0x00]))] });
  extra.emptyEku = await makeCert({ subject: 'CN=no eku', issuer: root, eku: [] });
});

/** Every field except the lazily built OpenSSL objects. */
function fields(c: ParsedCert): Record<string, unknown> {
  const { node: _node, publicKey: _key, ...rest } = c;
  return { ...rest, der: c.der.toString('hex'), publicKeyDer: c.publicKey.export({ type: 'spki', format: 'der' }).toString('hex') };
}

function all(): Array<[string, TestCert]> {
  return [...Object.entries(f).filter((e): e is [string, TestCert] => typeof e[1] === 'object' && e[1] !== null && 'cert' in e[1]), ...Object.entries(extra)];
}

test('the fixtures cover both paths', () => {
  const fast = all().filter(([, t]) => isFastParsed(parseCertificateDer(t.cert.der)));
  expect(fast.length).toBeGreaterThan(all().length / 2);
  expect(isFastParsed(parseCertificateDer(extra.unicode!.cert.der))).toBe(false);
  expect(isFastParsed(parseCertificateDer(extra.ipSan!.cert.der))).toBe(false);
  expect(isFastParsed(parseCertificateDer(extra.ipv4San!.cert.der))).toBe(true);
  expect(isFastParsed(parseCertificateDer(extra.sans!.cert.der))).toBe(true);
  expect(isFastParsed(parseCertificateDer(extra.rsaLeaf!.cert.der))).toBe(true);
});

test('every fixture parses to the same fields either way', () => {
  for (const [name, t] of all()) {
    const fast = parseCertificateDer(t.cert.der);
    const complete = parseCertificateDerComplete(t.cert.der);
    expect({ name, ...fields(fast) }).toEqual({ name, ...fields(complete) });
  }
});

test('every signature check agrees with OpenSSL', () => {
  const certs = all().map(([name, t]) => [name, parseCertificateDer(t.cert.der)] as const);
  for (const [name, child] of certs) {
    for (const [issuerName, issuer] of certs) {
      const expected = child.node.verify(issuer.publicKey);
      expect({ child: name, issuer: issuerName, ok: verifySignedBy(child, issuer) }).toEqual({ child: name, issuer: issuerName, ok: expected });
    }
  }
});

test('a signature over a modified tbsCertificate does not verify', () => {
  const der = Buffer.from(f.leafDirect.cert.der);
  // Flip a byte inside the subject name (well inside tbsCertificate).
  const tampered = Buffer.from(der);
  const cn = /CN=([^,]+)/.exec(f.leafDirect.cert.subject)?.[1] ?? '';
  const at = tampered.indexOf(Buffer.from(cn));
  expect(at).toBeGreaterThan(0);
  tampered[at] = (tampered[at] as number) ^ 0x01;
  const t = parseCertificateDer(tampered);
  expect(isFastParsed(t)).toBe(true);
  expect(verifySignedBy(t, f.root.cert)).toBe(false);
  expect(verifySignedBy(parseCertificateDer(der), f.root.cert)).toBe(true);
});

test.each<[string, () => Buffer]>([
  ['empty', () => Buffer.alloc(0)],
  ['not DER', () => Buffer.from('hello world')],
  ['truncated', () => f.leafDirect.cert.der.subarray(0, 100)],
])('malformed input is ERR_CERT_PARSE: %s', (_n, der) => {
  let code: string | undefined;
  try {
    parseCertificateDer(der());
  } catch (err) {
    code = (err as { code?: string }).code;
  }
  expect(code).toBe('ERR_CERT_PARSE');
});

/** DER TLV with a definite length, for hand-built certificates. */
function tlv(tag: number, content: Buffer): Buffer {
  const len = content.length;
  const head = len < 0x80 ? Buffer.from([tag, len]) : len < 0x100 ? Buffer.from([tag, 0x81, len]) : Buffer.from([tag, 0x82, len >> 8, len & 0xff]);
  return Buffer.concat([head, content]);
}

test('a signature whose signed algorithm differs from the outer one is refused, as OpenSSL does', () => {
  const der = f.leafDirect.cert.der;
  const cert = readTlv(der, 0, der.length)!;
  const [tbs, outerAlg] = children(der, cert)!;
  const build = (tbsBytes: Buffer): Buffer => {
    const signature = sign('sha256', tbsBytes, { key: KeyObject.from(f.root.keys.privateKey), dsaEncoding: 'der' });
    return tlv(0x30, Buffer.concat([tbsBytes, der.subarray(outerAlg!.start, outerAlg!.end), tlv(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
  };
  // Re-signed unchanged, it verifies: the construction itself is sound.
  expect(verifySignedBy(parseCertificateDer(build(Buffer.from(der.subarray(tbs!.start, tbs!.end)))), f.root.cert)).toBe(true);
  const tbsBytes = Buffer.from(der.subarray(tbs!.start, tbs!.end));
  // ecdsa-with-SHA256 → ecdsa-with-SHA384 inside tbsCertificate only.
  const at = tbsBytes.indexOf(Buffer.from('2a8648ce3d040302', 'hex'));
  expect(at).toBeGreaterThan(0);
  tbsBytes[at + 7] = 0x03;
  const forged = build(tbsBytes);
  const parsed = parseCertificateDer(forged);
  // The fast parse leaves such a certificate to the complete parse (OpenSSL decides).
  expect(isFastParsed(parsed)).toBe(false);
  expect(parsed.node.verify(f.root.cert.publicKey)).toBe(false);
  expect(verifySignedBy(parsed, f.root.cert)).toBe(false);
});

describe('PEM blocks', () => {
  const b64 = (): string => f.leafDirect.cert.der.toString('base64');
  const block = (body: string): string => `-----BEGIN CERTIFICATE-----${body}-----END CERTIFICATE-----`;

  test('line breaks of any kind, spaces, tabs and Unicode spaces are left out; padding may be missing', () => {
    const lines = b64().match(/.{1,64}/g) ?? [];
    for (const body of [`\n${lines.join('\n')}\n`, `\r\n${lines.join('\r\n')}\r\n`, ` ${lines.join(' \t')}\u00a0`, b64().replace(/=+$/, '')]) {
      expect(splitPemCertificates(`text before\n${block(body)}\ntext after`)).toEqual([f.leafDirect.cert.der]);
    }
  });

  test('a stray character, data after padding or an empty block is refused; a BEGIN without an END is ignored', () => {
    for (const body of [`${b64().slice(0, 100)}!${b64().slice(100)}`, `${b64()}=A`, '\n\n', `${b64().slice(0, 64)}-${b64().slice(64)}`]) {
      expect(() => splitPemCertificates(block(body))).toThrow('PEM certificate block is not valid base64');
    }
    expect(splitPemCertificates(`${block(b64())}\n-----BEGIN CERTIFICATE-----\n${b64()}`)).toEqual([f.leafDirect.cert.der]);
    expect(splitPemCertificates(block(b64()) + block(f.root.cert.der.toString('base64')))).toEqual([f.leafDirect.cert.der, f.root.cert.der]);
  });

  test("a fast-parsed certificate's PEM, made on first use, is the complete parse's", () => {
    const fast = parseCertificateDer(f.leafDirect.cert.der);
    expect(isFastParsed(fast)).toBe(true);
    expect(fast.pem).toBe(parseCertificateDerComplete(f.leafDirect.cert.der).pem);
    expect(splitPemCertificates(fast.pem)).toEqual([f.leafDirect.cert.der]);
  });
});

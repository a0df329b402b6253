/**
 * Which CRLs may speak about a certificate (RFC 5280 §6.3.3): one signed by a
 * key of the issuing CA certified outside the client's path counts only when
 * that certificate has its own validated path to the same trust anchor (§6.3.3
 * (f)); one whose issuingDistributionPoint names a point the certificate does
 * not name says nothing about it (§6.3.3 (b)(2)(i)).
 */
import 'reflect-metadata';
import { KeyUsageFlags } from '@peculiar/x509';
import { verifyClientChain, type ChainOptions } from '../../src/core/cert-path.js';
import type { TrustStore } from '../../src/core/tenant.js';
import { DAY, NOW, makeCert, type CertSpec, makeCrl, makeIntermediate, makeLeaf, makeRoot, type TestCert, type TestCrl } from '../helpers/pki-fixtures.js';
import { gn, rawExtension, tlv } from '../helpers/x509-extensions.js';

const CA_NAME = 'CN=Issuing CA, O=Bouncer Tests';

let root: TestCert;
let otherRoot: TestCert;
/** Issues certificates only: keyCertSign without cRLSign. */
let ca: TestCert;
/** The CA's separate CRL-signing key, certified by the root under the CA's name. */
let crlSigner: TestCert;
let crlSignerOfOtherRoot: TestCert;
let crlSignerWithoutCrlSign: TestCert;
let crlSignerExpired: TestCert;
let goodLeaf: TestCert;
let revokedLeaf: TestCert;

async function signerCert(issuer: TestCert, extra: Partial<CertSpec> = {}): Promise<TestCert> {
  return makeCert({ subject: CA_NAME, issuer, keyUsage: KeyUsageFlags.cRLSign, eku: null, notBefore: NOW - 30 * DAY, notAfter: NOW + 300 * DAY, ...extra });
}

beforeAll(async () => {
  root = await makeRoot('CN=Signer Root, O=Bouncer Tests');
  otherRoot = await makeRoot('CN=Other Root, O=Bouncer Tests');
  ca = await makeIntermediate(CA_NAME, root, { keyUsage: KeyUsageFlags.keyCertSign });
  crlSigner = await signerCert(root);
  crlSignerOfOtherRoot = await signerCert(otherRoot);
  crlSignerWithoutCrlSign = await signerCert(root, { keyUsage: KeyUsageFlags.digitalSignature });
  crlSignerExpired = await signerCert(root, { notBefore: NOW - 300 * DAY, notAfter: NOW - DAY });
  goodLeaf = await makeLeaf('CN=good device', ca);
  revokedLeaf = await makeLeaf('CN=revoked device', ca);
});

function verify(leaf: TestCert, intermediates: readonly TestCert[], crls: readonly TestCrl[], options: ChainOptions = {}, roots = [root]) {
  const trust: TrustStore = { roots: roots.map((r) => r.cert), crls: crls.map((c) => c.crl), staleCrl: 'deny' };
  return verifyClientChain(leaf.cert, intermediates.map((c) => c.cert), trust, NOW, options);
}

describe('a CRL signed by a key certified outside the client path', () => {
  let caCrl: TestCrl;
  let rootCrl: TestCrl;
  beforeAll(async () => {
    caCrl = await makeCrl({ issuer: ca, signingKeys: crlSigner.keys, revoked: [revokedLeaf.cert] });
    rootCrl = await makeCrl({ issuer: root });
  });

  test('counts when the signing certificate has a validated path to the same anchor', () => {
    const options = { requireCrl: true };
    expect(verify(goodLeaf, [ca, crlSigner], [caCrl, rootCrl], options)).toMatchObject({ ok: true });
    expect(verify(revokedLeaf, [ca, crlSigner], [caCrl, rootCrl], options)).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });

  test('does not count without the signing certificate: the CRL is unusable and the path fails', () => {
    expect(verify(revokedLeaf, [ca], [caCrl])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid', detail: expect.stringMatching(/lacks cRLSign/) });
    expect(verify(goodLeaf, [ca], [caCrl])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
  });

  test('does not count when the signing certificate is revoked, expired, lacks cRLSign or leads to another anchor', async () => {
    const signerRevoked = await makeCrl({ issuer: root, revoked: [crlSigner.cert] });
    expect(verify(goodLeaf, [ca, crlSigner], [caCrl, signerRevoked])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
    const byExpired = await makeCrl({ issuer: ca, signingKeys: crlSignerExpired.keys, revoked: [revokedLeaf.cert] });
    expect(verify(goodLeaf, [ca, crlSignerExpired], [byExpired])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
    const byNoCrlSign = await makeCrl({ issuer: ca, signingKeys: crlSignerWithoutCrlSign.keys });
    expect(verify(goodLeaf, [ca, crlSignerWithoutCrlSign], [byNoCrlSign])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
    // Both roots are the tenant's, but the client's path ends at `root`: a signer certified by `otherRoot` is not that CA's.
    const byOther = await makeCrl({ issuer: ca, signingKeys: crlSignerOfOtherRoot.keys });
    expect(verify(goodLeaf, [ca, crlSignerOfOtherRoot], [byOther], {}, [root, otherRoot])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
  });

  test('a revocation on a CRL of another key of the CA is seen even when a CRL of the path key verifies and does not list it', async () => {
    const full = await makeIntermediate(CA_NAME, root);
    const leaf = await makeLeaf('CN=rolled device', full);
    const byPathKey = await makeCrl({ issuer: full });
    const bySeparateKey = await makeCrl({ issuer: full, signingKeys: crlSigner.keys, revoked: [leaf.cert] });
    expect(verify(leaf, [full, crlSigner], [byPathKey])).toMatchObject({ ok: true });
    expect(verify(leaf, [full, crlSigner], [byPathKey, bySeparateKey])).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });

  test("a CA's new key cannot vouch for its own status: its CRLs count only once a CRL of the old key covers it", async () => {
    const oldKey = await makeIntermediate(CA_NAME, root);
    // Self-issued: the CA's new key, certified by its old one (key rollover).
    const newKey = await makeCert({ subject: CA_NAME, issuer: oldKey, ca: true, notBefore: NOW - 10 * DAY, notAfter: NOW + 700 * DAY });
    const leaf = await makeLeaf('CN=device of the old key', oldKey);
    const byNewKey = await makeCrl({ issuer: oldKey, signingKeys: newKey.keys });
    expect(verify(leaf, [oldKey, newKey], [byNewKey])).toMatchObject({ ok: false, reason: 'client_cert_chain_invalid' });
    const byOldKey = await makeCrl({ issuer: oldKey });
    expect(verify(leaf, [oldKey, newKey], [byNewKey, byOldKey])).toMatchObject({ ok: true });
    const newKeyRevoked = await makeCrl({ issuer: oldKey, revoked: [newKey.cert] });
    const listingLeaf = await makeCrl({ issuer: oldKey, signingKeys: newKey.keys, revoked: [leaf.cert] });
    expect(verify(leaf, [oldKey, newKey], [listingLeaf, byOldKey])).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
    // Once the old key revokes the new key, the new key's CRLs no longer count.
    expect(verify(leaf, [oldKey, newKey], [listingLeaf, newKeyRevoked])).toMatchObject({ ok: true });
  });

  test('the verdict lasts no longer than the signing certificate', async () => {
    const shortSigner = await signerCert(root, { notAfter: NOW + 2 * DAY });
    const crl = await makeCrl({ issuer: ca, signingKeys: shortSigner.keys, nextUpdate: NOW + 7 * DAY });
    const result = verify(goodLeaf, [ca, shortSigner], [crl]);
    expect(result).toMatchObject({ ok: true, validUntil: NOW + 2 * DAY });
  });
});

/** issuingDistributionPoint naming one point by its full name. */
function idp(name: Buffer): ReturnType<typeof rawExtension> {
  return rawExtension('2.5.29.28', true, tlv(0x30, tlv(0xa0, tlv(0xa0, name))));
}

/** cRLDistributionPoints with one point named by `pointName` (a DistributionPointName's DER). */
function cdp(pointName: Buffer): ReturnType<typeof rawExtension> {
  return rawExtension('2.5.29.31', false, tlv(0x30, tlv(0x30, tlv(0xa0, pointName))));
}

const fullName = (name: Buffer): Buffer => tlv(0xa0, name);

describe('issuingDistributionPoint scope', () => {
  const A = 'http://crl.example.test/a.crl';
  const B = 'http://crl.example.test/b.crl';
  let issuer: TestCert;
  let crlA: TestCrl;
  let leafA: TestCert;
  let leafB: TestCert;
  let leafNoCdp: TestCert;

  beforeAll(async () => {
    issuer = await makeIntermediate('CN=Partitioned CA, O=Bouncer Tests', root);
    leafA = await makeLeaf('CN=in partition a', issuer, { extraExtensions: [cdp(fullName(gn.uri(A)))] });
    leafB = await makeLeaf('CN=in partition b', issuer, { extraExtensions: [cdp(fullName(gn.uri(B)))] });
    leafNoCdp = await makeLeaf('CN=no distribution point', issuer);
    crlA = await makeCrl({ issuer, extensions: [idp(gn.uri(A))], revoked: [leafA.cert, leafB.cert, leafNoCdp.cert] });
  });

  test('a CRL covers the certificates that name its distribution point', () => {
    expect(verify(leafA, [issuer], [crlA])).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });

  test('it says nothing about others: the tenant rule decides (CRLs optional, or required)', () => {
    for (const leaf of [leafB, leafNoCdp]) {
      expect(verify(leaf, [issuer], [crlA])).toMatchObject({ ok: true });
      expect(verify(leaf, [issuer], [crlA], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_crl_not_in_scope' });
    }
  });

  test('a complete CRL next to a partition CRL covers everyone; a listing on either revokes', async () => {
    const complete = await makeCrl({ issuer });
    const rootCrl = await makeCrl({ issuer: root });
    expect(verify(leafB, [issuer], [crlA, complete, rootCrl], { requireCrl: true })).toMatchObject({ ok: true });
    expect(verify(leafA, [issuer], [crlA, complete, rootCrl], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });

  test('a name relative to the issuer matches the same directory name written in full', async () => {
    // nameRelativeToCRLIssuer [1]: the SET of one RDN, appended to the issuer's name.
    const rdnSet = gn.dn('CN=Part 1').subarray(4);
    const setContent = rdnSet.subarray(2);
    const relative = tlv(0xa1, setContent);
    const leafRelative = await makeLeaf('CN=relative point', issuer, { extraExtensions: [cdp(relative)] });
    const leafOther = await makeLeaf('CN=other point', issuer, { extraExtensions: [cdp(tlv(0xa1, gn.dn('CN=Part 2').subarray(6)))] });
    const crl = await makeCrl({ issuer, extensions: [idp(gn.dn('CN=Partitioned CA, O=Bouncer Tests, CN=Part 1'))], revoked: [leafRelative.cert, leafOther.cert] });
    expect(verify(leafRelative, [issuer], [crl], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
    expect(verify(leafOther, [issuer], [crl], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_crl_not_in_scope' });
  });

  test('a malformed issuingDistributionPoint name is refused at load', async () => {
    await expect(makeCrl({ issuer, extensions: [rawExtension('2.5.29.28', true, tlv(0x30, tlv(0xa0, tlv(0xa0, Buffer.from([0x30, 0x00])))))] })).rejects.toThrow(/issuingDistributionPoint/);
  });

  test('a CRL of CA certificates only, or of user certificates only, covers only those', async () => {
    const caOnly = await makeCrl({ issuer, extensions: [rawExtension('2.5.29.28', true, tlv(0x30, tlv(0x82, [0xff])))], revoked: [leafNoCdp.cert] });
    expect(verify(leafNoCdp, [issuer], [caOnly])).toMatchObject({ ok: true });
    expect(verify(leafNoCdp, [issuer], [caOnly], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_crl_not_in_scope' });
    const userOnly = await makeCrl({ issuer, extensions: [rawExtension('2.5.29.28', true, tlv(0x30, tlv(0x81, [0xff])))], revoked: [leafNoCdp.cert] });
    expect(verify(leafNoCdp, [issuer], [userOnly])).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });

  test('CRLs limited to some reasons say "not revoked" only when together they cover every reason', async () => {
    // onlySomeReasons: keyCompromise and cACompromise (bits 1-2); then the six others (bits 3-8).
    const compromise = rawExtension('2.5.29.28', true, tlv(0x30, tlv(0x83, [0x05, 0x60])));
    const others = rawExtension('2.5.29.28', true, tlv(0x30, tlv(0x83, [0x07, 0x1f, 0x80])));
    const rootCrl = await makeCrl({ issuer: root });
    const a = await makeCrl({ issuer, extensions: [compromise] });
    const b = await makeCrl({ issuer, extensions: [others] });
    expect(verify(leafNoCdp, [issuer], [a, rootCrl], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_crl_not_in_scope', detail: expect.stringMatching(/some revocation reasons/) });
    expect(verify(leafNoCdp, [issuer], [a, b, rootCrl], { requireCrl: true })).toMatchObject({ ok: true });
    const listing = await makeCrl({ issuer, extensions: [others], revoked: [leafNoCdp.cert] });
    expect(verify(leafNoCdp, [issuer], [a, listing, rootCrl], { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_revoked' });
  });
});

import { MAX_CHAIN_DEPTH, verifyClientChain, type ChainResult } from '../../src/core/cert-path.js';
import type { ParsedCert } from '../../src/core/cert-parse.js';
import type { CertFailure } from '../../src/core/reasons.js';
import type { TrustStore } from '../../src/core/tenant.js';
import { DAY, NOW, createChainFixtures, makeCert, makeLeaf, makeRoot, type ChainFixtures, type TestCert, type TestCrl } from '../helpers/pki-fixtures.js';

let f: ChainFixtures;

beforeAll(async () => {
  f = await createChainFixtures();
});

interface Case {
  name: string;
  leaf: (f: ChainFixtures) => TestCert;
  intermediates?: (f: ChainFixtures) => TestCert[];
  roots: (f: ChainFixtures) => TestCert[];
  crls?: (f: ChainFixtures) => TestCrl[];
  staleCrl?: 'deny' | 'use';
  /** Expected outcome: 'ok', or the failure reason. */
  expect: 'ok' | CertFailure;
  /** Expected subjects of the accepted chain, leaf first. */
  chain?: (f: ChainFixtures) => TestCert[];
  /** Pattern the failure detail must match. */
  detail?: RegExp;
}

function run(c: Pick<Case, 'leaf' | 'intermediates' | 'roots' | 'crls' | 'staleCrl'>, nowMs = NOW): ChainResult {
  const trust: TrustStore = {
    roots: c.roots(f).map((t) => t.cert),
    crls: (c.crls?.(f) ?? []).map((t) => t.crl),
    staleCrl: c.staleCrl ?? 'deny',
  };
  return verifyClientChain(c.leaf(f).cert, (c.intermediates?.(f) ?? []).map((t) => t.cert), trust, nowMs);
}

const cases: Case[] = [
  // Paths that must be accepted.
  { name: 'valid leaf issued directly by the root', leaf: (x) => x.leafDirect, roots: (x) => [x.root], expect: 'ok', chain: (x) => [x.leafDirect, x.root] },
  {
    name: 'valid leaf via an intermediate from the presented chain',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    expect: 'ok',
    chain: (x) => [x.leafViaInter, x.inter, x.root],
  },
  {
    name: 'intermediate pinned as the trust anchor',
    leaf: (x) => x.leafViaInter,
    roots: (x) => [x.inter],
    expect: 'ok',
    chain: (x) => [x.leafViaInter, x.inter],
  },
  {
    name: 'presented copy of the root is recognised as the root',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter, x.root],
    roots: (x) => [x.root],
    expect: 'ok',
    chain: (x) => [x.leafViaInter, x.inter, x.root],
  },
  { name: 'RSA-2048 root, SHA-256', leaf: (x) => x.leafOfRsaRoot, roots: (x) => [x.rsaRoot], expect: 'ok' },
  {
    name: 'one of several roots',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.otherRoot, x.rsaRoot, x.root],
    expect: 'ok',
  },
  {
    name: 'decoy intermediate with the same name but another key is skipped',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.interDecoy, x.inter],
    roots: (x) => [x.root, x.otherRoot],
    expect: 'ok',
    chain: (x) => [x.leafViaInter, x.inter, x.root],
  },
  {
    name: 'backtracks from an expired CA copy to its re-issued copy',
    leaf: (x) => x.leafOfRollover,
    intermediates: (x) => [x.rolloverOld, x.rolloverNew],
    roots: (x) => [x.root],
    expect: 'ok',
    chain: (x) => [x.leafOfRollover, x.rolloverNew, x.root],
  },
  {
    name: `path of exactly MAX_CHAIN_DEPTH (${MAX_CHAIN_DEPTH}) certificates`,
    leaf: (x) => x.leafAtMaxDepth,
    intermediates: (x) => x.deep,
    roots: (x) => [x.root],
    expect: 'ok',
  },

  // Trust.
  {
    name: 'missing intermediate',
    leaf: (x) => x.leafViaInter,
    roots: (x) => [x.root],
    expect: 'client_cert_untrusted',
    detail: /no path to a trusted root for issuer CN=Bouncer Test Intermediate/,
  },
  { name: 'leaf of another root', leaf: (x) => x.leafOfOtherRoot, roots: (x) => [x.root], expect: 'client_cert_untrusted', detail: /CN=Other Root/ },
  {
    name: 'chain ending in a root the tenant does not trust',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter, x.root],
    roots: (x) => [x.otherRoot],
    expect: 'client_cert_untrusted',
  },
  {
    name: 'trusted look-alike root (same subject, other key) does not vouch for the real leaf',
    leaf: (x) => x.leafDirect,
    roots: (x) => [x.lookAlikeRoot],
    expect: 'client_cert_untrusted',
    detail: /does not verify/,
  },
  {
    name: 'leaf forged under a look-alike root is refused by the real root',
    leaf: (x) => x.leafOfLookAlike,
    roots: (x) => [x.root],
    expect: 'client_cert_untrusted',
    detail: /does not verify/,
  },
  {
    name: 'forged leaf with the look-alike root presented as an intermediate',
    leaf: (x) => x.leafOfLookAlike,
    intermediates: (x) => [x.lookAlikeRoot],
    roots: (x) => [x.root],
    expect: 'client_cert_untrusted',
    detail: /self-issued certificate CN=Bouncer Test Root, O=Bouncer Tests is not a trusted root/,
  },
  {
    name: 'decoy intermediate alone',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.interDecoy],
    roots: (x) => [x.root],
    expect: 'client_cert_untrusted',
  },
  { name: 'empty trust store', leaf: (x) => x.leafDirect, roots: () => [], expect: 'client_cert_untrusted' },

  // Validity windows.
  { name: 'expired leaf', leaf: (x) => x.leafExpired, roots: (x) => [x.root], expect: 'client_cert_expired', detail: /^leaf CN=expired client expired at 2026-11-22T/ },
  { name: 'not-yet-valid leaf', leaf: (x) => x.leafNotYetValid, roots: (x) => [x.root], expect: 'client_cert_not_yet_valid', detail: /^leaf .* not valid before 2026-11-24T/ },
  {
    name: 'expired intermediate',
    leaf: (x) => x.leafUnderExpiredInter,
    intermediates: (x) => [x.interExpired],
    roots: (x) => [x.root],
    expect: 'client_cert_expired',
    detail: /^intermediate CN=Expired Intermediate expired at /,
  },
  {
    name: 'expired trust anchor',
    leaf: (x) => x.leafUnderExpiredRoot,
    roots: (x) => [x.rootExpired],
    expect: 'client_cert_expired',
    detail: /^trust anchor CN=Expired Root expired at /,
  },
  {
    name: 'only the expired copy of a re-issued CA',
    leaf: (x) => x.leafOfRollover,
    intermediates: (x) => [x.rolloverOld],
    roots: (x) => [x.root],
    expect: 'client_cert_expired',
    detail: /intermediate CN=Rollover CA/,
  },

  // Leaf purpose.
  { name: 'leaf without EKU', leaf: (x) => x.leafNoEku, roots: (x) => [x.root], expect: 'client_cert_bad_eku', detail: /no extendedKeyUsage extension/ },
  { name: 'leaf with serverAuth only', leaf: (x) => x.leafServerAuthOnly, roots: (x) => [x.root], expect: 'client_cert_bad_eku', detail: /lacks clientAuth/ },
  { name: 'leaf with anyExtendedKeyUsage only', leaf: (x) => x.leafAnyEkuOnly, roots: (x) => [x.root], expect: 'client_cert_bad_eku' },
  { name: 'CA certificate as leaf', leaf: (x) => x.leafIsCa, roots: (x) => [x.root], expect: 'client_cert_is_ca' },
  { name: 'leaf equal to the root', leaf: (x) => x.root, roots: (x) => [x.root], expect: 'client_cert_is_ca' },
  { name: 'leaf equal to a pinned intermediate', leaf: (x) => x.inter, intermediates: (x) => [x.inter], roots: (x) => [x.inter], expect: 'client_cert_is_ca' },
  {
    name: 'intermediate presented as the leaf',
    leaf: (x) => x.inter,
    roots: (x) => [x.root],
    expect: 'client_cert_is_ca',
  },
  {
    name: 'leaf key usage without digitalSignature',
    leaf: (x) => x.leafKeyEnciphermentOnly,
    roots: (x) => [x.root],
    expect: 'client_cert_chain_invalid',
    detail: /key usage lacks digitalSignature/,
  },
  {
    name: 'leaf with an unknown critical extension',
    leaf: (x) => x.leafUnknownCriticalExt,
    roots: (x) => [x.root],
    expect: 'client_cert_critical_extension',
    detail: /critical extension 1\.3\.6\.1\.4\.1\.55555\.1/,
  },

  // Issuer constraints.
  {
    name: 'intermediate without the CA flag',
    leaf: (x) => x.leafUnderNotCa,
    intermediates: (x) => [x.interNotCa],
    roots: (x) => [x.root],
    expect: 'client_cert_chain_invalid',
    detail: /intermediate CN=Not A CA is not a CA/,
  },
  {
    name: 'intermediate missing keyCertSign',
    leaf: (x) => x.leafUnderNoCertSign,
    intermediates: (x) => [x.interNoCertSign],
    roots: (x) => [x.root],
    expect: 'client_cert_chain_invalid',
    detail: /lacks keyCertSign/,
  },
  {
    name: 'pathLen 0 intermediate followed by another intermediate',
    leaf: (x) => x.leafUnderSubInter,
    intermediates: (x) => [x.subInter, x.inter],
    roots: (x) => [x.root],
    expect: 'client_cert_chain_invalid',
    detail: /pathLenConstraint 0 but 1 intermediate/,
  },
  {
    name: 'pathLen 0 intermediate pinned as anchor still applies',
    leaf: (x) => x.leafUnderSubInter,
    intermediates: (x) => [x.subInter],
    roots: (x) => [x.inter],
    expect: 'client_cert_chain_invalid',
    detail: /trust anchor .* pathLenConstraint 0/,
  },
  {
    name: 'intermediate restricted to serverAuth (EKU chaining)',
    leaf: (x) => x.leafUnderServerEkuInter,
    intermediates: (x) => [x.interServerEku],
    roots: (x) => [x.root],
    expect: 'client_cert_bad_eku',
    detail: /intermediate CN=Server Only CA/,
  },
  {
    name: 'trust anchor that is not a CA',
    leaf: (x) => x.leafUnderNotCa,
    roots: (x) => [x.interNotCa],
    expect: 'client_cert_chain_invalid',
    detail: /trust anchor CN=Not A CA is not a CA/,
  },

  // Algorithms.
  { name: 'SHA-1 signed leaf', leaf: (x) => x.leafSha1, roots: (x) => [x.root], expect: 'client_cert_weak_signature', detail: /ecdsa-with-SHA1/ },
  {
    name: 'SHA-1 signed intermediate',
    leaf: (x) => x.leafUnderSha1Inter,
    intermediates: (x) => [x.interSha1],
    roots: (x) => [x.rsaRoot],
    expect: 'client_cert_weak_signature',
    detail: /intermediate CN=SHA1 Intermediate is signed with sha1WithRSAEncryption/,
  },
  {
    name: 'SHA-1 signed intermediate pinned as anchor: its own signature is not relied on',
    leaf: (x) => x.leafUnderSha1Inter,
    roots: (x) => [x.interSha1],
    expect: 'ok',
  },
  { name: 'RSA-1024 leaf key', leaf: (x) => x.leafRsa1024, roots: (x) => [x.root], expect: 'client_cert_weak_key', detail: /1024-bit RSA/ },

  // Path length and loops.
  {
    name: `path longer than MAX_CHAIN_DEPTH (${MAX_CHAIN_DEPTH})`,
    leaf: (x) => x.leafTooDeep,
    intermediates: (x) => x.deep,
    roots: (x) => [x.root],
    expect: 'client_cert_chain_invalid',
    detail: /longer than 8/,
  },
  {
    name: 'two CAs issuing each other (loop) terminate',
    leaf: (x) => x.leafOfLoop,
    intermediates: (x) => [x.loopA, x.loopB],
    roots: (x) => [x.root],
    expect: 'client_cert_untrusted',
  },

  // Revocation.
  {
    name: 'revoked leaf',
    leaf: (x) => x.leafRevoked,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.inter, x.crls.root],
    expect: 'client_cert_revoked',
    detail: /^leaf CN=revoked client \(serial [0-9a-f]+\) is revoked by the CRL of CN=Bouncer Test Intermediate/,
  },
  {
    name: 'unrevoked leaf with CRLs for every issuer',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.inter, x.crls.root],
    expect: 'ok',
  },
  {
    name: 'revoked intermediate (CRL of the root)',
    leaf: (x) => x.leafUnderRevokedInter,
    intermediates: (x) => [x.interRevoked],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.root],
    expect: 'client_cert_revoked',
    detail: /^intermediate CN=Revoked Intermediate/,
  },
  {
    name: 'pinned intermediate: leaf revoked by its CRL',
    leaf: (x) => x.leafRevoked,
    roots: (x) => [x.inter],
    crls: (x) => [x.crls.inter],
    expect: 'client_cert_revoked',
  },
  {
    name: 'issuer without a configured CRL is not revocation-checked',
    leaf: (x) => x.leafRevoked,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.root],
    expect: 'ok',
  },
  {
    name: 'stale CRL with staleCrl=deny',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interStale],
    staleCrl: 'deny',
    expect: 'client_cert_crl_stale',
    detail: /stale: nextUpdate was 2026-11-22T/,
  },
  {
    name: 'stale CRL with staleCrl=use',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interStale],
    staleCrl: 'use',
    expect: 'ok',
  },
  {
    name: 'stale CRL next to a fresh one',
    leaf: (x) => x.leafRevoked,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interStale, x.crls.inter],
    expect: 'client_cert_revoked',
  },
  {
    name: 'CRL whose thisUpdate is in the future, even with staleCrl=use',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interFuture],
    staleCrl: 'use',
    expect: 'client_cert_crl_stale',
    detail: /not valid until/,
  },
  {
    name: 'CRL with a bad signature',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interForged],
    expect: 'client_cert_chain_invalid',
    detail: /^CRL for CN=Bouncer Test Intermediate, O=Bouncer Tests does not verify/,
  },
  {
    name: 'CRL with a bad signature ignored when a genuine one is configured too',
    leaf: (x) => x.leafRevoked,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interForged, x.crls.inter],
    expect: 'client_cert_revoked',
  },
  {
    name: 'SHA-1 signed CRL',
    leaf: (x) => x.leafViaInter,
    intermediates: (x) => [x.inter],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.interSha1],
    expect: 'client_cert_weak_signature',
    detail: /^CRL for .* ecdsa-with-SHA1/,
  },
  {
    name: 'CRL from a CA whose key usage lacks cRLSign',
    leaf: (x) => x.leafUnderNoCrlSign,
    intermediates: (x) => [x.interNoCrlSign],
    roots: (x) => [x.root],
    crls: (x) => [x.crls.noCrlSign],
    expect: 'client_cert_chain_invalid',
    detail: /cRLSign/,
  },
];

describe('verifyClientChain', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = run(c);
    if (c.expect === 'ok') {
      expect(result).toMatchObject({ ok: true });
      if (result.ok && c.chain) {
        expect(result.chain.map((x) => x.subject)).toEqual(c.chain(f).map((t) => t.cert.subject));
        expect(result.chain.map((x) => x.fingerprint256)).toEqual(c.chain(f).map((t) => t.cert.fingerprint256));
      }
    } else {
      expect(result).toMatchObject({ ok: false, reason: c.expect });
      if (!result.ok && c.detail) expect(result.detail).toMatch(c.detail);
    }
  });

  test('validity window boundaries are inclusive', () => {
    const c = { leaf: () => f.leafDirect, roots: () => [f.root] };
    const leaf = f.leafDirect.cert;
    expect(run(c, leaf.notAfter).ok).toBe(true);
    expect(run(c, leaf.notAfter + 1)).toMatchObject({ ok: false, reason: 'client_cert_expired' });
    expect(run(c, leaf.notBefore).ok).toBe(true);
    expect(run(c, leaf.notBefore - 1)).toMatchObject({ ok: false, reason: 'client_cert_not_yet_valid' });
  });

  describe('validUntil', () => {
    test('is the earliest notAfter in the path', () => {
      const result = run({ leaf: () => f.leafViaInter, intermediates: () => [f.inter], roots: () => [f.root] });
      const expected = Math.min(f.leafViaInter.cert.notAfter, f.inter.cert.notAfter, f.root.cert.notAfter);
      expect(result).toEqual({ ok: true, chain: expect.any(Array), validUntil: expected });
      expect(expected).toBe(f.leafViaInter.cert.notAfter);
    });

    test('is capped by the nextUpdate of the CRLs relied on when staleCrl is deny', () => {
      const result = run({ leaf: () => f.leafViaInter, intermediates: () => [f.inter], roots: () => [f.root], crls: () => [f.crls.root, f.crls.inter] });
      expect(f.crls.inter.crl.nextUpdate).toBe(NOW + 7 * DAY);
      expect(result).toMatchObject({ ok: true, validUntil: NOW + 7 * DAY });
    });

    test('ignores CRL nextUpdate when staleCrl is use', () => {
      const result = run({
        leaf: () => f.leafViaInter,
        intermediates: () => [f.inter],
        roots: () => [f.root],
        crls: () => [f.crls.inter],
        staleCrl: 'use',
      });
      expect(result).toMatchObject({ ok: true, validUntil: f.leafViaInter.cert.notAfter });
    });

    test('counts an intermediate expiring before the leaf', async () => {
      const shortInter = await makeCert({ subject: 'CN=Short Intermediate', issuer: f.root, ca: true, notBefore: NOW - DAY, notAfter: NOW + 3 * DAY });
      const leaf = await makeLeaf('CN=client of short intermediate', shortInter);
      const result = run({ leaf: () => leaf, intermediates: () => [shortInter], roots: () => [f.root] });
      expect(result).toMatchObject({ ok: true, validUntil: shortInter.cert.notAfter });
    });
  });

  describe('robustness', () => {
    test('unrelated and malformed certificates among the intermediates do not break a valid path', () => {
      const garbage = [
        f.leafOfOtherRoot.cert,
        f.otherRoot.cert,
        // Claims the intermediate's name but has no usable key or signature machinery.
        { ...f.inter.cert, fingerprint256: 'f'.repeat(64), node: null, publicKey: null } as unknown as ParsedCert,
        {} as ParsedCert,
      ];
      const trust: TrustStore = { roots: [f.root.cert], crls: [], staleCrl: 'deny' };
      const result = verifyClientChain(f.leafViaInter.cert, [...garbage, f.inter.cert], trust, NOW);
      expect(result).toMatchObject({ ok: true });
    });

    test('a broken leaf object is reported, not thrown', () => {
      const trust: TrustStore = { roots: [f.root.cert], crls: [], staleCrl: 'deny' };
      const broken = { ...f.leafDirect.cert, node: null } as unknown as ParsedCert;
      expect(() => verifyClientChain(broken, [], trust, NOW)).not.toThrow();
      expect(verifyClientChain(broken, [], trust, NOW)).toMatchObject({ ok: false, reason: 'client_cert_untrusted' });
      const empty = {} as ParsedCert;
      expect(verifyClientChain(empty, [], trust, NOW)).toMatchObject({ ok: false });
    });

    test('an unexpected exception becomes client_cert_chain_invalid', () => {
      const trust = {
        get roots(): never {
          throw new Error('boom');
        },
        crls: [],
        staleCrl: 'deny',
      } as unknown as TrustStore;
      expect(verifyClientChain(f.leafDirect.cert, [], trust, NOW)).toEqual({
        ok: false,
        reason: 'client_cert_chain_invalid',
        detail: expect.stringContaining('boom'),
      });
    });

    test('many same-named candidates stay bounded', async () => {
      // Twenty certificates all named like the leaf's issuer, none with its key,
      // plus each other's issuers: the search must give up quickly.
      const decoys: ParsedCert[] = [];
      for (let i = 0; i < 20; i++) decoys.push((await makeRoot(f.inter.cert.subject)).cert);
      const trust: TrustStore = { roots: [f.otherRoot.cert], crls: [], staleCrl: 'deny' };
      // The signature budget bounds the work; the answer is still the right one.
      const result = verifyClientChain(f.leafViaInter.cert, decoys, trust, NOW);
      expect(result).toMatchObject({ ok: false, reason: 'client_cert_untrusted' });
    });

    test('a self-signed leaf that is not a root is untrusted', async () => {
      const selfSigned = await makeCert({ subject: 'CN=self signed client' });
      const trust: TrustStore = { roots: [f.root.cert], crls: [], staleCrl: 'deny' };
      expect(verifyClientChain(selfSigned.cert, [selfSigned.cert], trust, NOW)).toMatchObject({ ok: false, reason: 'client_cert_untrusted' });
    });
  });
});

describe('verifier options', () => {
  test('allowLeafWithoutEku accepts a leaf without EKU, never one whose EKU lacks clientAuth', () => {
    const trust: TrustStore = { roots: [f.root.cert], crls: [], staleCrl: 'deny' };
    expect(verifyClientChain(f.leafNoEku.cert, [], trust, NOW)).toMatchObject({ ok: false, reason: 'client_cert_bad_eku' });
    expect(verifyClientChain(f.leafNoEku.cert, [], trust, NOW, { allowLeafWithoutEku: true })).toMatchObject({ ok: true });
    expect(verifyClientChain(f.leafServerAuthOnly.cert, [], trust, NOW, { allowLeafWithoutEku: true })).toMatchObject({ ok: false, reason: 'client_cert_bad_eku' });
  });

  test('requireCrl refuses an issuer without a CRL; by default CRLs are optional', () => {
    const trust: TrustStore = { roots: [f.root.cert], crls: [], staleCrl: 'deny' };
    expect(verifyClientChain(f.leafDirect.cert, [], trust, NOW)).toMatchObject({ ok: true });
    expect(verifyClientChain(f.leafDirect.cert, [], trust, NOW, { requireCrl: true })).toMatchObject({ ok: false, reason: 'client_cert_crl_missing' });
  });
});

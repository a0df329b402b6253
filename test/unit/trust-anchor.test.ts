// Trust-anchor usability, the one judgement the config file, the PostgreSQL
// store and the admin API share: each certificate of a tenant's bundle is
// judged alone, with a fixed clock, so one bad root costs that root only.
import 'reflect-metadata';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { KeyUsageFlags } from '@peculiar/x509';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import type { Tenant, TrustStore } from '../../src/core/tenant.js';
import { checkTrustAnchor, parseCaBundle, selectTrustAnchors, trustProblemsAt, trustStatusAt, type TrustProblemCode } from '../../src/core/trust-anchor.js';
import { DAY, NOW, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';

const RULES = { nowMs: NOW, minRsaBits: 2048 };

let good: TestCert;
let second: TestCert;
let expired: TestCert;
let future: TestCert;
let leaf: TestCert;
let noSign: TestCert;
let weak: TestCert;

beforeAll(async () => {
  [good, second, expired, future, noSign, weak] = await Promise.all([
    makeRoot('CN=Good Root'),
    makeRoot('CN=New Root'),
    makeRoot('CN=Old Root', { notBefore: NOW - 800 * DAY, notAfter: NOW - DAY }),
    makeRoot('CN=Future Root', { notBefore: NOW + DAY, notAfter: NOW + 800 * DAY }),
    makeRoot('CN=No Sign Root', { keyUsage: KeyUsageFlags.digitalSignature }),
    makeRoot('CN=Weak Root', { keyKind: 'rsa1024' }),
  ]);
  leaf = await makeLeaf('CN=device', good);
});

describe('checkTrustAnchor', () => {
  const cases: Array<[string, () => TestCert, TrustProblemCode | undefined, RegExp | undefined]> = [
    ['a valid root', () => good, undefined, undefined],
    ['an expired root', () => expired, 'ca_expired', /^certificate "CN=Old Root" expired on 2026-11-22T12:00:00Z$/],
    ['a root not yet valid', () => future, 'ca_not_yet_valid', /^certificate "CN=Future Root" is not valid until 2026-11-24T12:00:00Z$/],
    ['a client certificate (not a CA)', () => leaf, 'ca_not_a_ca', /"CN=device" is not a CA certificate \(basicConstraints cA is absent or false\)/],
    ['a CA whose keyUsage lacks keyCertSign', () => noSign, 'ca_no_key_cert_sign', /without keyCertSign/],
    ['a CA with a 1024-bit RSA key', () => weak, 'ca_weak_key', /1024-bit RSA key; at least 2048 bits/],
  ];
  it.each(cases)('%s', (_label, cert, code, message) => {
    const problem = checkTrustAnchor(cert().cert, RULES);
    if (code === undefined) {
      expect(problem).toBeUndefined();
      return;
    }
    expect(problem).toMatchObject({ code, subject: cert().cert.subject });
    expect(problem?.message).toMatch(message as RegExp);
  });

  it('judges validity at the clock it is given, notAfter inclusive', () => {
    expect(checkTrustAnchor(expired.cert, { ...RULES, nowMs: expired.cert.notAfter })).toBeUndefined();
    expect(checkTrustAnchor(expired.cert, { ...RULES, nowMs: expired.cert.notAfter + 1 })?.code).toBe('ca_expired');
    expect(checkTrustAnchor(future.cert, { ...RULES, nowMs: future.cert.notBefore })).toBeUndefined();
  });
});

describe('parseCaBundle', () => {
  it('parses block by block: a damaged block costs that block only, a repeat is kept once', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    const bundle = parseCaBundle(`# rotation bundle\n${good.pem}${broken}${second.pem}${good.pem}`);
    expect(bundle.certs.map((c) => c.subject)).toEqual(['CN=Good Root', 'CN=New Root']);
    expect(bundle.problems).toEqual([{ code: 'ca_unparsable', message: expect.stringMatching(/^certificate block 2 of 4 does not parse: /) }]);
  });

  it('says so when there is no certificate at all', () => {
    expect(parseCaBundle('hello')).toEqual({ certs: [], problems: [{ code: 'ca_no_certificate', message: expect.stringContaining('no certificate') }] });
    expect(parseCaBundle('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----').problems[0]?.code).toBe('ca_unparsable');
  });
});

describe('selectTrustAnchors and the tenant status', () => {
  it('a rotation bundle with an expired old root keeps working on its valid root: degraded, not unusable', () => {
    const { usable, problems } = selectTrustAnchors([expired.cert, good.cert], RULES);
    expect(usable.map((c) => c.subject)).toEqual(['CN=Good Root']);
    expect(problems.map((p) => p.code)).toEqual(['ca_expired']);
    const trust: TrustStore = { roots: usable, crls: [], staleCrl: 'deny', problems };
    expect(trustStatusAt(trust, NOW)).toBe('degraded');
    expect(trustProblemsAt(trust, NOW).map((p) => p.code)).toEqual(['ca_expired']);
  });

  it('a bundle of unusable certificates leaves no root: unusable', () => {
    const { usable, problems } = selectTrustAnchors([expired.cert, future.cert, leaf.cert, noSign.cert], RULES);
    expect(usable).toEqual([]);
    expect(problems.map((p) => p.code)).toEqual(['ca_expired', 'ca_not_yet_valid', 'ca_not_a_ca', 'ca_no_key_cert_sign']);
    expect(trustStatusAt({ roots: usable, crls: [], staleCrl: 'deny', problems }, NOW)).toBe('unusable');
  });

  it('all good is ok; mode off (no trust store) is ok', () => {
    expect(trustStatusAt({ roots: [good.cert, second.cert], crls: [], staleCrl: 'deny' }, NOW)).toBe('ok');
    expect(trustStatusAt(null, NOW)).toBe('ok');
  });

  it('a root that expires while running turns the status at that clock, with the reason', () => {
    const trust: TrustStore = { roots: [expired.cert], crls: [], staleCrl: 'deny' };
    expect(trustStatusAt(trust, expired.cert.notAfter)).toBe('ok');
    expect(trustStatusAt(trust, NOW)).toBe('unusable');
    expect(trustProblemsAt(trust, NOW)).toEqual([{ code: 'ca_expired', subject: 'CN=Old Root', message: expect.stringContaining('expired on') }]);
  });
});

describe('a tenant with no usable root', () => {
  const tenantWith = (trust: TrustStore): Tenant => ({ name: 'acme', hostnames: ['pay.acme.test'], mtls: { mode: 'require', trust, exemptPaths: [] } });
  const verifier = (): ReturnType<typeof createCertVerifier> => createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });

  it('denies its devices tenant_trust_unusable, naming why', () => {
    const verdict = verifier().verify(tenantWith({ roots: [], crls: [], staleCrl: 'deny', problems: [{ code: 'ca_expired', message: 'CA file /etc/acme.pem: certificate "CN=Old Root" expired on 2026-11-22T12:00:00Z' }] }), { leafPem: leaf.pem, chainPem: undefined }, NOW);
    expect(verdict).toMatchObject({ ok: false, reason: 'tenant_trust_unusable', detail: expect.stringContaining('tenant acme has no usable CA certificate: CA file /etc/acme.pem: certificate "CN=Old Root" expired') });
  });

  it('denies tenant_trust_unusable once its only root has expired while running', async () => {
    const shortLived = await makeRoot('CN=Short Root', { notBefore: NOW - 10 * DAY, notAfter: NOW + DAY });
    const device = await makeLeaf('CN=device2', shortLived, { notAfter: NOW + DAY });
    const tenant = tenantWith({ roots: [shortLived.cert], crls: [], staleCrl: 'deny' });
    expect(verifier().verify(tenant, { leafPem: device.pem, chainPem: undefined }, NOW)).toMatchObject({ ok: true });
    expect(verifier().verify(tenant, { leafPem: device.pem, chainPem: undefined }, NOW + 2 * DAY)).toMatchObject({
      ok: false,
      reason: 'tenant_trust_unusable',
      detail: expect.stringMatching(/certificate "CN=Short Root" expired on/),
    });
  });
});

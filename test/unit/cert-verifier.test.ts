import { createCertVerifier, type CertReading, type RawCertFields } from '../../src/core/cert-verifier.js';
import type { CheckInput } from '../../src/core/decision.js';
import { evaluate, type EvaluateContext } from '../../src/core/evaluate.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import type { Tenant } from '../../src/core/tenant.js';
import { DAY, NOW, makeIntermediate, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';

// The request path of the verifier remembers what a request's raw certificate
// fields (peer certificate + XFCC) say, keyed by a digest of exactly those
// fields and the XFCC options, and keeps recent fields whole to find them again
// by a short fingerprint plus an exact comparison. These tests hold the memo to being invisible:
// every decision is the same on the first and on the remembered evaluation.

let root: TestCert;
let inter: TestCert;
let leaf: TestCert;
let other: TestCert;
let acme: Tenant;
let globex: Tenant;

beforeAll(async () => {
  root = await makeRoot('CN=memo root');
  inter = await makeIntermediate('CN=memo devices', root, { pathLen: 0 });
  leaf = await makeLeaf('CN=memo device', inter, { notAfter: NOW + 2 * DAY });
  const otherRoot = await makeRoot('CN=other root');
  other = await makeLeaf('CN=other device', otherRoot);
  acme = { name: 'acme', hostnames: ['pay.acme.example'], mtls: { mode: 'require', trust: { roots: [root.cert], crls: [], staleCrl: 'deny' }, exemptPaths: [] } };
  globex = { name: 'globex', hostnames: ['pay.globex.example'], mtls: { mode: 'require', trust: { roots: [otherRoot.cert], crls: [], staleCrl: 'deny' }, exemptPaths: [] } };
});

const enc = encodeURIComponent;
const xfccFor = (pem: string, chain?: string): string => `Hash=${'cd'.repeat(32)};Cert="${enc(pem)}"${chain ? `;Chain="${enc(chain)}"` : ''};Subject="CN=x";URI=`;

function ctx(verifier: EvaluateContext['verifier'], xfcc = { trustedHop: false, maxElements: 1 }, nowMs = NOW): EvaluateContext {
  return { tenants: buildTenantIndex([acme, globex]), verifier, xfcc, nowMs };
}

function input(over: Partial<CheckInput>): CheckInput {
  return { requestId: 'r', authority: 'pay.acme.example', sni: 'pay.acme.example', method: 'GET', path: '/', peerCertificate: undefined, xfcc: undefined, sourceAddress: '127.0.0.1', ...over };
}

describe('evaluate with the remembering verifier', () => {
  const cases: Array<[string, () => Partial<CheckInput>, { trustedHop: boolean; maxElements: number } | undefined, string]> = [
    ['peer certificate with its chain in XFCC', () => ({ peerCertificate: leaf.pem, xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) }), undefined, 'mtls_verified'],
    ['peer certificate without a chain', () => ({ peerCertificate: leaf.pem }), undefined, 'client_cert_untrusted'],
    ['XFCC naming another certificate', () => ({ peerCertificate: leaf.pem, xfcc: xfccFor(other.pem, other.pem) }), undefined, 'xfcc_mismatch'],
    ['forged XFCC alone, untrusted hop', () => ({ xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) }), undefined, 'xfcc_untrusted'],
    ['XFCC alone, trusted hop', () => ({ xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) }), { trustedHop: true, maxElements: 1 }, 'mtls_verified'],
    ['too many elements', () => ({ peerCertificate: leaf.pem, xfcc: `By=spiffe://a,${xfccFor(leaf.pem)}` }), undefined, 'xfcc_unexpected_elements'],
    ['malformed XFCC', () => ({ peerCertificate: leaf.pem, xfcc: 'Cert="unterminated' }), undefined, 'xfcc_malformed'],
    ['acme device on globex', () => ({ authority: 'pay.globex.example', sni: 'pay.globex.example', peerCertificate: leaf.pem, xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) }), undefined, 'client_cert_untrusted'],
  ];

  test.each(cases)('%s: the same decision first and when remembered', (_name, over, xfcc, reason) => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const first = evaluate(input(over()), ctx(verifier, xfcc));
    const again = evaluate(input(over()), ctx(verifier, xfcc));
    expect(first.reason).toBe(reason);
    expect({ ...again, cacheHit: first.cacheHit }).toEqual(first);
  });

  test('one memo, options changed: an XFCC remembered as untrusted is read again once the hop is trusted', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const req = input({ xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) });
    expect(evaluate(req, ctx(verifier)).reason).toBe('xfcc_untrusted');
    expect(evaluate(req, ctx(verifier, { trustedHop: true, maxElements: 1 })).reason).toBe('mtls_verified');
    expect(evaluate(req, ctx(verifier)).reason).toBe('xfcc_untrusted');
  });

  test('the second evaluation of a verified device is a cache hit', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const req = input({ peerCertificate: leaf.pem, xfcc: xfccFor(leaf.pem, leaf.pem + inter.pem) });
    expect(evaluate(req, ctx(verifier)).cacheHit).toBe(false);
    expect(evaluate(req, ctx(verifier)).cacheHit).toBe(true);
  });
});

describe('verifyRequest', () => {
  const raw = (over: Partial<RawCertFields> = {}): RawCertFields => ({ peerCertificate: leaf.pem, xfcc: 'X', trustedHop: false, maxElements: 1, ...over });

  function counting(reading: () => CertReading): { read: () => CertReading; calls: () => number } {
    let n = 0;
    return {
      read: () => {
        n += 1;
        return reading();
      },
      calls: () => n,
    };
  }

  test('reads fields once, then answers from memory until the verdict expires', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const r = counting(() => ({ kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } }));
    expect(verifier.verifyRequest?.(acme, raw(), NOW, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: false } });
    expect(verifier.verifyRequest?.(acme, raw(), NOW + 1000, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: true } });
    expect(r.calls()).toBe(1);
    // Past the TTL the verdict is recomputed, and the fields are read again for it.
    expect(verifier.verifyRequest?.(acme, raw(), NOW + 61_000, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: false } });
    expect(r.calls()).toBe(2);
  });

  test('any difference in the fields or options is a different entry', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const r = counting(() => ({ kind: 'refused', reason: 'xfcc_malformed', detail: 'bad' }));
    const variants: RawCertFields[] = [
      raw(),
      raw({ xfcc: 'Y' }),
      raw({ xfcc: undefined }),
      raw({ peerCertificate: undefined }),
      raw({ peerCertificate: '' }),
      raw({ trustedHop: true }),
      raw({ maxElements: 2 }),
      // Same concatenation, different split: the length prefixes keep these apart.
      raw({ peerCertificate: `${leaf.pem}X`, xfcc: '' }),
      // The encoded form of the peer certificate is a field of its own.
      raw({ peerCertificate: undefined, peerCertificateEncoded: leaf.pem }),
      raw({ peerCertificate: undefined, peerCertificateEncoded: encodeURIComponent(leaf.pem) }),
      raw({ peerCertificate: '', peerCertificateEncoded: `${leaf.pem}X` }),
      raw({ xfcc: 'Z'.repeat(10_000) }),
      raw({ xfcc: `${'Z'.repeat(10_000)}W` }),
      raw({ xfcc: 'Z'.repeat(10_000), trustedHop: true }),
      raw({ peerCertificate: `${leaf.pem}${'Z'.repeat(10_000)}`, xfcc: '' }),
    ];
    for (const v of variants) expect(verifier.verifyRequest?.(acme, v, NOW, r.read)).toEqual({ kind: 'refused', reason: 'xfcc_malformed', detail: 'bad' });
    expect(r.calls()).toBe(variants.length);
    for (const v of variants) verifier.verifyRequest?.(acme, v, NOW, r.read);
    expect(r.calls()).toBe(variants.length);
  });

  test('fields that differ only in the middle never share an answer', () => {
    // Same lengths and same first and last few hundred characters: the short
    // fingerprint is equal, so only the exact comparison keeps them apart.
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const edge = 'E'.repeat(300);
    const a = raw({ peerCertificate: undefined, peerCertificateEncoded: `${edge}A${edge}`, xfcc: `${edge}1${edge}` });
    const b = raw({ peerCertificate: undefined, peerCertificateEncoded: `${edge}B${edge}`, xfcc: `${edge}1${edge}` });
    const c = raw({ peerCertificate: undefined, peerCertificateEncoded: `${edge}A${edge}`, xfcc: `${edge}2${edge}` });
    const readings: Record<string, CertReading> = {
      A1: { kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } },
      B1: { kind: 'presented', cert: { leafPem: other.pem, chainPem: undefined } },
      A2: { kind: 'refused', reason: 'xfcc_mismatch', detail: 'different' },
    };
    const calls: string[] = [];
    const reader = (k: string) => (): CertReading => {
      calls.push(k);
      return readings[k] as CertReading;
    };
    for (let round = 0; round < 3; round++) {
      // Interleaved, so each one's entry is the latest for the shared fingerprint when the next arrives.
      expect(verifier.verifyRequest?.(acme, a, NOW, reader('A1'))).toMatchObject({ kind: 'verdict', verdict: { ok: true } });
      expect(verifier.verifyRequest?.(acme, b, NOW, reader('B1'))).toMatchObject({ kind: 'verdict', verdict: { ok: false, reason: 'client_cert_untrusted' } });
      expect(verifier.verifyRequest?.(acme, c, NOW, reader('A2'))).toEqual({ kind: 'refused', reason: 'xfcc_mismatch', detail: 'different' });
      // Copies of the same text (not the same string objects) are the same fields.
      expect(verifier.verifyRequest?.(acme, { ...a, xfcc: `${edge}1${edge}`.slice(0) }, NOW, reader('A1'))).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: true } });
    }
    // Each distinct set of fields was read once; later rounds found them by digest or by exact comparison.
    expect(calls).toEqual(['A1', 'B1', 'A2']);
  });

  test('with no room for recent fields, answers stay the same and come from the digest', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000, recentFieldsBudget: 1 });
    const r = counting(() => ({ kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } }));
    for (let i = 0; i < 3; i++) expect(verifier.verifyRequest?.(acme, raw(), NOW + i, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: i > 0 } });
    expect(r.calls()).toBe(1);
  });

  test('a verdict is per tenant even when the fields are remembered', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const read = (): CertReading => ({ kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } });
    expect(verifier.verifyRequest?.(acme, raw(), NOW, read)).toMatchObject({ kind: 'verdict', verdict: { ok: true } });
    expect(verifier.verifyRequest?.(globex, raw(), NOW, read)).toMatchObject({ kind: 'verdict', verdict: { ok: false, reason: 'client_cert_untrusted' } });
    expect(verifier.verifyRequest?.(acme, raw(), NOW, read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: true } });
  });

  test('a device moving between tenants gets each tenant\'s own verdict, every time', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const read = (): CertReading => ({ kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } });
    for (let i = 0; i < 3; i++) {
      expect(verifier.verifyRequest?.(acme, raw(), NOW + i, read)).toMatchObject({ kind: 'verdict', verdict: { ok: true } });
      expect(verifier.verifyRequest?.(globex, raw(), NOW + i, read)).toMatchObject({ kind: 'verdict', verdict: { ok: false, reason: 'client_cert_untrusted' } });
      expect(verifier.verifyRequest?.(acme, raw(), NOW + i, read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: true } });
    }
  });

  test('a recent device keeps its unexpired verdict after the verdict cache dropped it for room, and not past expiry', () => {
    const verifier = createCertVerifier({ maxEntries: 1, ttlMs: 60_000 });
    const r = counting(() => ({ kind: 'presented', cert: { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem } }));
    expect(verifier.verifyRequest?.(acme, raw(), NOW, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: false } });
    // Another certificate takes the verdict cache's only place.
    expect(verifier.verify(acme, { leafPem: other.pem, chainPem: undefined }, NOW)).toMatchObject({ ok: false });
    expect(verifier.verifyRequest?.(acme, raw(), NOW + 1000, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: true } });
    expect(r.calls()).toBe(1);
    expect(verifier.verifyRequest?.(acme, raw(), NOW + 61_000, r.read)).toMatchObject({ kind: 'verdict', verdict: { ok: true, cached: false } });
    expect(r.calls()).toBe(2);
  });

  test('verify and verifyRequest share verdicts for the same certificate', () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const presented = { leafPem: leaf.pem, chainPem: leaf.pem + inter.pem };
    expect(verifier.verify(acme, presented, NOW)).toMatchObject({ ok: true, cached: false });
    expect(verifier.verifyRequest?.(acme, raw(), NOW, () => ({ kind: 'presented', cert: presented }))).toMatchObject({ kind: 'verdict', verdict: { cached: true } });
  });
});

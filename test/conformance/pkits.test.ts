// NIST PKITS, adapted to client authentication, run case by case with the
// expected result PKITS states for its default settings. bouncer's verdict
// must equal it, or the case must be listed in pkits-deviations.ts with the
// verdict bouncer gives and the RFC reason; a listed case that no longer
// deviates fails too, so the list stays exact.
//
// The adaptation: PKITS end-entity certificates carry no extendedKeyUsage, so
// this run passes `allowLeafWithoutEku` (not the production default, where a
// leaf without clientAuth is refused). Each case's CRLs are configured as a
// tenant would configure them; a CRL that bouncer refuses to load makes the
// tenant's configuration fail, which counts as "invalid" (nothing is let in).
import { parseCertificateDer, type ParsedCert } from '../../src/core/cert-parse.js';
import { verifyClientChain } from '../../src/core/cert-path.js';
import { parseCrlBundle, type ParsedCrl } from '../../src/core/crl.js';
import type { TrustStore } from '../../src/core/tenant.js';
import { PKITS_CASES, PKITS_SECTIONS, type PkitsCase } from './pkits-cases.js';
import { ensurePkits, readPkitsCert, readPkitsCrl } from './pkits-data.js';
import { PKITS_DEVIATIONS } from './pkits-deviations.js';

/** Inside every PKITS certificate's and CRL's validity (2010-01-01 to 2030-12-31). */
const AT = Date.UTC(2026, 0, 1);

interface Outcome {
  readonly valid: boolean;
  /** The reason code, or `config:` and the error when the tenant's CRLs would not load. */
  readonly why: string;
}

function run(c: PkitsCase): Outcome {
  let crls: ParsedCrl[];
  try {
    crls = c.crls.flatMap((name) => parseCrlBundle(readPkitsCrl(name)));
  } catch (err) {
    return { valid: false, why: `config: ${(err as Error).message}` };
  }
  let leaf: ParsedCert;
  let intermediates: ParsedCert[];
  try {
    leaf = parseCertificateDer(readPkitsCert(c.ee));
    intermediates = c.intermediates.map((name) => parseCertificateDer(readPkitsCert(name)));
  } catch (err) {
    return { valid: false, why: `client_cert_malformed: ${(err as Error).message}` };
  }
  const trust: TrustStore = { roots: [parseCertificateDer(readPkitsCert('TrustAnchorRootCertificate'))], crls, staleCrl: 'deny' };
  const result = verifyClientChain(leaf, intermediates, trust, AT, { allowLeafWithoutEku: true, requireCrl: true });
  return result.ok ? { valid: true, why: 'mtls_verified' } : { valid: false, why: `${result.reason}: ${result.detail}` };
}

beforeAll(() => ensurePkits(), 600_000);

const outcomes = new Map<string, Outcome>();

describe.each(Object.entries(PKITS_SECTIONS))('PKITS %s %s', (section) => {
  const cases = PKITS_CASES.filter((c) => c.id.startsWith(`${section}.`));
  test.each(cases.map((c) => [c.id, c.ee, c] as const))('%s %s', (_id, _ee, c) => {
    const outcome = run(c);
    outcomes.set(c.id, outcome);
    const deviation = PKITS_DEVIATIONS[c.id];
    const expected = deviation ? deviation.bouncer === 'valid' : c.valid;
    expect({ id: c.id, valid: outcome.valid, why: outcome.why }).toEqual({ id: c.id, valid: expected, why: expect.any(String) });
    if (deviation?.code !== undefined) expect(outcome.why.startsWith(deviation.code)).toBe(true);
  });
});

test('every listed deviation is a PKITS case that bouncer judges differently', () => {
  for (const [id, deviation] of Object.entries(PKITS_DEVIATIONS)) {
    const c = PKITS_CASES.find((k) => k.id === id);
    expect({ id, known: c !== undefined }).toEqual({ id, known: true });
    expect({ id, differs: (deviation.bouncer === 'valid') !== c?.valid }).toEqual({ id, differs: true });
  }
});

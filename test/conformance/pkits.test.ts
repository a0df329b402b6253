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
import { checkCertificatePolicies, DEFAULT_POLICY_INPUTS } from '../../src/core/cert-policy.js';
import { parseCrlBundle, type ParsedCrl } from '../../src/core/crl.js';
import type { TrustStore } from '../../src/core/tenant.js';
import { PKITS_CASES, PKITS_POLICY_VARIANTS, PKITS_SECTIONS, type PkitsCase } from './pkits-cases.js';
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

describe('PKITS policy variants (other relying-party inputs, policy processing alone)', () => {
  test.each(PKITS_POLICY_VARIANTS.map((v) => [v.id, v.name, v] as const))('%s %s', (_id, _name, v) => {
    const path = [v.ee, ...[...v.intermediates].reverse(), 'TrustAnchorRootCertificate'].map((name) => parseCertificateDer(readPkitsCert(name)));
    const failure = checkCertificatePolicies(path, {
      initialPolicySet: v.policySet ?? DEFAULT_POLICY_INPUTS.initialPolicySet,
      initialExplicitPolicy: v.explicit ?? false,
      initialPolicyMappingInhibit: v.inhibitMapping ?? false,
      initialAnyPolicyInhibit: v.inhibitAny ?? false,
    });
    expect({ id: v.id, name: v.name, valid: failure === undefined, why: failure?.detail }).toEqual({ id: v.id, name: v.name, valid: v.valid, why: v.valid ? undefined : expect.any(String) });
    if (failure) expect(failure.reason).toBe('client_cert_policy_mismatch');
  });
});

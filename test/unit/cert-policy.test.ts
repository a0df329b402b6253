/**
 * Certificate policy processing (RFC 5280 §6.1) on generated chains: the
 * tenant's inputs (accepted set, explicit policy, inhibited mapping and
 * anyPolicy), the CAs' and the anchor's constraints, critical policy
 * extensions processed rather than refused, and the bound that refuses a
 * crafted chain whose policy graph would take too much work (the CVE-2023-0464
 * class). Then `mtls.certificate_policies` read from a config file.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyClientChain } from '../../src/core/cert-path.js';
import { ANY_POLICY, DEFAULT_POLICY_INPUTS, MAX_POLICY_GRAPH_WORK, type PolicyInputs } from '../../src/core/cert-policy.js';
import type { TrustStore } from '../../src/core/tenant.js';
import { ConfigError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { NOW, makeIntermediate, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { certificatePolicies as policies, inhibitAnyPolicy as inhibitAny, policyConstraints as constraints, policyMappings as mappings } from '../helpers/x509-extensions.js';

const P1 = '2.16.840.1.101.3.2.1.48.1';
const P2 = '2.16.840.1.101.3.2.1.48.2';
const P3 = '2.16.840.1.101.3.2.1.48.3';

let root: TestCert;
let explicitRoot: TestCert;

beforeAll(async () => {
  root = await makeRoot('CN=Policy Root');
  explicitRoot = await makeRoot('CN=Policy Root Requiring Explicit', { extraExtensions: [constraints({ requireExplicit: 0 })] });
});

function verify(leaf: TestCert, intermediates: readonly TestCert[], policy?: PolicyInputs, anchor: TestCert = root) {
  const trust: TrustStore = { roots: [anchor.cert], crls: [], staleCrl: 'deny', ...(policy ? { policy } : {}) };
  return verifyClientChain(leaf.cert, intermediates.map((c) => c.cert), trust, NOW);
}

const inputs = (o: Partial<PolicyInputs>): PolicyInputs => ({ ...DEFAULT_POLICY_INPUTS, ...o });

describe('policies required by a CA (policyConstraints requireExplicitPolicy)', () => {
  let ca: TestCert;
  beforeAll(async () => {
    ca = await makeIntermediate('CN=P1 CA requiring explicit policy', root, { extraExtensions: [policies([P1], true), constraints({ requireExplicit: 0 })] });
  });

  test('a leaf under the same policy passes, critical policy extensions included', async () => {
    expect(verify(await makeLeaf('CN=p1 device', ca, { extraExtensions: [policies([P1])] }), [ca])).toMatchObject({ ok: true });
  });

  test('a leaf under another policy, or none, is refused', async () => {
    expect(verify(await makeLeaf('CN=p2 device', ca, { extraExtensions: [policies([P2])] }), [ca])).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
    const bare = await makeLeaf('CN=no policy device', ca);
    expect(verify(bare, [ca])).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch', detail: expect.stringMatching(/policyConstraints of intermediate CN=P1 CA/) });
  });
});

describe("the tenant's inputs", () => {
  let ca: TestCert;
  let leafP1: TestCert;
  let bareCa: TestCert;
  let bareLeaf: TestCert;
  beforeAll(async () => {
    ca = await makeIntermediate('CN=P1 P2 CA', root, { extraExtensions: [policies([P1, P2])] });
    leafP1 = await makeLeaf('CN=p1 device', ca, { extraExtensions: [policies([P1])] });
    bareCa = await makeIntermediate('CN=Policy-free CA', root);
    bareLeaf = await makeLeaf('CN=policy-free device', bareCa);
  });

  test('by default nothing is required: a chain without policies passes', () => {
    expect(verify(bareLeaf, [bareCa])).toMatchObject({ ok: true });
  });

  test('explicit policy with an accepted set: the path must be valid for one of them', () => {
    expect(verify(leafP1, [ca], inputs({ initialExplicitPolicy: true, initialPolicySet: [P1] }))).toMatchObject({ ok: true });
    expect(verify(leafP1, [ca], inputs({ initialExplicitPolicy: true, initialPolicySet: [P2, P3] }))).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch', detail: expect.stringMatching(/tenant/) });
    expect(verify(leafP1, [ca], inputs({ initialExplicitPolicy: true }))).toMatchObject({ ok: true });
    expect(verify(bareLeaf, [bareCa], inputs({ initialExplicitPolicy: true }))).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
  });

  test('an accepted set without explicit policy changes nothing unless a CA requires one', () => {
    expect(verify(leafP1, [ca], inputs({ initialPolicySet: [P3] }))).toMatchObject({ ok: true });
  });

  test('policy mappings are followed, unless the tenant inhibits them', async () => {
    const mapping = await makeIntermediate('CN=Mapping CA', root, { extraExtensions: [policies([P1]), mappings([[P1, P2]])] });
    const leaf = await makeLeaf('CN=mapped device', mapping, { extraExtensions: [policies([P2])] });
    expect(verify(leaf, [mapping], inputs({ initialExplicitPolicy: true, initialPolicySet: [P1] }))).toMatchObject({ ok: true });
    // In the issuer's domain P2 does not exist: only P1 was accepted, and it maps to P2.
    expect(verify(leaf, [mapping], inputs({ initialExplicitPolicy: true, initialPolicySet: [P2] }))).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
    expect(verify(leaf, [mapping], inputs({ initialExplicitPolicy: true, initialPolicyMappingInhibit: true }))).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
  });

  test('anyPolicy stands for every policy unless inhibited, by the tenant or by inhibitAnyPolicy', async () => {
    const anyCa = await makeIntermediate('CN=anyPolicy CA', root, { extraExtensions: [policies([ANY_POLICY])] });
    const leaf = await makeLeaf('CN=p1 under any', anyCa, { extraExtensions: [policies([P1])] });
    const explicit = inputs({ initialExplicitPolicy: true, initialPolicySet: [P1] });
    expect(verify(leaf, [anyCa], explicit)).toMatchObject({ ok: true });
    expect(verify(leaf, [anyCa], { ...explicit, initialAnyPolicyInhibit: true })).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
    const inhibiting = await makeIntermediate('CN=anyPolicy CA inhibiting any', root, { extraExtensions: [policies([ANY_POLICY]), inhibitAny(0)] });
    const anyLeaf = await makeLeaf('CN=any under inhibit', inhibiting, { extraExtensions: [policies([ANY_POLICY])] });
    expect(verify(anyLeaf, [inhibiting], inputs({ initialExplicitPolicy: true }))).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch' });
  });

  test("the anchor's policyConstraints count when the anchor is a certificate", async () => {
    const ca2 = await makeIntermediate('CN=Policy-free CA under explicit root', explicitRoot);
    const leaf = await makeLeaf('CN=device under explicit root', ca2);
    expect(verify(leaf, [ca2], undefined, explicitRoot)).toMatchObject({ ok: false, reason: 'client_cert_policy_mismatch', detail: expect.stringMatching(/trust anchor CN=Policy Root Requiring Explicit/) });
    const ca3 = await makeIntermediate('CN=P1 CA under explicit root', explicitRoot, { extraExtensions: [policies([P1])] });
    expect(verify(await makeLeaf('CN=p1 device under explicit root', ca3, { extraExtensions: [policies([P1])] }), [ca3], undefined, explicitRoot)).toMatchObject({ ok: true });
  });

  test('a mapping of anyPolicy and a policy listed twice are refused', async () => {
    const badMap = await makeIntermediate('CN=Maps anyPolicy', root, { extraExtensions: [policies([P1]), mappings([[ANY_POLICY, P1]])] });
    expect(verify(await makeLeaf('CN=d', badMap), [badMap])).toMatchObject({ ok: false, reason: 'client_cert_policy_invalid' });
    const twice = await makeIntermediate('CN=Lists P1 twice', root, { extraExtensions: [policies([P1, P1])] });
    expect(verify(await makeLeaf('CN=e', twice), [twice])).toMatchObject({ ok: false, reason: 'client_cert_extension_malformed' });
  });
});

describe('policy graph explosion', () => {
  // Every CA lists K policies and maps each to all K: in RFC 5280's tree the
  // nodes multiply by K at each level; in the graph the links grow by K*K.
  const K = 24;
  const many = Array.from({ length: K }, (_, i) => `1.3.6.1.4.1.55555.1.${i + 1}`);
  const all: (readonly [string, string])[] = many.flatMap((a) => many.map((b) => [a, b] as const));
  let chain: TestCert[];
  let leaf: TestCert;

  beforeAll(async () => {
    chain = [];
    let issuer = root;
    for (let i = 0; i < 5; i++) {
      const extra = [policies(many), mappings(all), ...(i === 0 ? [constraints({ requireExplicit: 0 })] : [])];
      issuer = await makeIntermediate(`CN=Explosive CA ${i}`, issuer, { extraExtensions: extra });
      chain.push(issuer);
    }
    leaf = await makeLeaf('CN=explosive device', issuer, { extraExtensions: [policies(many)] });
  });

  test(`is refused past ${MAX_POLICY_GRAPH_WORK} steps, with its own reason`, () => {
    expect(verify(leaf, chain)).toMatchObject({ ok: false, reason: 'client_cert_policy_too_complex' });
  });

  test('a smaller graph of the same shape is evaluated (the bound is not a blanket refusal)', async () => {
    const few = many.slice(0, 3);
    const pairs: (readonly [string, string])[] = few.flatMap((a) => few.map((b) => [a, b] as const));
    const small: TestCert[] = [];
    let issuer = root;
    for (let i = 0; i < 5; i++) {
      issuer = await makeIntermediate(`CN=Small CA ${i}`, issuer, { extraExtensions: [policies(few), mappings(pairs), ...(i === 0 ? [constraints({ requireExplicit: 0 })] : [])] });
      small.push(issuer);
    }
    expect(verify(await makeLeaf('CN=small device', issuer, { extraExtensions: [policies(few)] }), small)).toMatchObject({ ok: true });
  });
});

describe('mtls.certificate_policies in the config file', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-policy-config-'));
    writeFileSync(join(dir, 'ca.pem'), root.pem);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const write = (lines: string[]): string => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, `${['tenants:', '  - name: acme', '    hostnames: [acme.test]', '    mtls:', '      mode: require', '      ca: ca.pem', ...lines].join('\n')}\n`);
    return file;
  };

  test('read with defaults filled in; absent means RFC 5280 defaults', async () => {
    const config = await loadConfig(write(['      certificate_policies: { accept: [2.16.840.1.101.3.2.1.48.1, anyPolicy], explicit: true }']), {});
    expect(config.tenants[0]?.mtls.trust?.policy).toEqual({ initialPolicySet: [P1, ANY_POLICY], initialExplicitPolicy: true, initialPolicyMappingInhibit: false, initialAnyPolicyInhibit: false });
    const partial = await loadConfig(write(['      certificate_policies: { inhibit_mapping: true }']), {});
    expect(partial.tenants[0]?.mtls.trust?.policy).toEqual({ ...DEFAULT_POLICY_INPUTS, initialPolicyMappingInhibit: true });
    const none = await loadConfig(write([]), {});
    expect(none.tenants[0]?.mtls.trust?.policy).toBeUndefined();
  });

  test('bad values are reported at their line', async () => {
    const file = write(['      certificate_policies:', '        accept: [1.2.x, 1.02.3]', '        explicit: maybe', '        inhibit: true']);
    const err = (await loadConfig(file, {}).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toMatch(/:8:\d+.*accept\[0\].*policy OID/);
    expect(err.message).toMatch(/accept\[1\].*policy OID/);
    expect(err.message).toMatch(/:9:\d+.*explicit/);
    expect(err.message).toMatch(/:10:\d+.*inhibit/);
  });
});

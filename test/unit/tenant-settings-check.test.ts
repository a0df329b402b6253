/**
 * The tenant stores' checkers of `mtls.certificate_policies` and
 * `mtls.revocation.intermediates` (admin API bodies, PostgreSQL rows): the
 * config file's rules, the same answers as the YAML reader for the same
 * settings, and a clear field and message for every refusal.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANY_POLICY, DEFAULT_POLICY_INPUTS } from '../../src/core/cert-policy.js';
import { ConfigError } from '../../src/core/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { CONFIG_LIMITS } from '../../src/config/defaults.js';
import { checkCertificatePoliciesInput, policiesToInput } from '../../src/stores/tenant-policies.js';
import { checkRevocationInput, revocationToInput } from '../../src/stores/tenant-revocation.js';
import { TenantStoreError } from '../../src/stores/tenant-store.js';
import { checkTenantInput } from '../../src/stores/tenant-input-check.js';
import { createFileTenantStore } from '../../src/stores/file-tenant-store.js';
import { toTenantJson } from '../../src/admin/tenant-json.js';
import { makeRoot, type TestCert } from '../helpers/pki-fixtures.js';

const P1 = '1.3.6.1.4.1.99999.1.1';
const P2 = '1.3.6.1.4.1.99999.1.2';

let root: TestCert;
let dir: string;

beforeAll(async () => {
  root = await makeRoot('CN=Settings Root', { notBefore: Date.now() - 86_400_000, notAfter: Date.now() + 30 * 86_400_000 });
  dir = mkdtempSync(join(tmpdir(), 'bouncer-tenant-settings-'));
  writeFileSync(join(dir, 'ca.pem'), root.pem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loads a one-tenant config file with `lines` under `mtls`. */
async function fileConfig(lines: string[]) {
  const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, `${['tenants:', '  - name: acme', '    hostnames: [acme.test]', '    mtls:', '      mode: require', '      ca: ca.pem', ...lines].join('\n')}\n`);
  return loadConfig(file, {});
}

async function fromFile(lines: string[]) {
  return (await fileConfig(lines)).tenants[0]?.mtls;
}

async function fileRefusal(lines: string[]): Promise<string> {
  const err = await fromFile(lines).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return (err as ConfigError).message;
}

describe('certificate policies', () => {
  it('fills the defaults in, reads anyPolicy as its OID and drops duplicates', () => {
    expect(checkCertificatePoliciesInput({}, 'p')).toEqual({ ok: true, inputs: DEFAULT_POLICY_INPUTS });
    expect(checkCertificatePoliciesInput({ accept: [P1, 'anyPolicy', P1], explicit: true, inhibitAny: true }, 'p')).toEqual({
      ok: true,
      inputs: { initialPolicySet: [P1, ANY_POLICY], initialExplicitPolicy: true, initialPolicyMappingInhibit: false, initialAnyPolicyInhibit: true },
    });
  });

  it('gives the same inputs as the config file for the same settings', async () => {
    const file = await fromFile(['      certificate_policies: { accept: [1.3.6.1.4.1.99999.1.1, anyPolicy, 1.3.6.1.4.1.99999.1.1], explicit: true, inhibit_mapping: true }']);
    const stored = checkCertificatePoliciesInput({ accept: [P1, 'anyPolicy', P1], explicit: true, inhibitMapping: true }, 'p');
    expect(stored.ok && stored.inputs).toEqual(file?.trust?.policy);
    const partial = await fromFile(['      certificate_policies: { inhibit_any: true }']);
    const storedPartial = checkCertificatePoliciesInput({ inhibitAny: true }, 'p');
    expect(storedPartial.ok && storedPartial.inputs).toEqual(partial?.trust?.policy);
  });

  it.each([
    ['not an object', [P1], 'p', /must be an object/],
    ['an unknown key', { accept: [P1], inhibit_any: true }, 'p.inhibit_any', /unknown field; expected one of accept, explicit, inhibitMapping, inhibitAny/],
    ['accept not a list', { accept: P1 }, 'p.accept', /must be a list of policy OIDs/],
    ['an empty accept', { accept: [] }, 'p.accept', /at least one policy/],
    ['too many policies', { accept: Array.from({ length: CONFIG_LIMITS.maxAcceptedPolicies + 1 }, (_, i) => `1.2.${i}`) }, 'p.accept', /lists 65 policies; at most 64 are allowed/],
    ['a non-string OID', { accept: [P1, 7] }, 'p.accept[1]', /must be a string/],
    ['an OID with a leading zero', { accept: ['1.02.3'] }, 'p.accept[0]', /policy OID in dotted form .* \(got '1\.02\.3'\)/],
    ['a first arc over 2', { accept: ['3.1'] }, 'p.accept[0]', /policy OID in dotted form/],
    ['a flag that is not a boolean', { explicit: 'yes' }, 'p.explicit', /must be true or false/],
    ['a null flag', { inhibitMapping: null }, 'p.inhibitMapping', /must be true or false/],
  ])('refuses %s, naming the field', (_what, input, field, message) => {
    const checked = checkCertificatePoliciesInput(input, 'p');
    expect(checked.ok).toBe(false);
    if (checked.ok) return;
    expect(checked.problem.field).toBe(field);
    expect(checked.problem.message).toMatch(message);
  });

  it('refuses what the config file refuses, with the same words', async () => {
    const tooMany = Array.from({ length: CONFIG_LIMITS.maxAcceptedPolicies + 1 }, (_, i) => `1.2.${i}`);
    const stored = checkCertificatePoliciesInput({ accept: tooMany }, 'p');
    expect(await fileRefusal([`      certificate_policies: { accept: [${tooMany.join(', ')}] }`])).toContain(stored.ok ? 'accepted' : stored.problem.message);
    const badOid = checkCertificatePoliciesInput({ accept: ['1.2.x'] }, 'p');
    expect(await fileRefusal(['      certificate_policies: { accept: [1.2.x] }'])).toContain(badOid.ok ? 'accepted' : badOid.problem.message);
  });

  it('writes every field out, and the written form reads back to the same inputs', () => {
    const checked = checkCertificatePoliciesInput({ accept: [P2], explicit: true }, 'p');
    if (!checked.ok) throw new Error(checked.problem.message);
    const written = policiesToInput(checked.inputs);
    expect(written).toEqual({ accept: [P2], explicit: true, inhibitMapping: false, inhibitAny: false });
    expect(checkCertificatePoliciesInput(JSON.parse(JSON.stringify(written)), 'p')).toEqual(checked);
  });

  it('are the trust store policy of a checked tenant, and refused on a tenant with mode off', () => {
    const checked = checkTenantInput({ name: 'acme', hostnames: ['acme.test'], mtls: { caPem: root.pem, certificatePolicies: { accept: [P1], explicit: true } } }, Date.now());
    expect(checked.certificatePolicies).toEqual({ ...DEFAULT_POLICY_INPUTS, initialPolicySet: [P1], initialExplicitPolicy: true });
    expect(checked.tenant.mtls.trust?.policy).toEqual(checked.certificatePolicies);
    const none = checkTenantInput({ name: 'acme', hostnames: ['acme.test'], mtls: { caPem: root.pem, certificatePolicies: null } }, Date.now());
    expect(none.tenant.mtls.trust?.policy).toBeUndefined();
    const bad = (() => {
      try {
        checkTenantInput({ name: 'acme', hostnames: ['acme.test'], mtls: { mode: 'off', certificatePolicies: { explicit: true } } }, Date.now());
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(bad).toBeInstanceOf(TenantStoreError);
    expect(bad).toMatchObject({ code: 'ERR_TENANT_INVALID', field: 'mtls.certificatePolicies' });
  });
});

describe('revocation intermediates', () => {
  it('defaults to the leaf only; true is kept and matches the config file', async () => {
    const leafOnly = checkRevocationInput({ ocsp: 'require' }, 'r');
    expect(leafOnly.ok && leafOnly.policy?.intermediates).toBeUndefined();
    const chain = checkRevocationInput({ ocsp: 'require', intermediates: true }, 'r');
    expect(chain.ok && chain.policy?.intermediates).toBe(true);
    const file = await fromFile(['      revocation: { ocsp: require, intermediates: true }']);
    expect(chain.ok && chain.policy).toEqual(file?.revocation);
    const explicitFalse = checkRevocationInput({ ocsp: 'require', intermediates: false }, 'r');
    expect(explicitFalse.ok && explicitFalse.policy).toEqual(leafOnly.ok && leafOnly.policy);
  });

  it('refuses a value that is not a boolean', () => {
    expect(checkRevocationInput({ ocsp: 'require', intermediates: 'yes' }, 'r')).toEqual({ ok: false, problem: { field: 'r.intermediates', message: 'must be true or false' } });
  });

  it('is written out in the stored form and reads back the same', () => {
    const checked = checkRevocationInput({ crl: 'prefer', intermediates: true }, 'r');
    if (!checked.ok || !checked.policy) throw new Error('expected a policy');
    const written = revocationToInput(checked.policy);
    expect(written.intermediates).toBe(true);
    expect(checkRevocationInput(JSON.parse(JSON.stringify(written)), 'r')).toEqual(checked);
    const leafOnly = checkRevocationInput({ crl: 'prefer' }, 'r');
    expect(leafOnly.ok && leafOnly.policy && revocationToInput(leafOnly.policy).intermediates).toBe(false);
  });
});

describe("the config file's tenants seen through the admin API", () => {
  it('show both settings in the same form as stored tenants', async () => {
    const config = await fileConfig(['      certificate_policies: { accept: anyPolicy, explicit: true }', '      revocation: { ocsp: prefer, intermediates: true }']);
    const store = createFileTenantStore(
      () => config.tenants,
      () => config.source,
    );
    const record = await store.getTenant('acme');
    if (!record) throw new Error('acme not found');
    const json = toTenantJson(record);
    expect(json.mtls.certificate_policies).toEqual({ accept: [ANY_POLICY], explicit: true, inhibit_mapping: false, inhibit_any: false });
    expect(json.mtls.revocation).toMatchObject({ ocsp: 'prefer', intermediates: true });
    const checked = checkTenantInput(
      { name: 'acme', hostnames: ['acme.test'], mtls: { caPem: root.pem, certificatePolicies: { accept: ['anyPolicy'], explicit: true }, revocation: { ocsp: 'prefer', intermediates: true } } },
      Date.now(),
    );
    expect(checked.certificatePolicies).toEqual(record.mtls.certificatePolicies);
    expect(checked.revocation).toEqual(record.mtls.revocation);
  });
});

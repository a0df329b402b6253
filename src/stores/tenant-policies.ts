/**
 * A tenant's `mtls.certificate_policies` as the tenant stores take it (admin
 * API, PostgreSQL rows): checked with the config file's own rules
 * (`config/policy-schema.ts`), so a setting accepted through one front door
 * loads through the other.
 */
import type { PolicyInputs } from '../core/cert-policy.js';
import { CERT_POLICY_RULES } from '../config/policy-schema.js';

/** `mtls.certificate_policies` as a client writes it; what is left out takes the config file's default. */
export interface CertificatePoliciesInput {
  /** Dotted OIDs, or `anyPolicy`. */
  readonly accept?: readonly string[] | undefined;
  readonly explicit?: boolean | undefined;
  readonly inhibitMapping?: boolean | undefined;
  readonly inhibitAny?: boolean | undefined;
}

/** The first thing wrong with a policy input: the field (under `field`) and why. */
export interface PoliciesProblem {
  readonly field: string;
  readonly message: string;
}

export type PoliciesCheck = { readonly ok: true; readonly inputs: PolicyInputs } | { readonly ok: false; readonly problem: PoliciesProblem };

const KEYS: ReadonlySet<string> = new Set(['accept', 'explicit', 'inhibitMapping', 'inhibitAny']);

/**
 * Checks `input` (plain data of unknown shape: an API body or a stored JSON
 * column) and returns the RFC 5280 §6.1.1 inputs with defaults filled in.
 * Never throws.
 *
 * @example
 * ```ts
 * const checked = checkCertificatePoliciesInput({ accept: ['2.23.140.1.2.1'], explicit: true }, 'mtls.certificatePolicies');
 * if (checked.ok) checked.inputs.initialExplicitPolicy; // true
 * ```
 */
export function checkCertificatePoliciesInput(input: unknown, field: string): PoliciesCheck {
  const fail = (at: string, message: string): PoliciesCheck => ({ ok: false, problem: { field: at, message } });
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return fail(field, 'must be an object');
  const raw = input as Record<string, unknown>;
  const unknown = Object.keys(raw).find((k) => !KEYS.has(k));
  if (unknown !== undefined) return fail(`${field}.${unknown}`, `unknown field; expected one of ${[...KEYS].join(', ')}`);
  const accept: string[] = [];
  if (raw.accept !== undefined) {
    if (!Array.isArray(raw.accept)) return fail(`${field}.accept`, 'must be a list of policy OIDs');
    const count = CERT_POLICY_RULES.acceptCount(raw.accept.length);
    if (count !== undefined) return fail(`${field}.accept`, count);
    for (const [j, item] of raw.accept.entries()) {
      if (typeof item !== 'string') return fail(`${field}.accept[${j}]`, 'must be a string');
      const read = CERT_POLICY_RULES.oid(item);
      if ('problem' in read) return fail(`${field}.accept[${j}]`, read.problem);
      accept.push(read.oid);
    }
  }
  const flags: { explicit?: boolean; inhibitMapping?: boolean; inhibitAny?: boolean } = {};
  for (const key of ['explicit', 'inhibitMapping', 'inhibitAny'] as const) {
    const v = raw[key];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') return fail(`${field}.${key}`, 'must be true or false');
    flags[key] = v;
  }
  return { ok: true, inputs: CERT_POLICY_RULES.inputs(accept, flags) };
}

/** The stored (and API) form: every field written out, so a later change of a default does not change a stored tenant. */
export function policiesToInput(p: PolicyInputs): Required<CertificatePoliciesInput> {
  return { accept: [...p.initialPolicySet], explicit: p.initialExplicitPolicy, inhibitMapping: p.initialPolicyMappingInhibit, inhibitAny: p.initialAnyPolicyInhibit };
}

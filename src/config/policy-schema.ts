import { ANY_POLICY, type PolicyInputs } from '../core/cert-policy.js';
import type { Entry, NodeReader } from './node-reader.js';
import { CERT_POLICY_DEFAULTS, CONFIG_LIMITS } from './defaults.js';

/** Keys of `tenants[].mtls.certificate_policies`. */
export const POLICY_KEYS = ['accept', 'explicit', 'inhibit_mapping', 'inhibit_any'] as const;

/** A dotted OID: two or more arcs, the first 0-2, no leading zeros. */
const OID = /^[0-2](\.(0|[1-9][0-9]{0,17}))+$/;

/**
 * The rules of `mtls.certificate_policies`, shared by the YAML reader below and
 * the tenant stores' `checkTenantInput` (admin API, PostgreSQL), so a setting
 * one front door accepts the other accepts too.
 */
export const CERT_POLICY_RULES = {
  /** The policy `text` names (`anyPolicy` is its OID), or the problem with it. */
  oid(text: string): { readonly oid: string } | { readonly problem: string } {
    if (text === 'anyPolicy') return { oid: ANY_POLICY };
    return OID.test(text) ? { oid: text } : { problem: `must be a certificate policy OID in dotted form (e.g. 2.23.140.1.2.1) or anyPolicy (got '${text.slice(0, 80)}')` };
  },
  acceptCount(count: number): string | undefined {
    if (count === 0) return 'must list at least one policy (leave accept out for anyPolicy)';
    return count > CONFIG_LIMITS.maxAcceptedPolicies ? `lists ${count} policies; at most ${CONFIG_LIMITS.maxAcceptedPolicies} are allowed` : undefined;
  },
  /** The inputs with every key not written at its default; `accept` deduplicated. */
  inputs(accept: readonly string[], flags: { explicit?: boolean | undefined; inhibitMapping?: boolean | undefined; inhibitAny?: boolean | undefined }): PolicyInputs {
    const unique = [...new Set(accept)];
    return {
      initialPolicySet: unique.length > 0 ? unique : [...CERT_POLICY_DEFAULTS.accept],
      initialExplicitPolicy: flags.explicit ?? CERT_POLICY_DEFAULTS.explicit,
      initialPolicyMappingInhibit: flags.inhibitMapping ?? CERT_POLICY_DEFAULTS.inhibitMapping,
      initialAnyPolicyInhibit: flags.inhibitAny ?? CERT_POLICY_DEFAULTS.inhibitAny,
    };
  },
} as const;

function readPolicyOid(reader: NodeReader, node: Entry['value'], field: string): string | undefined {
  const text = reader.string(node, field);
  if (text === undefined) return undefined;
  const read = CERT_POLICY_RULES.oid(text);
  if ('problem' in read) {
    reader.issue(node, field, read.problem);
    return undefined;
  }
  return read.oid;
}

/**
 * Reads `mtls.certificate_policies` (docs/config.md): the tenant's certificate policy
 * inputs of RFC 5280 §6.1.1. Absent yields undefined: RFC 5280's defaults
 * (any policy, none required explicitly), with no cost for paths without
 * policy extensions.
 */
export function readCertificatePolicies(entry: Entry | undefined, f: string, reader: NodeReader): PolicyInputs | undefined {
  if (!entry) return undefined;
  const m = reader.mapping(entry.value, f, POLICY_KEYS);
  if (!m) return undefined;
  const accept: string[] = [];
  const acceptEntry = m.get('accept');
  if (acceptEntry) {
    const items = reader.list(acceptEntry.value, `${f}.accept`, { single: true, nonEmpty: true });
    const tooMany = items && items.length > 0 ? CERT_POLICY_RULES.acceptCount(items.length) : undefined;
    if (tooMany !== undefined) {
      reader.issue(acceptEntry.value, `${f}.accept`, tooMany);
    } else {
      items?.forEach((item, j) => {
        const oid = readPolicyOid(reader, item, `${f}.accept[${j}]`);
        if (oid !== undefined) accept.push(oid);
      });
    }
  }
  const flag = (key: 'explicit' | 'inhibit_mapping' | 'inhibit_any'): boolean | undefined => {
    const e = m.get(key);
    return e ? reader.boolean(e.value, `${f}.${key}`) : undefined;
  };
  return CERT_POLICY_RULES.inputs(accept, { explicit: flag('explicit'), inhibitMapping: flag('inhibit_mapping'), inhibitAny: flag('inhibit_any') });
}

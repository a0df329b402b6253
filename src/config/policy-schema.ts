import { ANY_POLICY, type PolicyInputs } from '../core/cert-policy.js';
import type { Entry, NodeReader } from './node-reader.js';
import { CERT_POLICY_DEFAULTS, CONFIG_LIMITS } from './defaults.js';

/** Keys of `tenants[].mtls.certificate_policies`. */
export const POLICY_KEYS = ['accept', 'explicit', 'inhibit_mapping', 'inhibit_any'] as const;

/** A dotted OID: two or more arcs, the first 0-2, no leading zeros. */
const OID = /^[0-2](\.(0|[1-9][0-9]{0,17}))+$/;

function readPolicyOid(reader: NodeReader, node: Entry['value'], field: string): string | undefined {
  const text = reader.string(node, field);
  if (text === undefined) return undefined;
  if (text === 'anyPolicy') return ANY_POLICY;
  if (!OID.test(text)) {
    reader.issue(node, field, `must be a certificate policy OID in dotted form (e.g. 2.23.140.1.2.1) or anyPolicy (got '${text.slice(0, 80)}')`);
    return undefined;
  }
  return text;
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
    if (items && items.length > CONFIG_LIMITS.maxAcceptedPolicies) {
      reader.issue(acceptEntry.value, `${f}.accept`, `lists ${items.length} policies; at most ${CONFIG_LIMITS.maxAcceptedPolicies} are allowed`);
    } else {
      items?.forEach((item, j) => {
        const oid = readPolicyOid(reader, item, `${f}.accept[${j}]`);
        if (oid !== undefined && !accept.includes(oid)) accept.push(oid);
      });
    }
  }
  const flag = (key: 'explicit' | 'inhibit_mapping' | 'inhibit_any', fallback: boolean): boolean => {
    const e = m.get(key);
    return (e && reader.boolean(e.value, `${f}.${key}`)) ?? fallback;
  };
  return {
    initialPolicySet: accept.length > 0 ? accept : [...CERT_POLICY_DEFAULTS.accept],
    initialExplicitPolicy: flag('explicit', CERT_POLICY_DEFAULTS.explicit),
    initialPolicyMappingInhibit: flag('inhibit_mapping', CERT_POLICY_DEFAULTS.inhibitMapping),
    initialAnyPolicyInhibit: flag('inhibit_any', CERT_POLICY_DEFAULTS.inhibitAny),
  };
}

import { NO_POLICY_FACTS, type PolicyFacts } from './cert-extensions.js';
import { describe as role } from './cert-profile.js';
import type { ParsedCert } from './parsed-cert.js';
import type { CertFailure } from './reasons.js';

// Certificate policy processing, RFC 5280 §6.1.2 (a), (d)-(f), §6.1.3 (d)-(f),
// §6.1.4 (a)-(b), (h)-(j), §6.1.5 (a)-(b), (g). The valid_policy_tree is kept
// as the policy graph of RFC 9618: one node per policy and depth, with every
// parent it would have had in the tree. The verdict is the tree's, but the
// graph grows with the policies and mappings the certificates list rather
// than exponentially (the "policy tree DoS" of CVE-2023-0464), and the work is
// still counted and bounded.

/** The special policy OID anyPolicy (RFC 5280 §4.2.1.4). */
export const ANY_POLICY = '2.5.29.32.0';

/**
 * Bound on the work of one path's policy graph: nodes made, parent links and
 * policy-versus-node comparisons. Real paths need a few dozen; a path that
 * needs more is refused (`client_cert_policy_too_complex`) rather than
 * allowed to take unbounded time.
 */
export const MAX_POLICY_GRAPH_WORK = 4096;

/** The relying party's inputs (RFC 5280 §6.1.1 (c), (e)-(g)). */
export interface PolicyInputs {
  /** user-initial-policy-set: the policies the relying party accepts; [anyPolicy] accepts any. */
  readonly initialPolicySet: readonly string[];
  /** initial-explicit-policy: the path must be valid for a policy of the set. */
  readonly initialExplicitPolicy: boolean;
  /** initial-policy-mapping-inhibit. */
  readonly initialPolicyMappingInhibit: boolean;
  /** initial-any-policy-inhibit. */
  readonly initialAnyPolicyInhibit: boolean;
}

/** RFC 5280's usual defaults, which PKITS runs by default and a tenant gets unless it says otherwise. */
export const DEFAULT_POLICY_INPUTS: PolicyInputs = {
  initialPolicySet: [ANY_POLICY],
  initialExplicitPolicy: false,
  initialPolicyMappingInhibit: false,
  initialAnyPolicyInhibit: false,
};

export interface PolicyFailure {
  readonly ok: false;
  readonly reason: Extract<CertFailure, 'client_cert_policy_invalid' | 'client_cert_policy_mismatch' | 'client_cert_policy_too_complex'>;
  readonly detail: string;
}

interface PolicyNode {
  readonly policy: string;
  readonly depth: number;
  expected: ReadonlySet<string>;
  readonly parents: PolicyNode[];
  children: number;
}

class TooComplex extends Error {}

/** The path's valid_policy_graph, level by level (level 0 is the root, anyPolicy). */
class PolicyGraph {
  readonly levels: Map<string, PolicyNode>[];
  private work = 0;

  constructor() {
    this.levels = [new Map([[ANY_POLICY, { policy: ANY_POLICY, depth: 0, expected: new Set([ANY_POLICY]), parents: [], children: 0 }]])];
  }

  /** Counts `units` of work and stops the evaluation past the bound. */
  spend(units: number): void {
    this.work += units;
    if (this.work > MAX_POLICY_GRAPH_WORK) throw new TooComplex();
  }

  get workDone(): number {
    return this.work;
  }

  add(level: Map<string, PolicyNode>, depth: number, policy: string, expected: ReadonlySet<string>, parents: PolicyNode[]): PolicyNode {
    this.spend(1 + parents.length);
    const node: PolicyNode = { policy, depth, expected, parents, children: 0 };
    for (const p of parents) p.children += 1;
    level.set(policy, node);
    return node;
  }

  /** Removes `node` and then every ancestor left without children. */
  remove(node: PolicyNode): void {
    this.levels[node.depth]?.delete(node.policy);
    for (const p of node.parents) {
      p.children -= 1;
      if (p.children === 0 && this.levels[p.depth]?.get(p.policy) === p) this.remove(p);
    }
  }

  /** Deletes the nodes above `depth` that have no children (§6.1.3 (d)(3)). */
  prune(depth: number): void {
    for (const node of [...(this.levels[depth - 1]?.values() ?? [])]) if (node.children === 0) this.remove(node);
  }
}

/** Whether any certificate of the path, or the relying party, brings policy processing into play. */
function hasPolicyWork(path: readonly ParsedCert[], inputs: PolicyInputs): boolean {
  return inputs.initialExplicitPolicy || path.some((c) => c.extensions.policy !== NO_POLICY_FACTS);
}

/** The state variables of §6.1.2 (d)-(f), with who last set explicit_policy to a value, for details. */
interface Counters {
  explicit: number;
  mapping: number;
  inhibitAny: number;
  explicitBy: string;
}

/**
 * Initial state (§6.1.2): n + 1, or 0 where the relying party says so; then
 * the constraints of the trust anchor when it is a certificate (policyConstraints
 * and inhibitAnyPolicy, as RFC 5937 §3 does), as if it were a CA just above
 * the path. The anchor's own policies and mappings are not used.
 */
function initialCounters(path: readonly ParsedCert[], inputs: PolicyInputs): Counters {
  const n = path.length - 1;
  const anchor = (path[n] as ParsedCert).extensions.policy;
  const c: Counters = {
    explicit: inputs.initialExplicitPolicy ? 0 : n + 1,
    mapping: inputs.initialPolicyMappingInhibit ? 0 : n + 1,
    inhibitAny: inputs.initialAnyPolicyInhibit ? 0 : n + 1,
    explicitBy: 'the tenant requires an explicit policy',
  };
  applyConstraints(c, anchor, role(path, n));
  return c;
}

/** §6.1.4 (i)-(j) for a certificate's constraints. */
function applyConstraints(c: Counters, facts: PolicyFacts, who: string): void {
  if (facts.requireExplicitPolicy !== undefined && facts.requireExplicitPolicy < c.explicit) {
    c.explicit = facts.requireExplicitPolicy;
    c.explicitBy = `policyConstraints of ${who} require an explicit policy`;
  }
  if (facts.inhibitPolicyMapping !== undefined && facts.inhibitPolicyMapping < c.mapping) c.mapping = facts.inhibitPolicyMapping;
  if (facts.inhibitAnyPolicy !== undefined && facts.inhibitAnyPolicy < c.inhibitAny) c.inhibitAny = facts.inhibitAnyPolicy;
}

/** §6.1.4 (h): counters fall by one for each certificate that is not self-issued. */
function decrement(c: Counters): void {
  if (c.explicit > 0) c.explicit -= 1;
  if (c.mapping > 0) c.mapping -= 1;
  if (c.inhibitAny > 0) c.inhibitAny -= 1;
}

/** §6.1.4 (a): anyPolicy may not be mapped, to or from. */
function mapsAnyPolicy(facts: PolicyFacts): boolean {
  return facts.mappings?.some((m) => m.issuer === ANY_POLICY || m.subject === ANY_POLICY) ?? false;
}

/**
 * Whether explicit_policy reaches 0 anywhere along the path. When it does
 * not, no check of the graph can fail (§6.1.3 (f), §6.1.5 (g)), so the graph
 * is not built.
 */
function explicitPolicyMatters(path: readonly ParsedCert[], inputs: PolicyInputs): boolean {
  const n = path.length - 1;
  const c = initialCounters(path, inputs);
  for (let i = 1; i <= n; i++) {
    if (c.explicit === 0) return true;
    const cert = path[n - i] as ParsedCert;
    if (i < n) {
      if (!cert.selfIssued) decrement(c);
      applyConstraints(c, cert.extensions.policy, '');
    } else {
      if (c.explicit > 0) c.explicit -= 1;
      if (cert.extensions.policy.requireExplicitPolicy === 0) c.explicit = 0;
    }
  }
  return c.explicit === 0;
}

/** §6.1.3 (d): the next level of the graph from certificate i's policies. */
function addLevel(graph: PolicyGraph, i: number, n: number, cert: ParsedCert, policies: readonly string[], c: Counters): void {
  const prev = graph.levels[i - 1] as Map<string, PolicyNode>;
  const level = new Map<string, PolicyNode>();
  graph.levels[i] = level;
  const anyParent = prev.get(ANY_POLICY);
  // (d)(1): each listed policy under the nodes that expect it, or else under anyPolicy.
  for (const policy of policies) {
    if (policy === ANY_POLICY) continue;
    graph.spend(prev.size);
    const parents = [...prev.values()].filter((node) => node.expected.has(policy));
    if (parents.length === 0 && anyParent) parents.push(anyParent);
    if (parents.length > 0) graph.add(level, i, policy, new Set([policy]), parents);
  }
  // (d)(2): anyPolicy, when not inhibited, carries every expected policy not yet matched.
  if (policies.includes(ANY_POLICY) && (c.inhibitAny > 0 || (i < n && cert.selfIssued))) {
    const made = new Set<PolicyNode>();
    for (const parent of prev.values()) {
      for (const expected of parent.expected) {
        graph.spend(1);
        const existing = level.get(expected);
        if (existing === undefined) made.add(graph.add(level, i, expected, new Set([expected]), [parent]));
        else if (made.has(existing)) {
          graph.spend(1);
          existing.parents.push(parent);
          parent.children += 1;
        }
      }
    }
  }
  graph.prune(i);
}

/** §6.1.4 (b): policy mappings of certificate i rewrite the expected policies at depth i, or delete the mapped nodes when mapping is inhibited. */
function applyMappings(graph: PolicyGraph, i: number, facts: PolicyFacts, c: Counters): void {
  const level = graph.levels[i] as Map<string, PolicyNode>;
  const mapped = new Map<string, Set<string>>();
  for (const m of facts.mappings ?? []) {
    graph.spend(1);
    const set = mapped.get(m.issuer);
    if (set) set.add(m.subject);
    else mapped.set(m.issuer, new Set([m.subject]));
  }
  for (const [issuerPolicy, subjects] of mapped) {
    const node = level.get(issuerPolicy);
    if (c.mapping > 0) {
      if (node) node.expected = subjects;
      else {
        const any = level.get(ANY_POLICY);
        if (any) graph.add(level, i, issuerPolicy, subjects, [...any.parents]);
      }
    } else if (node) {
      graph.remove(node);
    }
  }
}

/**
 * §6.1.5 (g): whether the graph, intersected with the relying party's
 * policies, keeps a node at depth n. A node counts when some path from the
 * root reaches it through a first non-anyPolicy node whose policy the
 * relying party accepts; an anyPolicy node at depth n stands for every
 * accepted policy.
 */
function intersectionKeepsPolicy(graph: PolicyGraph, n: number, accepted: ReadonlySet<string>): boolean {
  const last = graph.levels[n];
  if (!last || last.size === 0) return false;
  if (accepted.has(ANY_POLICY) || last.has(ANY_POLICY)) return accepted.size > 0;
  const ok = new Set<PolicyNode>();
  for (let d = 1; d <= n; d++) {
    for (const node of graph.levels[d]?.values() ?? []) {
      if (node.policy === ANY_POLICY) continue;
      graph.spend(node.parents.length);
      if (node.parents.some((p) => (p.policy === ANY_POLICY ? accepted.has(node.policy) : ok.has(p)))) ok.add(node);
    }
  }
  for (const node of last.values()) if (ok.has(node)) return true;
  return false;
}

function fail(reason: PolicyFailure['reason'], detail: string): PolicyFailure {
  return { ok: false, reason, detail };
}

/**
 * Certificate policy processing of RFC 5280 §6.1 for the path
 * [leaf, ..., anchor] with the relying party's `inputs`. Refuses a mapping of
 * anyPolicy (`client_cert_policy_invalid`); a path for which explicit_policy
 * reaches 0 (through a CA's or the anchor's policyConstraints, or the
 * tenant's setting) and no policy acceptable to the tenant is valid at that
 * point (`client_cert_policy_mismatch`); a graph that takes more than
 * {@link MAX_POLICY_GRAPH_WORK} units of work (`client_cert_policy_too_complex`).
 * A path without policy extensions, with the default inputs, costs one scan.
 */
export function checkCertificatePolicies(path: readonly ParsedCert[], inputs: PolicyInputs = DEFAULT_POLICY_INPUTS): PolicyFailure | undefined {
  if (!hasPolicyWork(path, inputs)) return undefined;
  const n = path.length - 1;
  for (let k = n - 1; k >= 1; k--) {
    if (mapsAnyPolicy((path[k] as ParsedCert).extensions.policy)) {
      return fail('client_cert_policy_invalid', `${role(path, k)} maps anyPolicy in policyMappings (RFC 5280 §6.1.4 (a))`);
    }
  }
  if (!explicitPolicyMatters(path, inputs)) return undefined;
  const graph = new PolicyGraph();
  const c = initialCounters(path, inputs);
  const accepted = new Set(inputs.initialPolicySet);
  let nullAt: number | undefined;
  try {
    for (let i = 1; i <= n; i++) {
      const k = n - i;
      const cert = path[k] as ParsedCert;
      const facts = cert.extensions.policy;
      if (nullAt === undefined) {
        // (d)-(e): a certificate without certificatePolicies empties the graph.
        if (facts.policies !== undefined) addLevel(graph, i, n, cert, facts.policies, c);
        if (facts.policies === undefined || (graph.levels[i]?.size ?? 0) === 0) nullAt = k;
      }
      // (f)
      if (c.explicit === 0 && nullAt !== undefined) {
        return fail('client_cert_policy_mismatch', `no certificate policy is valid for the path at ${role(path, nullAt)}, and ${c.explicitBy}`);
      }
      if (i < n) {
        if (nullAt === undefined && facts.mappings !== undefined) {
          applyMappings(graph, i, facts, c);
          if ((graph.levels[i]?.size ?? 0) === 0) nullAt = k;
        }
        if (!cert.selfIssued) decrement(c);
        applyConstraints(c, facts, role(path, k));
      } else {
        if (c.explicit > 0) c.explicit -= 1;
        if (facts.requireExplicitPolicy === 0) {
          c.explicit = 0;
          c.explicitBy = `policyConstraints of ${role(path, k)} require an explicit policy`;
        }
      }
    }
    if (c.explicit > 0) return undefined;
    if (nullAt === undefined && intersectionKeepsPolicy(graph, n, accepted)) return undefined;
  } catch (err) {
    if (err instanceof TooComplex) {
      return fail('client_cert_policy_too_complex', `evaluating the path's certificate policies takes more than ${MAX_POLICY_GRAPH_WORK} steps`);
    }
    throw err;
  }
  const where = nullAt === undefined ? 'none of the policies valid for the path is one the tenant accepts' : `no certificate policy is valid for the path at ${role(path, nullAt)}`;
  return fail('client_cert_policy_mismatch', `${where}, and ${c.explicitBy}`);
}

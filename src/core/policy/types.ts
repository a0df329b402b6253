/**
 * Shapes shared by policy compilation and evaluation. Raw policies come from
 * YAML as plain JS; compiled policies are frozen and hold pre-parsed CIDR
 * ranges and pre-planned CEL programs so evaluation does no parsing.
 */
import type { CidrRange } from './cidr.js';
import type { CelProgram } from './cel.js';

/** What a matching policy does. */
export type PolicyAction = 'allow' | 'deny' | 'bypass' | 'service_auth';

/** One policy as written in the config (plain JS from YAML, not yet checked). */
export interface RawPolicy {
  name: string;
  action: string;
  include?: unknown[];
  require?: unknown[];
  exclude?: unknown[];
}

/** One config problem; `path` is relative to the policies list, e.g. `[0, 'include', 1, 'cel']`. */
export interface PolicyIssue {
  path: (string | number)[];
  message: string;
}

/** A checked selector, ready to evaluate. */
export type Selector =
  | { readonly kind: 'everyone' }
  | { readonly kind: 'email'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'email_domain'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'group'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'idp'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'country'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'ip'; readonly ranges: readonly CidrRange[] }
  | { readonly kind: 'certificate' }
  | { readonly kind: 'certificate_cn'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'certificate_san'; readonly values: readonly string[] }
  | { readonly kind: 'certificate_fingerprint'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'amr'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'login_age'; readonly maxSeconds: number }
  | { readonly kind: 'service_token'; readonly values: ReadonlySet<string> }
  | { readonly kind: 'any_service_token' }
  | { readonly kind: 'cel'; readonly program: CelProgram };

/** Name of a selector key as written in the config. */
export type SelectorKind = Selector['kind'];

/** A policy after {@link compilePolicies}: immutable and cheap to evaluate. */
export interface CompiledPolicy {
  readonly name: string;
  readonly action: PolicyAction;
  readonly include: readonly Selector[];
  readonly require: readonly Selector[];
  readonly exclude: readonly Selector[];
}

/** Outcome of {@link evaluatePolicies}. A denial is a value, never an exception. */
export interface PolicyVerdict {
  readonly outcome: 'allow' | 'deny' | 'bypass' | 'login_required';
  /** Name of the deciding policy (undefined when nothing matched). */
  readonly policy: string | undefined;
  readonly reason: 'policy_allow' | 'policy_deny' | 'policy_bypass' | 'policy_service_auth' | 'policy_no_match' | 'login_required';
  /** Human text: which rule decided. Safe to show the user (no secrets, no config values beyond names). */
  readonly detail: string;
}

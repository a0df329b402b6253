/**
 * An optional observer of policy evaluation, for `bouncer access explain`.
 * The evaluator calls it with values it computes anyway (the policy, its
 * three-valued result, the rule that decided it), so passing none costs one
 * `undefined` check per policy and nothing is allocated for it.
 */
import type { PolicyAction } from './types.js';

/** How one policy came out for one request. */
export type PolicyOutcome = 'matched' | 'not_matched' | 'needs_login';

export interface PolicyTrace {
  /**
   * Called once per policy the evaluator looked at, in evaluation order
   * (bypass, service_auth, deny, allow). Policies after the deciding one are
   * not evaluated and not reported.
   */
  policy(name: string, action: PolicyAction, outcome: PolicyOutcome, why: string): void;
}

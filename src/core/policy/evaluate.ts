/**
 * Evaluates compiled policies for one request, Cloudflare Access style.
 *
 * Precedence is by action, never by order in the file: bypass, then
 * service_auth, then deny, then allow. Within one action the first matching
 * policy names the verdict.
 *
 * Rules are evaluated in three-valued logic (true / false / unknown), where
 * `unknown` means "depends on an identity we do not have yet". That is what
 * lets an anonymous request get `login_required` exactly when logging in could
 * lead to an allow, and `policy_no_match` when it could not. A selector that
 * fails to evaluate (a CEL error or a non-bool result, an unparseable source
 * IP) resolves in the restrictive direction for its policy: it cannot make an
 * allow, bypass or service_auth policy match, and it cannot keep a deny policy
 * from matching.
 */
import type { Identity, RequestContext } from '../identity.js';
import { EvalFacts, evaluateSelector } from './selectors.js';
import type { CompiledPolicy, PolicyAction, PolicyVerdict, Selector } from './types.js';
import type { PolicyOutcome, PolicyTrace } from './trace.js';

export type { PolicyVerdict } from './types.js';

type Tri = true | false | 'unknown';

interface PolicyResult {
  readonly value: Tri;
  /** Why, in words: the rule that decided it. */
  readonly why: string;
}

const PRECEDENCE: readonly PolicyAction[] = ['bypass', 'service_auth', 'deny', 'allow'];

/**
 * Decides one request against an app's policies. Pure, synchronous, never
 * throws: anything unexpected becomes a deny. `trace`, when given, hears how
 * each evaluated policy came out (see {@link PolicyTrace}).
 *
 * @example
 * evaluatePolicies(policies, identity, { nowMs, host: 'wiki.acme.test', path: '/', method: 'GET', ... })
 * // { outcome: 'allow', policy: 'staff', reason: 'policy_allow', detail: '...' }
 */
export function evaluatePolicies(policies: readonly CompiledPolicy[], identity: Identity | undefined, ctx: RequestContext, trace?: PolicyTrace): PolicyVerdict {
  try {
    return decide(policies, identity, ctx, trace);
  } catch {
    // Fail closed: the core must decide, and "deny" is the only safe decision
    // when evaluation itself broke.
    return { outcome: 'deny', policy: undefined, reason: 'policy_no_match', detail: 'policy evaluation failed' };
  }
}

function decide(policies: readonly CompiledPolicy[], identity: Identity | undefined, ctx: RequestContext, trace: PolicyTrace | undefined): PolicyVerdict {
  const facts = new EvalFacts(identity, ctx);
  const couldAllow: string[] = [];
  const misses: string[] = [];

  // Indexed loops: on this per-check path the iterators of `for…of` were allocated, not optimized away.
  for (let a = 0; a < PRECEDENCE.length; a++) {
    const action = PRECEDENCE[a] as PolicyAction;
    for (let k = 0; k < policies.length; k++) {
      const p = policies[k] as CompiledPolicy;
      if (p.action !== action) continue;
      const r = evaluatePolicy(p, facts);
      if (trace !== undefined) trace.policy(p.name, action, outcomeOf(r.value, action, identity), r.why);
      if (action === 'allow' && identity === undefined) {
        // An allow policy always means "these logged-in users": without an
        // identity it can at best become true after login.
        if (r.value !== false) couldAllow.push(p.name);
        else misses.push(`"${p.name}": ${r.why}`);
        continue;
      }
      if (r.value !== true) {
        if (action === 'allow') misses.push(`"${p.name}": ${r.why}`);
        continue;
      }
      switch (action) {
        case 'bypass':
          return { outcome: 'bypass', policy: p.name, reason: 'policy_bypass', detail: `bypassed by policy "${p.name}": ${r.why}` };
        case 'service_auth':
          return { outcome: 'allow', policy: p.name, reason: 'policy_service_auth', detail: `service token accepted by policy "${p.name}": ${r.why}` };
        case 'deny':
          return { outcome: 'deny', policy: p.name, reason: 'policy_deny', detail: `denied by policy "${p.name}": ${r.why}` };
        case 'allow':
          return { outcome: 'allow', policy: p.name, reason: 'policy_allow', detail: `allowed by policy "${p.name}": ${r.why}` };
      }
    }
  }

  if (couldAllow.length > 0) {
    return {
      outcome: 'login_required',
      policy: undefined,
      reason: 'login_required',
      detail: `login required: policy "${couldAllow[0] as string}" may allow after login`,
    };
  }
  const shown = misses.slice(0, 3).join('; ');
  return {
    outcome: 'deny',
    policy: undefined,
    reason: 'policy_no_match',
    detail: misses.length === 0 ? 'no policy matched (no allow policy applies)' : `no policy matched: ${shown}${misses.length > 3 ? `; and ${misses.length - 3} more` : ''}`,
  };
}

/** A policy's result as the trace reports it; an allow policy without an identity can at best need a login. */
function outcomeOf(value: Tri, action: PolicyAction, identity: Identity | undefined): PolicyOutcome {
  if (value === false) return 'not_matched';
  if (action === 'allow' && identity === undefined) return 'needs_login';
  return value === true ? 'matched' : action === 'allow' ? 'needs_login' : 'not_matched';
}

/** include (any) AND require (all) AND NOT exclude (any), in three-valued logic. */
function evaluatePolicy(p: CompiledPolicy, facts: EvalFacts): PolicyResult {
  const restrictiveMatch = p.action === 'deny';
  const value = (sel: Selector, inExclude: boolean): { v: Tri; err?: string } => {
    const r = evaluateSelector(sel, facts);
    if (typeof r === 'object') {
      // A broken selector pushes its policy toward the restrictive result:
      // a deny policy toward matching, every other policy toward not matching.
      return { v: inExclude ? !restrictiveMatch : restrictiveMatch, err: r.error };
    }
    return { v: r };
  };
  const label = (rk: string, i: number, sel: Selector, err?: string): string => `${rk}[${i}] (${sel.kind})${err !== undefined ? ` failed to evaluate (${err})` : ''}`;

  // Indexed loops: `entries()` allocated an iterator and a pair per selector on every check.
  // include: any
  let include: Tri = false;
  let includeWhy = 'no include rule matched';
  for (let i = 0; i < p.include.length; i++) {
    const sel = p.include[i] as Selector;
    const { v, err } = value(sel, false);
    if (v === true) {
      include = true;
      includeWhy = err !== undefined ? label('include', i, sel, err) : `${label('include', i, sel)} matched`;
      break;
    }
    if (v === 'unknown' && include === false) {
      include = 'unknown';
      includeWhy = `${label('include', i, sel)} needs a login`;
    }
    if (v === false && err !== undefined && include === false) includeWhy = label('include', i, sel, err);
  }
  if (include === false) return { value: false, why: includeWhy };

  // require: all
  let require: Tri = true;
  let requireWhy = '';
  for (let i = 0; i < p.require.length; i++) {
    const sel = p.require[i] as Selector;
    const { v, err } = value(sel, false);
    if (v === false) {
      return { value: false, why: err !== undefined ? label('require', i, sel, err) : `${label('require', i, sel)} not satisfied` };
    }
    if (v === 'unknown' && require === true) {
      require = 'unknown';
      requireWhy = `${label('require', i, sel)} needs a login`;
    }
  }

  // exclude: none
  let excluded: Tri = false;
  let excludeWhy = '';
  for (let i = 0; i < p.exclude.length; i++) {
    const sel = p.exclude[i] as Selector;
    const { v, err } = value(sel, true);
    if (v === true) {
      return { value: false, why: err !== undefined ? label('exclude', i, sel, err) : `${label('exclude', i, sel)} matched (excluded)` };
    }
    if (v === 'unknown' && excluded === false) {
      excluded = 'unknown';
      excludeWhy = `${label('exclude', i, sel)} needs a login`;
    }
  }

  if (include === true && require === true && excluded === false) return { value: true, why: includeWhy };
  const whyUnknown = include === 'unknown' ? includeWhy : require === 'unknown' ? requireWhy : excludeWhy;
  return { value: 'unknown', why: whyUnknown };
}

/**
 * Turns the `policies:` list of an app into {@link CompiledPolicy} values, or
 * reports every problem at once with its path, so the config loader can map
 * each to file:line:col. Mistakes here are config errors, never runtime
 * surprises.
 */
import { didYouMean } from '../did-you-mean.js';
import { compileSelector, describe, isServiceTokenSelector, needsIdentity } from './selectors.js';
import type { CompiledPolicy, PolicyAction, PolicyIssue, Selector } from './types.js';

export type { CompiledPolicy, PolicyAction, PolicyIssue, RawPolicy, PolicyVerdict, Selector } from './types.js';

const ACTIONS: readonly PolicyAction[] = ['allow', 'deny', 'bypass', 'service_auth'];
const POLICY_KEYS = ['name', 'action', 'include', 'require', 'exclude'] as const;
const RULE_KEYS = ['include', 'require', 'exclude'] as const;

/**
 * Checks and compiles a list of raw policies (plain JS from YAML).
 * Pure and synchronous; CEL programs and CIDR ranges are prepared here once.
 *
 * @example
 * compilePolicies([{ name: 'staff', action: 'allow', include: [{ email_domain: ['acme.test'] }] }])
 * // { ok: true, policies: [...] }
 */
export function compilePolicies(raw: readonly unknown[]): { ok: true; policies: CompiledPolicy[] } | { ok: false; issues: PolicyIssue[] } {
  const issues: PolicyIssue[] = [];
  const policies: CompiledPolicy[] = [];
  if (!Array.isArray(raw)) {
    return { ok: false, issues: [{ path: [], message: `policies must be a list, got ${describe(raw)}` }] };
  }
  const firstByName = new Map<string, number>();

  raw.forEach((entry: unknown, index) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      issues.push({ path: [index], message: `a policy must be a mapping with name, action and include, got ${describe(entry)}` });
      return;
    }
    const p = entry as Record<string, unknown>;
    const before = issues.length;

    for (const key of Object.keys(p)) {
      if (!(POLICY_KEYS as readonly string[]).includes(key)) {
        const hint = didYouMean(key, POLICY_KEYS);
        issues.push({ path: [index, key], message: `unknown policy key "${key}"${hint ? `; did you mean "${hint}"?` : ''} (known: ${POLICY_KEYS.join(', ')})` });
      }
    }

    const name = p['name'];
    if (typeof name !== 'string' || name.trim() === '') {
      issues.push({ path: [index, 'name'], message: `a policy needs a non-empty name, got ${describe(name)}` });
    } else {
      const first = firstByName.get(name);
      if (first !== undefined) issues.push({ path: [index, 'name'], message: `duplicate policy name "${name}" (first used by policy ${first})` });
      else firstByName.set(name, index);
    }

    const action = p['action'];
    let act: PolicyAction | undefined;
    if (typeof action === 'string' && (ACTIONS as readonly string[]).includes(action)) {
      act = action as PolicyAction;
    } else {
      const hint = typeof action === 'string' ? didYouMean(action, ACTIONS) : undefined;
      issues.push({
        path: [index, 'action'],
        message: `${action === undefined ? 'missing action' : `unknown action ${describe(action)}`}${hint ? `; did you mean "${hint}"?` : ''} (one of ${ACTIONS.join(', ')})`,
      });
    }

    const rules: Record<(typeof RULE_KEYS)[number], Selector[]> = { include: [], require: [], exclude: [] };
    for (const rk of RULE_KEYS) {
      const list = p[rk];
      if (list === undefined) {
        if (rk === 'include') issues.push({ path: [index, 'include'], message: 'a policy needs an include list (a policy without include never matches)' });
        continue;
      }
      if (!Array.isArray(list)) {
        issues.push({ path: [index, rk], message: `${rk} must be a list of selectors, got ${describe(list)}` });
        continue;
      }
      if (list.length === 0) {
        issues.push({ path: [index, rk], message: rk === 'include' ? 'include must not be empty (an empty include never matches)' : `${rk} must not be empty; remove the key instead` });
        continue;
      }
      list.forEach((sel: unknown, i) => {
        const c = compileSelector(sel, [index, rk, i]);
        if (c.ok) rules[rk].push(c.selector);
        else issues.push(...c.issues);
      });
    }

    if (issues.length > before || act === undefined || typeof name !== 'string') return;

    if (act === 'bypass') {
      // A bypass decides before anyone logs in, so an identity selector could
      // never be true there; in exclude it would silently never exclude.
      for (const rk of RULE_KEYS) {
        rules[rk].forEach((sel, i) => {
          if (needsIdentity(sel)) {
            issues.push({ path: [index, rk, i, sel.kind], message: `a bypass policy is evaluated without a login, so the identity selector "${sel.kind}" can never be known there; use an allow or deny policy` });
          }
        });
      }
    }
    if (act === 'service_auth') {
      // It must be impossible for this policy to match without a token:
      // either a token selector is required, or every include alternative is one.
      const guarded = rules.require.some(isServiceTokenSelector) || rules.include.every(isServiceTokenSelector);
      if (!guarded) {
        issues.push({
          path: [index, 'include'],
          message: 'a service_auth policy must only match requests with a service token: make every include entry service_token/any_service_token, or add one to require',
        });
      }
    }
    if (issues.length > before) return;
    policies.push(Object.freeze({
      name,
      action: act,
      include: Object.freeze(rules.include),
      require: Object.freeze(rules.require),
      exclude: Object.freeze(rules.exclude),
    }));
  });

  return issues.length > 0 ? { ok: false, issues } : { ok: true, policies };
}

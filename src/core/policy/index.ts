/**
 * Access policies: compile once at config load, evaluate on every request and
 * every login. Import from here; the files behind it may be reorganised.
 */
export { compilePolicies } from './compile.js';
export { evaluatePolicies } from './evaluate.js';
export { parseCidr, parseIp, cidrContains, type CidrRange, type IpAddress } from './cidr.js';
export { SELECTOR_KINDS } from './selectors.js';
export type { CompiledPolicy, PolicyAction, PolicyIssue, PolicyVerdict, RawPolicy, Selector, SelectorKind } from './types.js';
export type { PolicyOutcome, PolicyTrace } from './trace.js';

/**
 * Policy selectors: checking their config form and evaluating them.
 *
 * Evaluation is three-valued plus error, so the caller can tell "no" from
 * "cannot know until the user logs in" (`unknown`) and from "broke" (`error`,
 * which the caller resolves in whichever direction is restrictive).
 */
import { didYouMean } from '../did-you-mean.js';
import type { Identity, RequestContext } from '../identity.js';
import { cidrContains, parseCidr, parseIp, type CidrRange, type IpAddress } from './cidr.js';
import { compileCel, runCel, buildCelBindings, type CelBindings } from './cel.js';
import type { PolicyIssue, Selector, SelectorKind } from './types.js';

/** Every selector key, in the order the docs list them. */
export const SELECTOR_KINDS: readonly SelectorKind[] = [
  'everyone', 'email', 'email_domain', 'group', 'idp', 'country', 'ip', 'certificate', 'certificate_cn',
  'certificate_san', 'certificate_fingerprint', 'amr', 'login_age', 'service_token', 'any_service_token', 'cel',
];

/** Selectors that look at the logged-in identity; they cannot be decided without one. */
const IDENTITY_KINDS: ReadonlySet<SelectorKind> = new Set(['email', 'email_domain', 'group', 'idp', 'amr', 'login_age']);

/** Whether `sel` needs an identity to be decided. */
export function needsIdentity(sel: Selector): boolean {
  return IDENTITY_KINDS.has(sel.kind) || (sel.kind === 'cel' && sel.program.usesIdentity);
}

/** Whether `sel` can only match when a verified service token was presented. */
export function isServiceTokenSelector(sel: Selector): boolean {
  return sel.kind === 'service_token' || sel.kind === 'any_service_token';
}

/**
 * Checks one selector entry (a one-key mapping) and compiles it.
 * `path` locates the entry, e.g. `[0, 'include', 1]`; issues extend it.
 */
export function compileSelector(raw: unknown, path: readonly (string | number)[]): { ok: true; selector: Selector } | { ok: false; issues: PolicyIssue[] } {
  const fail = (message: string, ...more: (string | number)[]): { ok: false; issues: PolicyIssue[] } => ({ ok: false, issues: [{ path: [...path, ...more], message }] });
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return fail(`a selector must be a mapping with one key (one of ${SELECTOR_KINDS.join(', ')}), got ${describe(raw)}`);
  }
  const keys = Object.keys(raw);
  if (keys.length !== 1) {
    return fail(keys.length === 0
      ? 'a selector must have exactly one key, got an empty mapping'
      : `a selector must have exactly one key, got ${keys.length} (${keys.join(', ')}); write each as its own list entry`);
  }
  const key = keys[0] as string;
  const value: unknown = (raw as Record<string, unknown>)[key];
  if (!(SELECTOR_KINDS as readonly string[]).includes(key)) {
    const hint = didYouMean(key, SELECTOR_KINDS);
    return fail(`unknown selector "${key}"${hint ? `; did you mean "${hint}"?` : ''} (known: ${SELECTOR_KINDS.join(', ')})`, key);
  }
  const kind = key as SelectorKind;
  const at = (message: string, ...more: (string | number)[]): { ok: false; issues: PolicyIssue[] } => fail(message, kind, ...more);

  switch (kind) {
    case 'everyone':
    case 'certificate':
    case 'any_service_token':
      if (value !== true) return at(`must be true, got ${describe(value)}${value === false ? '; remove the selector instead' : ''}`);
      return { ok: true, selector: { kind } };
    case 'login_age':
      if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
        return at(`must be a positive whole number of seconds, got ${describe(value)}`);
      }
      return { ok: true, selector: { kind, maxSeconds: value } };
    case 'cel': {
      if (typeof value !== 'string') return at(`must be a CEL expression string, got ${describe(value)}`);
      const c = compileCel(value);
      if (!c.ok) return at(c.message);
      return { ok: true, selector: { kind, program: c.program } };
    }
    default:
      break;
  }

  // Every other selector takes a non-empty list of non-empty strings.
  if (!Array.isArray(value)) return at(`must be a list of strings, got ${describe(value)}`);
  if (value.length === 0) return at('must not be an empty list (an empty list matches nothing); remove the selector or add values');
  const issues: PolicyIssue[] = [];
  const strings: string[] = [];
  value.forEach((v: unknown, i) => {
    if (typeof v !== 'string' || v.trim() === '') issues.push({ path: [...path, kind, i], message: `must be a non-empty string, got ${describe(v)}` });
    else strings.push(v.trim());
  });
  if (issues.length > 0) return { ok: false, issues };

  const check = (test: (v: string) => string | undefined): PolicyIssue[] =>
    strings.flatMap((v, i) => {
      const m = test(v);
      return m === undefined ? [] : [{ path: [...path, kind, i], message: m }];
    });

  switch (kind) {
    case 'email': {
      const bad = check((v) => (/^[^@\s]+@[^@\s]+$/.test(v) ? undefined : `"${v}" is not an email address`));
      if (bad.length > 0) return { ok: false, issues: bad };
      return { ok: true, selector: { kind, values: new Set(strings.map((v) => v.toLowerCase())) } };
    }
    case 'email_domain': {
      const bad = check((v) =>
        v.includes('@') ? `"${v}": write the domain without "@" (e.g. "${v.slice(v.lastIndexOf('@') + 1)}")`
          : /^[A-Za-z0-9.-]+$/.test(v) && !v.startsWith('.') && !v.endsWith('.') ? undefined
            : `"${v}" is not a domain name`);
      if (bad.length > 0) return { ok: false, issues: bad };
      return { ok: true, selector: { kind, values: new Set(strings.map((v) => v.toLowerCase())) } };
    }
    case 'country': {
      const bad = check((v) => (/^[A-Za-z]{2}$/.test(v) ? undefined : `"${v}" is not an ISO 3166 alpha-2 country code (two letters, e.g. "DE")`));
      if (bad.length > 0) return { ok: false, issues: bad };
      return { ok: true, selector: { kind, values: new Set(strings.map((v) => v.toUpperCase())) } };
    }
    case 'ip': {
      const ranges: CidrRange[] = [];
      const bad = check((v) => {
        const r = parseCidr(v);
        if (!r.ok) return r.message;
        ranges.push(r.range);
        return undefined;
      });
      if (bad.length > 0) return { ok: false, issues: bad };
      return { ok: true, selector: { kind, ranges } };
    }
    case 'certificate_fingerprint': {
      const norm = strings.map(normalizeFingerprint);
      const bad = check((v) => (/^[0-9a-f]{64}$/.test(normalizeFingerprint(v)) ? undefined : `"${v}" is not a SHA-256 fingerprint (64 hex digits, colons allowed)`));
      if (bad.length > 0) return { ok: false, issues: bad };
      return { ok: true, selector: { kind, values: new Set(norm) } };
    }
    case 'certificate_san':
      return { ok: true, selector: { kind, values: strings } };
    case 'group':
    case 'idp':
    case 'certificate_cn':
    case 'amr':
    case 'service_token':
      return { ok: true, selector: { kind, values: new Set(strings) } };
  }
}

/** Result of one selector: decided, undecidable without identity, or broken. */
export type SelectorResult = true | false | 'unknown' | { readonly error: string };

/** Per-evaluation facts computed at most once (parsed source IP, CEL maps). */
export class EvalFacts {
  private ip: IpAddress | undefined | null = null;
  private cel: CelBindings | undefined;

  constructor(readonly identity: Identity | undefined, readonly ctx: RequestContext) {}

  /** The parsed source IP; `undefined` when absent; `'invalid'` when present but not an address. */
  sourceIp(): IpAddress | undefined | 'invalid' {
    if (this.ctx.sourceIp === undefined) return undefined;
    if (this.ip === null) this.ip = parseIp(this.ctx.sourceIp);
    return this.ip ?? 'invalid';
  }

  celBindings(): CelBindings {
    this.cel ??= buildCelBindings(this.identity, this.ctx);
    return this.cel;
  }
}

/**
 * Evaluates one selector. Identity selectors are `unknown` without an
 * identity. Never throws.
 */
export function evaluateSelector(sel: Selector, facts: EvalFacts): SelectorResult {
  const { identity, ctx } = facts;
  if (identity === undefined && needsIdentity(sel)) return 'unknown';
  switch (sel.kind) {
    case 'everyone':
      return true;
    case 'email':
      // Only an address the IdP vouched for can grant access: an unverified
      // email is whatever the user typed at the IdP.
      return identity !== undefined && identity.emailVerified && identity.email !== undefined && sel.values.has(identity.email.toLowerCase());
    case 'email_domain': {
      if (identity === undefined || !identity.emailVerified || identity.email === undefined) return false;
      const email = identity.email.toLowerCase();
      const at = email.lastIndexOf('@');
      // Exact domain after the last "@": "x@acme.test.evil" is not in acme.test.
      return at > 0 && sel.values.has(email.slice(at + 1));
    }
    case 'group':
      return identity !== undefined && anyIn(identity.groups, sel.values);
    case 'idp':
      return identity !== undefined && sel.values.has(identity.idp.id);
    case 'amr':
      return identity !== undefined && anyIn(identity.amr, sel.values);
    case 'login_age':
      return identity !== undefined && Number.isFinite(identity.authTime) && ctx.nowMs - identity.authTime <= sel.maxSeconds * 1000;
    case 'country':
      return ctx.country !== undefined && sel.values.has(ctx.country.toUpperCase());
    case 'ip': {
      const ip = facts.sourceIp();
      if (ip === undefined) return false;
      if (ip === 'invalid') return { error: 'the source IP address could not be parsed' };
      return sel.ranges.some((r) => cidrContains(r, ip));
    }
    case 'certificate':
      return ctx.certificate !== undefined;
    case 'certificate_cn':
      return ctx.certificate?.commonName !== undefined && sel.values.has(ctx.certificate.commonName);
    case 'certificate_san': {
      const c = ctx.certificate;
      if (c === undefined) return false;
      // DNS names and email addresses compare case-insensitively; URIs exactly.
      return sel.values.some((v) => {
        const lower = v.toLowerCase();
        return c.dns.some((d) => d.toLowerCase() === lower) || c.email.some((e) => e.toLowerCase() === lower) || c.uri.includes(v);
      });
    }
    case 'certificate_fingerprint':
      return ctx.certificate !== undefined && sel.values.has(normalizeFingerprint(ctx.certificate.fingerprint256));
    case 'service_token':
      return ctx.serviceToken !== undefined && sel.values.has(ctx.serviceToken.id);
    case 'any_service_token':
      return ctx.serviceToken !== undefined;
    case 'cel': {
      const r = runCel(sel.program, facts.celBindings());
      return r.ok ? r.value : { error: r.message };
    }
  }
}

/** Whether any of `items` is in `values`; a loop, as a `some` callback was one more allocation per check. */
function anyIn(items: readonly string[], values: ReadonlySet<string>): boolean {
  for (let i = 0; i < items.length; i++) if (values.has(items[i] as string)) return true;
  return false;
}

function normalizeFingerprint(v: string): string {
  return v.replace(/:/g, '').toLowerCase();
}

/** Short description of a value's type for messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'string') return v === '' ? 'an empty string' : `the string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  if (typeof v === 'object') return 'a mapping';
  if (v === undefined) return 'nothing';
  return `${typeof v} ${String(v)}`;
}

import type { Logger } from 'pino';
import type { CheckInput, Decision } from '../core/decision.js';
import { writeInfoLine } from './logger.js';

/** One decision log line, in the spirit of OPA's decision logs. */
export interface AuditRecord {
  readonly request_id: string;
  readonly tenant: string | null;
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly source: string | null;
  readonly outcome: 'allow' | 'deny' | 'error';
  readonly reason: string;
  readonly status: number;
  /** Set on denials only; an allow's line has no `detail` key (JSON.stringify drops undefined). */
  readonly detail: string | undefined;
  /** App and the policy that decided (identity decisions). */
  readonly app: string | null;
  readonly policy: string | null;
  /** Who: the signed-in user the decision is about (`sub`, verified email, IdP id), when a session came with the request. */
  readonly user_sub: string | null;
  readonly user_email: string | null;
  readonly idp: string | null;
  readonly cert_fingerprint: string | null;
  readonly cert_subject: string | null;
  readonly cache_hit: boolean;
  readonly duration_ms: number;
}

const MAX_FIELD = 512;

function clip(s: string): string {
  return s.length > MAX_FIELD ? `${s.slice(0, MAX_FIELD)}…` : s;
}

export function toAuditRecord(input: CheckInput, decision: Decision, durationMs: number): AuditRecord {
  const q = input.path.indexOf('?');
  const who = decision.allow ? decision.user?.session : decision.session;
  return {
    request_id: input.requestId,
    tenant: decision.tenant ?? null,
    host: clip(input.authority),
    method: clip(input.method),
    // Query strings often carry secrets; the audit log keeps the path only.
    path: clip(q >= 0 ? input.path.slice(0, q) : input.path),
    source: input.sourceAddress ?? null,
    outcome: decision.allow ? 'allow' : 'deny',
    reason: decision.reason,
    status: decision.allow ? 200 : decision.status,
    // Always present, undefined on allows: one object shape for every record, which
    // JSON.stringify serializes on its fast path; a spread made two shapes.
    detail: decision.allow ? undefined : clip(decision.detail),
    app: decision.app ?? null,
    policy: decision.policy ?? null,
    user_sub: who ? clip(who.sub) : null,
    user_email: who?.email !== undefined ? clip(who.email) : null,
    idp: who ? clip(who.idp) : null,
    cert_fingerprint: decision.identity?.fingerprint256 ?? null,
    cert_subject: decision.identity ? clip(decision.identity.subject) : null,
    cache_hit: decision.cacheHit,
    duration_ms: Math.round(durationMs * 1000) / 1000,
  };
}

/** Printable ASCII other than `"` and `\\`: JSON needs no escape for it. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

const str = (s: string): string => (PLAIN.test(s) ? `"${s}"` : JSON.stringify(s));
const strOrNull = (s: string | null): string => (s === null ? 'null' : str(s));
/**
 * JSON text of the who/app/policy fields, remembered: the same few users, apps
 * and policies recur on every line, and a Map lookup of a string (its hash is
 * cached by V8) is cheaper than testing it for characters to escape. Bounded:
 * cleared when full, so junk values cannot grow it.
 */
const knownText = new Map<string, string>();
const KNOWN_TEXT_MAX = 4096;
function strKnownOrNull(s: string | null): string {
  if (s === null) return 'null';
  let t = knownText.get(s);
  if (t === undefined) {
    t = str(s);
    if (knownText.size >= KNOWN_TEXT_MAX) knownText.clear();
    knownText.set(s, t);
  }
  return t;
}

/** A whole number below 1,000, as three digits. */
const three = (k: number): string => (k < 10 ? `00${k}` : k < 100 ? `0${k}` : String(k));

/**
 * A number as JSON writes it. A duration is whole microseconds over 1,000
 * (toAuditRecord rounds it so), and V8's general double-to-text conversion
 * took a microsecond a line; such a number is written from its integer parts,
 * which give the same text: the shortest decimal that reads back as it.
 */
function num(n: number): string {
  const k = Math.round(n * 1000);
  if (k >= 0 && k < 1e12 && k / 1000 === n) {
    const whole = Math.floor(k / 1000);
    const frac = k - whole * 1000;
    return frac === 0 ? String(whole) : `${whole}.${three(frac).replace(/0+$/, '')}`;
  }
  return Number.isFinite(n) ? String(n) : 'null';
}

/**
 * `JSON.stringify(record)`, character for character, at half its cost: the
 * keys are known, and most values need no escaping, which one regular
 * expression test tells. A check writes one of these on every request.
 */
export function auditRecordJson(r: AuditRecord): string {
  const detail = r.detail === undefined ? '' : `,"detail":${str(r.detail)}`;
  return (
    `{"request_id":${str(r.request_id)},"tenant":${strOrNull(r.tenant)},"host":${str(r.host)},"method":${str(r.method)},"path":${str(r.path)},` +
    `"source":${strOrNull(r.source)},"outcome":${str(r.outcome)},"reason":${str(r.reason)},"status":${num(r.status)}${detail},` +
    `"app":${strKnownOrNull(r.app)},"policy":${strKnownOrNull(r.policy)},"user_sub":${strKnownOrNull(r.user_sub)},"user_email":${strKnownOrNull(r.user_email)},"idp":${strKnownOrNull(r.idp)},` +
    `"cert_fingerprint":${strOrNull(r.cert_fingerprint)},"cert_subject":${strOrNull(r.cert_subject)},"cache_hit":${r.cache_hit ? 'true' : 'false'},"duration_ms":${num(r.duration_ms)}}`
  );
}

export function writeAudit(logger: Logger, record: AuditRecord): void {
  if (!writeInfoLine(logger, 'decision', auditRecordJson(record), 'decision')) logger.info({ decision: record }, 'decision');
}

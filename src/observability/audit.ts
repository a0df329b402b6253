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
  readonly detail?: string;
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
    ...(decision.allow ? {} : { detail: clip(decision.detail) }),
    cert_fingerprint: decision.identity?.fingerprint256 ?? null,
    cert_subject: decision.identity ? clip(decision.identity.subject) : null,
    cache_hit: decision.cacheHit,
    duration_ms: Math.round(durationMs * 1000) / 1000,
  };
}

export function writeAudit(logger: Logger, record: AuditRecord): void {
  if (!writeInfoLine(logger, 'decision', JSON.stringify(record), 'decision')) logger.info({ decision: record }, 'decision');
}

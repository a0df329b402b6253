/**
 * Recent access decisions, kept in memory for `GET /v1/decisions`. The ext_authz
 * server calls `record` once per Check (beside the decision log line); the
 * admin API reads them back with filters. Bounded: the oldest are dropped.
 *
 * This is "what just happened on this replica", for debugging a denial while
 * the user is on the phone; the durable, fleet-wide record is the JSON decision
 * log line each replica writes.
 */
import type { CheckInput, Decision } from '../core/decision.js';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import { createRingBuffer } from './ring-buffer.js';

/** One decision as the admin API shows it. Field names match the decision log line where both have them. */
export interface DecisionRecord {
  /** ms since the epoch. */
  readonly time: number;
  readonly request_id: string;
  readonly host: string;
  /** Without the query string: query strings often carry secrets. */
  readonly path: string;
  readonly method: string;
  readonly tenant: string | null;
  readonly app: string | null;
  readonly allow: boolean;
  /** 200 for allowed requests, else the status of the denial. */
  readonly status: number;
  /** The reason code from `src/core/reasons.ts`. */
  readonly reason: string;
  /** The signed-in user's `sub`, when a session decided. */
  readonly sub: string | null;
  readonly email: string | null;
  /** Lowercase hex SHA-256 of the client certificate, when one was verified. */
  readonly cert_fingerprint: string | null;
}

/** Filters of {@link DecisionLog.recent}; all optional, combined with AND. */
export interface DecisionQuery {
  /** Only decisions at or after this time (ms since the epoch). */
  readonly since?: number | undefined;
  /** Exact host as recorded (lowercase, no port). */
  readonly host?: string | undefined;
  readonly tenant?: string | undefined;
  readonly reason?: string | undefined;
  readonly allow?: boolean | undefined;
  /** Default {@link ADMIN_DEFAULTS}.queryLimitDefault. */
  readonly limit?: number | undefined;
}

/** Where the admin API reads decisions from. */
export interface DecisionLog {
  /** Matching decisions, newest first. */
  recent(query: DecisionQuery): DecisionRecord[];
}

/** The in-memory log, with the method the ext_authz server calls. */
export interface MemoryDecisionLog extends DecisionLog {
  record(record: DecisionRecord): void;
  readonly size: number;
}

/**
 * Creates the bounded in-memory decision log.
 *
 * @example
 * ```ts
 * const decisions = createDecisionLog({ capacity: 10_000 });
 * decisions.record(toDecisionRecord(input, decision, Date.now()));
 * decisions.recent({ tenant: 'acme', allow: false, limit: 20 });
 * ```
 */
export function createDecisionLog(options: { capacity?: number } = {}): MemoryDecisionLog {
  const ring = createRingBuffer<DecisionRecord>(options.capacity ?? ADMIN_DEFAULTS.decisionLogCapacity);
  return {
    record(r) {
      ring.push(Object.freeze({ ...r }));
    },
    recent(q) {
      const limit = q.limit ?? ADMIN_DEFAULTS.queryLimitDefault;
      return ring.newestFirst(
        (r) =>
          (q.since === undefined || r.time >= q.since) &&
          (q.host === undefined || r.host === q.host) &&
          (q.tenant === undefined || r.tenant === q.tenant) &&
          (q.reason === undefined || r.reason === q.reason) &&
          (q.allow === undefined || r.allow === q.allow),
        limit,
      );
    },
    get size() {
      return ring.size;
    },
  };
}

function clip(s: string): string {
  const max = ADMIN_DEFAULTS.maxDecisionFieldChars;
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * The record of one Check, from the same inputs the decision log line is made
 * of. The host is lowercased and stripped of its port so `?host=` filters match
 * what operators type.
 */
export function toDecisionRecord(input: CheckInput, decision: Decision, nowMs: number): DecisionRecord {
  const q = input.path.indexOf('?');
  const session = decision.allow ? decision.user?.session : decision.session;
  return {
    time: nowMs,
    request_id: clip(input.requestId),
    host: clip(hostOnly(input.authority)),
    path: clip(q >= 0 ? input.path.slice(0, q) : input.path),
    method: clip(input.method),
    tenant: decision.tenant ?? null,
    app: decision.app ?? null,
    allow: decision.allow,
    status: decision.allow ? 200 : decision.status,
    reason: decision.reason,
    sub: session?.sub ?? null,
    email: session?.email ?? null,
    cert_fingerprint: decision.identity?.fingerprint256 ?? null,
  };
}

/** `Pay.Acme.Example:8443` → `pay.acme.example`; `[::1]:8443` → `[::1]`. */
function hostOnly(authority: string): string {
  const lower = authority.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end > 0 ? lower.slice(0, end + 1) : lower;
  }
  const colon = lower.lastIndexOf(':');
  const host = colon >= 0 && lower.indexOf(':') === colon ? lower.slice(0, colon) : lower;
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

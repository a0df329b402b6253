/**
 * The audit trail of the admin API: one entry per change attempt (who, what,
 * when, result). Entries never hold secrets: CA bundles appear as certificate
 * fingerprints, tokens as their ids.
 */
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import { createRingBuffer } from './ring-buffer.js';

/** One audited change. */
export interface AuditEntry {
  /** ms since the epoch, by the server's clock. */
  readonly time: number;
  /** The admin token id that made the call ("who"). */
  readonly actor: string;
  /** What was attempted, as `resource.verb`: `tenant.create`, `tenant.ca.replace`, `session.revoke`… */
  readonly action: string;
  readonly method: string;
  /** The request path, without query string. */
  readonly path: string;
  /** The object changed: a tenant name, a session id, a user's sub; null when there is none. */
  readonly target: string | null;
  /** The HTTP status answered. */
  readonly status: number;
  /** `ok`, or the error code answered. */
  readonly result: string;
  /** What changed, in a few secret-free fields (hostnames, CA fingerprints, mode). */
  readonly summary: Readonly<Record<string, unknown>>;
  readonly request_id: string;
}

/** Filters of {@link AuditSink.recent}, combined with AND. */
export interface AuditQuery {
  readonly since?: number | undefined;
  readonly actor?: string | undefined;
  readonly target?: string | undefined;
  readonly limit?: number | undefined;
}

/**
 * Where audit entries go besides the log. `write` rejects when the entry could
 * not be kept; the server then logs that at error level (the JSON log line is
 * the second copy, written first).
 */
export interface AuditSink {
  write(entry: AuditEntry): Promise<void>;
  /** Matching entries, newest first. */
  recent(query: AuditQuery): Promise<AuditEntry[]>;
}

/**
 * A bounded in-memory {@link AuditSink}, for a single replica without a
 * database: the newest `capacity` entries survive until restart.
 *
 * @example
 * ```ts
 * const audit = createMemoryAuditSink({ capacity: 10_000 });
 * ```
 */
export function createMemoryAuditSink(options: { capacity?: number } = {}): AuditSink & { readonly size: number } {
  const ring = createRingBuffer<AuditEntry>(options.capacity ?? ADMIN_DEFAULTS.auditMemoryCapacity);
  return {
    write(entry) {
      ring.push(Object.freeze({ ...entry }));
      return Promise.resolve();
    },
    recent(q) {
      const limit = q.limit ?? ADMIN_DEFAULTS.queryLimitDefault;
      return Promise.resolve(
        ring.newestFirst(
          (e) => (q.since === undefined || e.time >= q.since) && (q.actor === undefined || e.actor === q.actor) && (q.target === undefined || e.target === q.target),
          limit,
        ),
      );
    },
    get size() {
      return ring.size;
    },
  };
}

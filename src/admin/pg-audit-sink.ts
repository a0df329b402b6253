/**
 * The admin audit trail in PostgreSQL (table `admin_audit`, migration 2 of
 * `src/stores/postgres/migrations.ts`), shared by every replica, so
 * `GET /v1/audit` shows changes made through any of them.
 */
import type pg from 'pg';
import { runMigrations } from '../stores/postgres/migrations.js';
import type { AuditEntry, AuditQuery, AuditSink } from './audit-sink.js';
import { ADMIN_DEFAULTS } from '../config/defaults.js';
import { AdminError } from './errors.js';

export interface PgAuditSinkOptions {
  /** The pool to write on; the caller owns it and closes it. */
  readonly pool: pg.Pool;
  /**
   * Run the schema migrations first (default true). They are idempotent and
   * serialised by an advisory lock, so running them again beside the tenant
   * store costs one short transaction.
   */
  readonly migrate?: boolean | undefined;
}

interface AuditRow {
  time_ms: string;
  actor: string;
  action: string;
  method: string;
  path: string;
  target: string | null;
  status: number;
  result: string;
  summary: Record<string, unknown>;
  request_id: string;
}

const INSERT = `INSERT INTO admin_audit (at, actor, action, method, path, target, status, result, summary, request_id)
VALUES (to_timestamp($1::float8 / 1000), $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)`;

const SELECT = `SELECT round(extract(epoch FROM at) * 1000)::bigint::text AS time_ms, actor, action, method, path, target, status, result, summary, request_id
FROM admin_audit
WHERE ($1::float8 IS NULL OR at >= to_timestamp($1::float8 / 1000))
  AND ($2::text IS NULL OR actor = $2)
  AND ($3::text IS NULL OR target = $3)
ORDER BY at DESC, id DESC
LIMIT $4`;

/**
 * Opens the PostgreSQL audit sink.
 *
 * @example
 * ```ts
 * const audit = await createPgAuditSink({ pool });
 * const server = createAdminServer({ ..., audit });
 * ```
 */
export async function createPgAuditSink(options: PgAuditSinkOptions): Promise<AuditSink> {
  const { pool } = options;
  if (options.migrate !== false) await runMigrations(pool);
  return {
    async write(e: AuditEntry) {
      await pool.query(INSERT, [e.time, e.actor, e.action, e.method, e.path, e.target, e.status, e.result, JSON.stringify(e.summary), e.request_id]);
    },
    async recent(q: AuditQuery) {
      let rows: AuditRow[];
      try {
        rows = (await pool.query<AuditRow>(SELECT, [q.since ?? null, q.actor ?? null, q.target ?? null, q.limit ?? ADMIN_DEFAULTS.queryLimitDefault])).rows;
      } catch (err) {
        throw new AdminError('ERR_ADMIN_UNAVAILABLE', `audit store unavailable: ${(err as Error).message}`, { cause: err });
      }
      return rows.map((r) => ({
        time: Number(r.time_ms),
        actor: r.actor,
        action: r.action,
        method: r.method,
        path: r.path,
        target: r.target,
        status: r.status,
        result: r.result,
        summary: r.summary,
        request_id: r.request_id,
      }));
    },
  };
}

/** The admin API's reads: one tenant as stored, and pages of tenant summaries. */
import type pg from 'pg';
import { TENANT_LIMITS } from '../../config/defaults.js';
import { TenantStoreError, type ListTenantsOptions, type TenantPage, type TenantRecord } from '../tenant-store.js';
import { toStoreError } from './pg-errors.js';
import { reportTrust, type TrustReport } from '../../core/trust-anchor.js';
import { SQL, toMode, toRecord, type SummaryRow, type TenantParser, type TenantRow } from './tenant-rows.js';

/** The trust status of a stored row, judged exactly as this replica serves it (stored revocation settings included). */
export type RowJudge = (row: TenantRow) => TrustReport;

export function judgeWith(parser: TenantParser, nowMs: () => number): RowJudge {
  return (row) => reportTrust(parser.toTenant(row).mtls.trust, nowMs());
}

export async function readRecord(client: pg.PoolClient | pg.Pool, name: string, judge: RowJudge): Promise<TenantRecord | undefined> {
  const row = (await client.query<TenantRow>(SQL.getTenant, [name])).rows[0];
  return row ? { ...toRecord(row), trust: judge(row) } : undefined;
}

export async function getTenant(pool: pg.Pool, name: string, judge: RowJudge): Promise<TenantRecord | undefined> {
  try {
    return await readRecord(pool, name, judge);
  } catch (err) {
    throw toStoreError(err);
  }
}

export async function listTenants(pool: pg.Pool, opts: ListTenantsOptions = {}): Promise<TenantPage> {
  const limit = opts.limit ?? TENANT_LIMITS.listDefault;
  if (!Number.isInteger(limit) || limit < 1 || limit > TENANT_LIMITS.listMax) {
    throw new TenantStoreError('ERR_TENANT_INVALID', `limit: must be a whole number from 1 to ${TENANT_LIMITS.listMax}; got ${String(limit)}`, { field: 'limit' });
  }
  let rows: SummaryRow[];
  try {
    // One extra row says whether there is a next page without a count(*).
    rows = (await pool.query<SummaryRow>(SQL.listTenants, [opts.after ?? null, limit + 1])).rows;
  } catch (err) {
    throw toStoreError(err);
  }
  const page = rows.slice(0, limit);
  return {
    items: page.map((r) => ({ name: r.name, hostnames: r.hostnames, mode: toMode(r.mtls_mode), version: Number(r.version) })),
    next: rows.length > limit ? page[page.length - 1]?.name : undefined,
  };
}

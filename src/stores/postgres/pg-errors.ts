import pg from 'pg';
import { TenantStoreError } from '../tenant-store.js';

/**
 * SQLSTATEs that mean "the server is going away or not letting us in", not
 * "your statement is wrong" (PostgreSQL appendix A): class 08 connection
 * exception and class 28 authorization (rotated credentials), 57P01-57P03
 * shutdown and startup, 53300 too many connections, 3D000 no such database, and
 * 55000, which is what a database with ALLOW_CONNECTIONS false answers.
 */
const UNAVAILABLE_STATES: ReadonlySet<string> = new Set(['57P01', '57P02', '57P03', '53300', '3D000', '55000']);

/** What node-postgres says, without a SQLSTATE, when the connection is refused, lost, or too slow. */
const CLIENT_SIDE_FAILURE = /connect|connection|terminated|timeout|not queryable|after calling end/i;

/**
 * True when `err` says the database could not be reached or dropped us, as
 * opposed to a statement error or a bug. Server errors carry a SQLSTATE; pg
 * reports refused connections, resets and timeouts as system errors (`ECONNREFUSED`)
 * or plain errors ("Connection terminated unexpectedly", "Query read timeout").
 */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof pg.DatabaseError) {
    const code = err.code ?? '';
    return code.startsWith('08') || code.startsWith('28') || UNAVAILABLE_STATES.has(code);
  }
  if (!(err instanceof Error) || err instanceof TenantStoreError) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (typeof code === 'string' && /^E[A-Z]+$/.test(code)) || CLIENT_SIDE_FAILURE.test(err.message);
}

/**
 * Turns a connection failure into `ERR_STORE_UNAVAILABLE`; anything else is
 * returned unchanged (it is a bug to see). With `connecting`, every error counts:
 * failing to get a connection at all always means the store is unavailable.
 */
export function toStoreError(err: unknown, connecting = false): unknown {
  if (err instanceof TenantStoreError || !(connecting || isConnectionError(err))) return err;
  return new TenantStoreError('ERR_STORE_UNAVAILABLE', `tenant database unavailable: ${(err as Error).message}`, { cause: err });
}

/** SQLSTATE 23505: a unique constraint refused a row. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof pg.DatabaseError && err.code === '23505';
}

/**
 * The admin API's writes. Each runs in one transaction that also sends the
 * change's NOTIFY, so every replica hears of it exactly when it commits.
 */
import type pg from 'pg';
import { TENANT_LIMITS } from '../../config/defaults.js';
import { checkHostname, checkTenantInput } from '../tenant-input-check.js';
import { TenantStoreError, type PutCondition, type PutTenantResult, type TenantInput, type TenantRecord, type TenantStore } from '../tenant-store.js';
import { revocationToInput } from '../tenant-revocation.js';
import { policiesToInput } from '../tenant-policies.js';
import { chunkPayloads } from './change-payload.js';
import { isConnectionError, isUniqueViolation, toStoreError } from './pg-errors.js';
import { readRecord, type RowJudge } from './tenant-reads.js';
import { SQL } from './tenant-rows.js';

export interface TenantWriterDeps {
  readonly pool: pg.Pool;
  /** Judges the written tenant's trust status as this replica will serve it. */
  readonly judge: RowJudge;
  readonly channel: string;
  /** The clock that decides whether an uploaded CA is expired. */
  now(): number;
  closed(): boolean;
  /** A write found the database gone. */
  markDown(err: Error): void;
  /** This replica's own writes take effect here at once, not a NOTIFY round trip later. */
  afterWrite(name: string, hostnames: readonly string[]): void;
}

export type TenantWriter = Pick<TenantStore, 'putTenant' | 'deleteTenant' | 'addHostname' | 'removeHostname'>;

export function createTenantWriter(d: TenantWriterDeps): TenantWriter {
  /** Runs `work` in a transaction on one pooled connection; connection failures become `ERR_STORE_UNAVAILABLE`. */
  const transaction = async <T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    if (d.closed()) throw new TenantStoreError('ERR_STORE_UNAVAILABLE', 'tenant store is closed');
    let client: pg.PoolClient;
    try {
      client = await d.pool.connect();
    } catch (err) {
      d.markDown(err instanceof Error ? err : new Error(String(err)));
      throw toStoreError(err, true);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const out = await work(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (isConnectionError(err)) {
        broken = err as Error;
        d.markDown(broken);
      }
      throw toStoreError(err);
    } finally {
      // A connection that failed must not go back to the pool for the next caller.
      client.release(broken);
    }
  };

  /** Queues the change for every replica (this one included) at commit, in chunks under the payload limit. */
  const notify = async (client: pg.PoolClient, name: string, hostnames: Iterable<string>): Promise<void> => {
    await client.query(SQL.notify, [d.channel, chunkPayloads(name, [...new Set(hostnames)])]);
  };

  const afterWrite = (name: string, hostnames: Iterable<string>): void => d.afterWrite(name, [...new Set(hostnames)]);

  return {
    async putTenant(input: TenantInput, condition?: PutCondition): Promise<PutTenantResult> {
      const checked = checkTenantInput(input, d.now());
      const touched = new Set(checked.hostnames);
      const result = await transaction(async (client) => {
        if (condition) {
          // Locks the row when it exists; a concurrent first insert of the same name waits on the unique index below.
          const found = (await client.query<{ version: string }>('SELECT version::text AS version FROM tenants WHERE name = $1 FOR UPDATE', [checked.name])).rows[0];
          if ('absent' in condition && found) throw new TenantStoreError('ERR_TENANT_CONFLICT', `tenant '${checked.name}' already exists`, { field: 'name' });
          if ('version' in condition && (!found || Number(found.version) !== condition.version)) {
            throw new TenantStoreError(
              'ERR_TENANT_CONFLICT',
              found ? `tenant '${checked.name}' changed meanwhile (version ${found.version}, this change was made on version ${condition.version}); read it again and retry` : `tenant '${checked.name}' was deleted meanwhile`,
              { field: 'name' },
            );
          }
        }
        const up = await client.query<{ created: boolean }>(SQL.upsertTenant, [
          checked.name,
          checked.mode,
          checked.staleCrl,
          checked.exemptPaths,
          checked.revocation ? JSON.stringify(revocationToInput(checked.revocation)) : null,
          checked.certificatePolicies ? JSON.stringify(policiesToInput(checked.certificatePolicies)) : null,
        ]);
        // Two creates racing past the check above: the second one's upsert replaced the first; refuse it instead.
        if (condition && 'absent' in condition && up.rows[0]?.created !== true) throw new TenantStoreError('ERR_TENANT_CONFLICT', `tenant '${checked.name}' already exists`, { field: 'name' });
        const previous = (await client.query<{ hostname: string }>(SQL.hostnamesOf, [checked.name])).rows.map((r) => r.hostname);
        for (const h of previous) touched.add(h);
        const taken = (await client.query<{ hostname: string; tenant_name: string }>(SQL.takenHostnames, [checked.hostnames, checked.name])).rows[0];
        if (taken) throw hostnameTaken(taken.hostname, taken.tenant_name);
        await client.query(SQL.dropOtherHostnames, [checked.name, checked.hostnames]);
        await insertHostnames(client, checked.name, checked.hostnames, previous);
        await client.query(SQL.deleteCa, [checked.name]);
        if (checked.caPem !== null) await client.query(SQL.insertCa, [checked.name, checked.caPem, checked.caSha256]);
        await client.query(SQL.deleteCrls, [checked.name]);
        if (checked.crlPems.length > 0) await client.query(SQL.insertCrls, [checked.name, checked.crlPems]);
        await notify(client, checked.name, touched);
        return { record: await mustRead(client, checked.name, d.judge), created: up.rows[0]?.created === true, warnings: checked.warnings };
      });
      afterWrite(checked.name, touched);
      return result;
    },

    async deleteTenant(name) {
      const hostnames = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        await client.query(SQL.deleteTenant, [name]);
        await notify(client, name, previous);
        return previous;
      });
      afterWrite(name, hostnames);
    },

    async addHostname(name, hostname) {
      const host = checkHostname(hostname);
      const record = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        if (previous.includes(host)) return mustRead(client, name, d.judge);
        if (previous.length >= TENANT_LIMITS.maxHostnames) {
          throw new TenantStoreError('ERR_TENANT_INVALID', `hostnames: at most ${TENANT_LIMITS.maxHostnames} hostnames; use a wildcard`, { field: 'hostnames' });
        }
        const taken = (await client.query<{ hostname: string; tenant_name: string }>(SQL.takenHostnames, [[host], name])).rows[0];
        if (taken) throw hostnameTaken(taken.hostname, taken.tenant_name);
        await insertHostnames(client, name, [host], previous);
        await client.query(SQL.bumpVersion, [name]);
        await notify(client, name, [host]);
        return mustRead(client, name, d.judge);
      });
      afterWrite(name, [host]);
      return record;
    },

    async removeHostname(name, hostname) {
      const host = checkHostname(hostname);
      const record = await transaction(async (client) => {
        const previous = await lockTenant(client, name);
        if (!previous.includes(host)) {
          throw new TenantStoreError('ERR_HOSTNAME_NOT_FOUND', `tenant '${name}' has no hostname '${host}'`, { field: 'hostname' });
        }
        if (previous.length === 1) {
          throw new TenantStoreError('ERR_TENANT_INVALID', `hostname: '${host}' is the last hostname of tenant '${name}'; delete the tenant instead`, { field: 'hostname' });
        }
        await client.query(SQL.deleteHostname, [name, host]);
        await client.query(SQL.bumpVersion, [name]);
        await notify(client, name, [host]);
        return mustRead(client, name, d.judge);
      });
      afterWrite(name, [host]);
      return record;
    },
  };
}

/** Locks the tenant's row for the transaction and returns its hostnames. */
async function lockTenant(client: pg.PoolClient, name: string): Promise<string[]> {
  if ((await client.query(SQL.lockTenant, [name])).rowCount === 0) {
    throw new TenantStoreError('ERR_TENANT_NOT_FOUND', `no tenant named '${name}'`, { field: 'name' });
  }
  return (await client.query<{ hostname: string }>(SQL.hostnamesOf, [name])).rows.map((r) => r.hostname);
}

async function mustRead(client: pg.PoolClient, name: string, judge: RowJudge): Promise<TenantRecord> {
  const record = await readRecord(client, name, judge);
  if (!record) throw new TenantStoreError('ERR_TENANT_NOT_FOUND', `no tenant named '${name}'`, { field: 'name' });
  return record;
}

/** Inserts the names not already owned; a concurrent claim by another tenant surfaces as `ERR_HOSTNAME_TAKEN`. */
async function insertHostnames(client: pg.PoolClient, name: string, hostnames: readonly string[], owned: readonly string[]): Promise<void> {
  try {
    await client.query(SQL.insertHostnames, [name, hostnames, owned]);
  } catch (err) {
    if (isUniqueViolation(err)) throw hostnameTaken(undefined, undefined, err);
    throw err;
  }
}

function hostnameTaken(hostname: string | undefined, owner: string | undefined, cause?: unknown): TenantStoreError {
  const message =
    hostname === undefined
      ? 'hostnames: one of the hostnames was just taken by another tenant'
      : `hostnames: '${hostname}' already belongs to tenant '${owner ?? 'another tenant'}'; remove it there first`;
  return new TenantStoreError('ERR_HOSTNAME_TAKEN', message, { field: 'hostnames', ...(owner === undefined ? {} : { owner }), cause });
}

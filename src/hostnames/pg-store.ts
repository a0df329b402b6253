/**
 * The hostname store of a fleet, in the tenant store's PostgreSQL database
 * (tables from migration 4, stores/postgres/migrations.ts). Work is leased
 * row by row (`FOR UPDATE SKIP LOCKED`, then a lease owner and deadline on
 * the row), so replicas share the due hostnames and never order twice for
 * one. The ACME account is created under a transaction-scoped advisory lock,
 * so replicas starting together register one account. Changes are announced
 * with NOTIFY, and each replica's catalog re-reads the hostname.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import { HOSTNAME_DEFAULTS, PG_STORE_DEFAULTS } from '../config/defaults.js';
import { ChangeListener } from '../stores/postgres/change-listener.js';
import { runMigrations } from '../stores/postgres/migrations.js';
import { isConnectionError, isUniqueViolation } from '../stores/postgres/pg-errors.js';
import { guardPoolConnections } from '../stores/postgres/pool-guard.js';
import type { CertificateSource, HostnameReason, HostnameState } from './lifecycle.js';
import { HostnameStoreError, type HostnamePatch, type HostnameRecord, type HostnameStore, type NewHostname, type SealedEntry, type StateCount, type StoredAccount } from './store.js';

export interface PgHostnameStoreOptions {
  readonly connection: pg.ClientConfig;
  /** A pool shared with the tenant store; the caller closes it. Default: a pool of its own. */
  readonly pool?: pg.Pool | undefined;
  readonly logger?: Logger | undefined;
  readonly channel?: string | undefined;
}

interface Row {
  hostname: string;
  tenant_name: string;
  wildcard: boolean;
  source: CertificateSource;
  state: HostnameState;
  reason: HostnameReason | null;
  reason_detail: string | null;
  certificate_chain_pem: string | null;
  sealed_key: string | null;
  not_before_ms: string | null;
  not_after_ms: string | null;
  renew_at_ms: string | null;
  next_attempt_at_ms: string | null;
  attempts: number;
  order_url: string | null;
  version: string;
  created_at_ms: string;
  updated_at_ms: string;
}

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function fromRow(r: Row): HostnameRecord {
  return {
    hostname: r.hostname,
    tenant: r.tenant_name,
    wildcard: r.wildcard,
    source: r.source,
    state: r.state,
    reason: r.reason,
    reasonDetail: r.reason_detail,
    certificateChainPem: r.certificate_chain_pem,
    sealedKey: r.sealed_key,
    notBefore: num(r.not_before_ms),
    notAfter: num(r.not_after_ms),
    renewAt: num(r.renew_at_ms),
    nextAttemptAt: num(r.next_attempt_at_ms),
    attempts: r.attempts,
    orderUrl: r.order_url,
    version: Number(r.version),
    createdAt: Number(r.created_at_ms),
    updatedAt: Number(r.updated_at_ms),
  };
}

/** Record field → column, for the fields an update may set. */
const COLUMNS: Readonly<Record<keyof HostnamePatch, string>> = {
  source: 'source',
  state: 'state',
  reason: 'reason',
  reasonDetail: 'reason_detail',
  certificateChainPem: 'certificate_chain_pem',
  sealedKey: 'sealed_key',
  notBefore: 'not_before_ms',
  notAfter: 'not_after_ms',
  renewAt: 'renew_at_ms',
  nextAttemptAt: 'next_attempt_at_ms',
  attempts: 'attempts',
  orderUrl: 'order_url',
};

const SELECT = `SELECT hostname, tenant_name, wildcard, source, state, reason, reason_detail, certificate_chain_pem, sealed_key,
  not_before_ms::text, not_after_ms::text, renew_at_ms::text, next_attempt_at_ms::text, attempts, order_url, version::text,
  created_at_ms::text, updated_at_ms::text FROM custom_hostnames`;
const RETURNING = `RETURNING hostname, tenant_name, wildcard, source, state, reason, reason_detail, certificate_chain_pem, sealed_key,
  not_before_ms::text, not_after_ms::text, renew_at_ms::text, next_attempt_at_ms::text, attempts, order_url, version::text,
  created_at_ms::text, updated_at_ms::text`;

export interface PgHostnameStore extends HostnameStore {
  readonly pool: pg.Pool;
}

/** Migrates the schema, starts listening for changes, and returns the store. */
export async function createPgHostnameStore(options: PgHostnameStoreOptions): Promise<PgHostnameStore> {
  const ownPool = options.pool === undefined;
  const pool =
    options.pool ??
    new pg.Pool({
      max: PG_STORE_DEFAULTS.pool.max,
      connectionTimeoutMillis: PG_STORE_DEFAULTS.pool.connectionTimeoutMillis,
      query_timeout: PG_STORE_DEFAULTS.pool.queryTimeoutMillis,
      application_name: 'bouncer-hostnames',
      ...options.connection,
    });
  const logger = options.logger;
  if (ownPool) {
    guardPoolConnections(pool, (err) => logger?.warn({ message: err.message }, 'hostname store: a database connection failed'));
    pool.on('error', (err) => logger?.warn({ message: err.message }, 'hostname store: an idle database connection failed'));
  }
  const channel = options.channel ?? HOSTNAME_DEFAULTS.channel;
  const listeners = new Set<(hostname: string) => void>();
  const emit = (hostname: string): void => {
    for (const l of [...listeners]) l(hostname);
  };

  const q = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> => {
    try {
      return await pool.query<R>(text, values);
    } catch (err) {
      if (isConnectionError(err)) throw new HostnameStoreError('ERR_STORE_UNAVAILABLE', `hostname database unavailable: ${(err as Error).message}`, { cause: err });
      throw err;
    }
  };
  const announce = async (hostname: string): Promise<void> => {
    emit(hostname);
    await q('SELECT pg_notify($1, $2)', [channel, hostname]).catch((err: unknown) => logger?.warn({ message: (err as Error).message }, 'hostname store: change not announced; other replicas see it at their next resync'));
  };

  await runMigrations(pool);
  const listener = new ChangeListener({
    connection: { keepAlive: true, application_name: 'bouncer-hostnames-listen', ...options.connection, query_timeout: PG_STORE_DEFAULTS.pool.queryTimeoutMillis },
    channel,
    reconnect: PG_STORE_DEFAULTS.reconnect,
    pingIntervalMs: PG_STORE_DEFAULTS.pingIntervalMs,
    onNotify: (hostname) => emit(hostname),
    async onUp(first) {
      if (!first) emit('*');
    },
    onDown(err) {
      logger?.warn({ message: err.message }, 'hostname store: change notifications lost; reconnecting');
    },
  });
  await listener.start();

  return {
    pool,
    async create(input: NewHostname, nowMs) {
      let res: pg.QueryResult<Row>;
      try {
        res = await q<Row>(
          `INSERT INTO custom_hostnames (hostname, tenant_name, wildcard, source, state, reason, reason_detail, certificate_chain_pem, sealed_key,
             not_before_ms, not_after_ms, next_attempt_at_ms, created_at_ms, updated_at_ms)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) ${RETURNING}`,
          [input.hostname, input.tenant, input.wildcard, input.source, input.state, input.reason ?? null, input.reasonDetail ?? null, input.certificateChainPem ?? null, input.sealedKey ?? null, input.notBefore ?? null, input.notAfter ?? null, input.nextAttemptAt, nowMs],
        );
      } catch (err) {
        if (isUniqueViolation(err)) {
          const owner = (await q<{ tenant_name: string }>('SELECT tenant_name FROM custom_hostnames WHERE hostname = $1', [input.hostname])).rows[0]?.tenant_name;
          throw new HostnameStoreError('ERR_CUSTOM_HOSTNAME_TAKEN', owner === input.tenant ? `${input.hostname} is already a custom hostname of tenant '${input.tenant}'` : `${input.hostname} belongs to another tenant`, { cause: err });
        }
        throw err;
      }
      await announce(input.hostname);
      return fromRow(res.rows[0] as Row);
    },
    async get(hostname) {
      const row = (await q<Row>(`${SELECT} WHERE hostname = $1`, [hostname])).rows[0];
      return row === undefined ? undefined : fromRow(row);
    },
    async list(o) {
      const res = await q<Row>(`${SELECT} WHERE ($1::text IS NULL OR tenant_name = $1) AND ($2::text IS NULL OR hostname > $2) ORDER BY hostname LIMIT $3`, [o.tenant ?? null, o.after ?? null, o.limit]);
      return res.rows.map(fromRow);
    },
    async listWithCertificates(tenant) {
      return (await q<Row>(`${SELECT} WHERE certificate_chain_pem IS NOT NULL AND sealed_key IS NOT NULL AND ($1::text IS NULL OR tenant_name = $1)`, [tenant ?? null])).rows.map(fromRow);
    },
    async update(hostname, patch, guard, nowMs) {
      const sets: string[] = [];
      const values: unknown[] = [hostname, guard.leaseOwner ?? null, guard.version ?? null, nowMs];
      for (const [field, value] of Object.entries(patch) as Array<[keyof HostnamePatch, unknown]>) {
        if (value === undefined) continue;
        values.push(value);
        sets.push(`${COLUMNS[field]} = $${values.length}`);
      }
      const res = await q<Row>(
        `UPDATE custom_hostnames SET ${[...sets, 'version = version + 1', 'updated_at_ms = $4'].join(', ')}
         WHERE hostname = $1 AND ($2::text IS NULL OR lease_owner = $2) AND ($3::bigint IS NULL OR version = $3) ${RETURNING}`,
        values,
      );
      const row = res.rows[0];
      if (row === undefined) return undefined;
      await announce(hostname);
      return fromRow(row);
    },
    async remove(hostname) {
      const res = await q('DELETE FROM custom_hostnames WHERE hostname = $1', [hostname]);
      if ((res.rowCount ?? 0) === 0) return false;
      await announce(hostname);
      return true;
    },
    async claimDue(owner, nowMs, leaseMs, limit) {
      // SKIP LOCKED: replicas looking at the same moment take different rows instead of waiting for each other.
      const res = await q<Row>(
        `UPDATE custom_hostnames SET lease_owner = $1, lease_until_ms = $2::bigint + $3::bigint
         WHERE hostname IN (
           SELECT hostname FROM custom_hostnames
           WHERE next_attempt_at_ms <= $2 AND (lease_until_ms IS NULL OR lease_until_ms <= $2)
           ORDER BY next_attempt_at_ms LIMIT $4 FOR UPDATE SKIP LOCKED)
         ${RETURNING}`,
        [owner, nowMs, leaseMs, limit],
      );
      return res.rows.map(fromRow).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0));
    },
    async release(hostname, owner) {
      await q('UPDATE custom_hostnames SET lease_owner = NULL, lease_until_ms = NULL WHERE hostname = $1 AND lease_owner = $2', [hostname, owner]);
    },
    async countByState() {
      const res = await q<{ state: HostnameState; reason: HostnameReason | null; n: string }>('SELECT state, reason, count(*)::text AS n FROM custom_hostnames GROUP BY state, reason');
      return res.rows.map((r): StateCount => ({ state: r.state, reason: r.reason, count: Number(r.n) }));
    },
    async putChallenge(token, keyAuthorization, hostname, expiresAt, type = 'http-01') {
      await q(
        `INSERT INTO acme_challenges (token, key_authorization, hostname, expires_at_ms, challenge_type) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (token) DO UPDATE SET key_authorization = EXCLUDED.key_authorization, hostname = EXCLUDED.hostname, expires_at_ms = EXCLUDED.expires_at_ms,
           challenge_type = EXCLUDED.challenge_type`,
        [token, keyAuthorization, hostname, expiresAt, type],
      );
    },
    async getChallenge(token, nowMs) {
      return (await q<{ key_authorization: string }>("SELECT key_authorization FROM acme_challenges WHERE token = $1 AND expires_at_ms > $2 AND challenge_type = 'http-01'", [token, nowMs])).rows[0]?.key_authorization;
    },
    async getTlsAlpnChallenge(hostname, nowMs) {
      return (
        await q<{ key_authorization: string }>(
          "SELECT key_authorization FROM acme_challenges WHERE hostname = $1 AND challenge_type = 'tls-alpn-01' AND expires_at_ms > $2 ORDER BY expires_at_ms DESC LIMIT 1",
          [hostname, nowMs],
        )
      ).rows[0]?.key_authorization;
    },
    async deleteChallenge(token) {
      await q('DELETE FROM acme_challenges WHERE token = $1', [token]);
    },
    async account(directoryUrl, create): Promise<StoredAccount> {
      const read = async (c: pg.PoolClient | pg.Pool): Promise<StoredAccount | undefined> => {
        const row = (await c.query<{ account_url: string; sealed_key: string }>('SELECT account_url, sealed_key FROM acme_accounts WHERE directory_url = $1', [directoryUrl])).rows[0];
        return row === undefined ? undefined : { directoryUrl, accountUrl: row.account_url, sealedKey: row.sealed_key };
      };
      const known = await read(pool);
      if (known) return known;
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        // One replica registers; the others wait here, then read its account.
        await client.query("SELECT pg_advisory_xact_lock(hashtext('bouncer-acme-account|' || $1))", [directoryUrl]);
        const again = await read(client);
        if (again) {
          await client.query('COMMIT');
          return again;
        }
        const created = await create();
        await client.query('INSERT INTO acme_accounts (directory_url, account_url, sealed_key) VALUES ($1, $2, $3)', [directoryUrl, created.accountUrl, created.sealedKey]);
        await client.query('COMMIT');
        return created;
      } catch (err) {
        broken = isConnectionError(err) ? (err as Error) : undefined;
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async listSealed() {
      const hosts = await q<{ hostname: string; sealed_key: string }>('SELECT hostname, sealed_key FROM custom_hostnames WHERE sealed_key IS NOT NULL ORDER BY hostname');
      const accounts = await q<{ directory_url: string; sealed_key: string }>('SELECT directory_url, sealed_key FROM acme_accounts ORDER BY directory_url');
      return [
        ...hosts.rows.map((r): SealedEntry => ({ kind: 'hostname', id: r.hostname, sealedKey: r.sealed_key })),
        ...accounts.rows.map((r): SealedEntry => ({ kind: 'account', id: r.directory_url, sealedKey: r.sealed_key })),
      ];
    },
    async replaceSealed(entry, replacement) {
      const res =
        entry.kind === 'hostname'
          ? await q('UPDATE custom_hostnames SET sealed_key = $3 WHERE hostname = $1 AND sealed_key = $2', [entry.id, entry.sealedKey, replacement])
          : await q('UPDATE acme_accounts SET sealed_key = $3 WHERE directory_url = $1 AND sealed_key = $2', [entry.id, entry.sealedKey, replacement]);
      return (res.rowCount ?? 0) === 1;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
      await listener.close();
      if (ownPool) await pool.end();
    },
  };
}

import type pg from 'pg';
import { TenantStoreError } from '../tenant-store.js';
import { sha256Hex } from '../tenant-input-check.js';

/** One schema change. Applied migrations are never edited: add a new one instead. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The schema, in order. Names are plain because everything lives in the
 * database (or schema, via `search_path`) the deployment gives bouncer.
 *
 * - Hostnames are their own table with the hostname as primary key, so the
 *   database itself guarantees no two tenants own one name, even when two
 *   replicas accept conflicting API calls at the same moment.
 * - `version` grows with every change; replicas compare it after an outage to
 *   find which cached tenants went stale while they were not listening.
 * - The CA bundle keeps its SHA-256 so replicas parse a bundle shared by many
 *   tenants once (parsing is most of a cold load).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'tenants',
    sql: `
CREATE TABLE tenants (
  name text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
  mtls_mode text NOT NULL CHECK (mtls_mode IN ('require', 'optional', 'off')),
  stale_crl text NOT NULL CHECK (stale_crl IN ('deny', 'use')),
  exempt_paths text[] NOT NULL DEFAULT '{}',
  version bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE tenant_hostnames (
  hostname text PRIMARY KEY CHECK (hostname = lower(hostname) AND length(hostname) <= 253),
  tenant_name text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE
);
CREATE INDEX tenant_hostnames_tenant_idx ON tenant_hostnames (tenant_name);
CREATE TABLE tenant_ca_bundles (
  tenant_name text PRIMARY KEY REFERENCES tenants (name) ON DELETE CASCADE,
  pem text NOT NULL,
  sha256 text NOT NULL
);
CREATE TABLE tenant_crls (
  tenant_name text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
  position integer NOT NULL,
  pem text NOT NULL,
  PRIMARY KEY (tenant_name, position)
);
`,
  },
  {
    // The admin API's audit trail (src/admin/pg-audit-sink.ts): one row per change
    // attempt, appended and never updated. Kept here so every replica's start-up
    // migration creates it, whichever replica serves the admin API.
    version: 2,
    name: 'admin_audit',
    sql: `
CREATE TABLE admin_audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  actor text NOT NULL,
  action text NOT NULL,
  method text NOT NULL,
  path text NOT NULL,
  target text,
  status integer NOT NULL,
  result text NOT NULL,
  summary jsonb NOT NULL DEFAULT '{}'::jsonb,
  request_id text NOT NULL
);
CREATE INDEX admin_audit_at_idx ON admin_audit (at DESC, id DESC);
`,
  },
  {
    // Config sections kept in the database (src/stores/postgres/config-documents.ts):
    // one row per document, its sections as JSON in the config file's own shape,
    // so they go through the file's validation unchanged.
    version: 3,
    name: 'config_documents',
    sql: `
CREATE TABLE config_documents (
  name text PRIMARY KEY,
  body jsonb NOT NULL,
  version bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL
);
`,
  },
  {
    // A tenant's `mtls.revocation` (OCSP, fetched CRLs), as the config file has it.
    // Null, as for every tenant stored before, means no network revocation checks.
    // JSON because its fields grow with the file's; every read checks it again with
    // the file's rules (src/stores/tenant-revocation.ts).
    version: 4,
    name: 'tenant_revocation',
    sql: `
ALTER TABLE tenants ADD COLUMN revocation jsonb CHECK (revocation IS NULL OR jsonb_typeof(revocation) = 'object');
`,
  },
  {
    // Customer hostnames and their certificates (src/hostnames/pg-store.ts). Keys
    // are only ever stored as key envelopes ('bk1.' prefix, src/hostnames/key-envelope.ts);
    // the CHECK makes a plain PEM key impossible to store by mistake. Times are ms since
    // the epoch by the writing replica's clock, as the lifecycle computes them.
    version: 5,
    name: 'custom_hostnames',
    sql: `
CREATE TABLE custom_hostnames (
  hostname text PRIMARY KEY CHECK (hostname = lower(hostname) AND length(hostname) <= 253),
  tenant_name text NOT NULL REFERENCES tenants (name) ON DELETE CASCADE,
  wildcard boolean NOT NULL,
  source text NOT NULL CHECK (source IN ('acme', 'upload')),
  state text NOT NULL CHECK (state IN ('pending_validation', 'issuing', 'active', 'renewing', 'failed')),
  reason text,
  reason_detail text,
  certificate_chain_pem text,
  sealed_key text CHECK (sealed_key IS NULL OR sealed_key LIKE 'bk1.%'),
  not_before_ms bigint,
  not_after_ms bigint,
  renew_at_ms bigint,
  next_attempt_at_ms bigint,
  attempts integer NOT NULL DEFAULT 0,
  order_url text,
  lease_owner text,
  lease_until_ms bigint,
  version bigint NOT NULL DEFAULT 1,
  created_at_ms bigint NOT NULL,
  updated_at_ms bigint NOT NULL
);
CREATE INDEX custom_hostnames_due_idx ON custom_hostnames (next_attempt_at_ms) WHERE next_attempt_at_ms IS NOT NULL;
CREATE INDEX custom_hostnames_tenant_idx ON custom_hostnames (tenant_name, hostname);
CREATE TABLE acme_accounts (
  directory_url text PRIMARY KEY,
  account_url text NOT NULL,
  sealed_key text NOT NULL CHECK (sealed_key LIKE 'bk1.%'),
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE acme_challenges (
  token text PRIMARY KEY,
  key_authorization text NOT NULL,
  hostname text NOT NULL REFERENCES custom_hostnames (hostname) ON DELETE CASCADE,
  expires_at_ms bigint NOT NULL
);
`,
  },
  {
    // A tenant's `mtls.certificate_policies` (RFC 5280 §6.1.1 inputs), as the config
    // file has it. Null, as for every tenant stored before, means RFC 5280's defaults.
    // JSON like `revocation`, and checked again with the file's rules on every read
    // (src/stores/tenant-policies.ts).
    version: 6,
    name: 'tenant_certificate_policies',
    sql: `
ALTER TABLE tenants ADD COLUMN certificate_policies jsonb CHECK (certificate_policies IS NULL OR jsonb_typeof(certificate_policies) = 'object');
`,
  },
  {
    // ACME TLS-ALPN-01 (RFC 8737) beside HTTP-01: a challenge's type, so the web service
    // answers HTTP-01 tokens only, and the TLS-ALPN-01 responder finds a hostname's
    // pending key authorization by hostname. Rows stored before are HTTP-01.
    version: 7,
    name: 'acme_challenge_types',
    sql: `
ALTER TABLE acme_challenges ADD COLUMN challenge_type text NOT NULL DEFAULT 'http-01' CHECK (challenge_type IN ('http-01', 'tls-alpn-01'));
CREATE INDEX acme_challenges_tls_alpn_idx ON acme_challenges (hostname) WHERE challenge_type = 'tls-alpn-01';
`,
  },
];

/**
 * Advisory lock id shared by every bouncer replica (an arbitrary constant:
 * "bouncer" in ASCII). Taken with pg_advisory_xact_lock, so the server releases
 * it at commit or rollback, and also when a replica dies mid-migration.
 */
const MIGRATION_LOCK_ID = 0x626f756e636572n;

/** What {@link runMigrations} did. */
export interface MigrationResult {
  /** Versions this call applied, in order; empty when the schema was current. */
  readonly applied: readonly number[];
  /** Versions recorded in the database that this build does not know (a newer replica ran first). */
  readonly unknown: readonly number[];
}

interface AppliedRow {
  version: string;
  checksum: string;
}

/**
 * Brings the schema up to date, in one transaction under an advisory lock, so
 * that replicas starting together apply each migration exactly once: the second
 * waits for the first to commit, then finds nothing left to do. A failure
 * rolls back everything this call did. An applied migration whose SQL changed
 * since is refused with `ERR_STORE_MIGRATION`, because the schema it describes
 * would silently differ from the one in the database.
 *
 * Versions this build does not know are reported, not refused: during a rolling
 * upgrade the newer replicas migrate first, and migrations only ever add.
 *
 * @example
 * ```ts
 * const { applied } = await runMigrations(pool);
 * logger.info({ applied }, 'tenant schema ready');
 * ```
 */
export async function runMigrations(pool: pg.Pool, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrationResult> {
  const client = await pool.connect();
  let failed: unknown;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID.toString()]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  checksum text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
    const rows = (await client.query<AppliedRow>('SELECT version::text AS version, checksum FROM schema_migrations')).rows;
    const done = new Map(rows.map((r) => [Number(r.version), r.checksum]));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      const checksum = sha256Hex(m.sql);
      const recorded = done.get(m.version);
      if (recorded !== undefined) {
        if (recorded !== checksum) {
          throw new TenantStoreError('ERR_STORE_MIGRATION', `migration ${m.version} (${m.name}) was applied with different SQL than this build has; never edit an applied migration, add a new one`);
        }
        continue;
      }
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, checksum]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    const known = new Set(migrations.map((m) => m.version));
    return { applied, unknown: [...done.keys()].filter((v) => !known.has(v)).sort((a, b) => a - b) };
  } catch (err) {
    failed = err;
    await client.query('ROLLBACK').catch(() => undefined);
    if (err instanceof TenantStoreError) throw err;
    throw new TenantStoreError('ERR_STORE_MIGRATION', `tenant schema migration failed: ${(err as Error).message}`, { cause: err });
  } finally {
    // A client whose connection broke mid-transaction must not go back to the pool.
    client.release(failed instanceof Error && !(failed instanceof TenantStoreError) ? failed : undefined);
  }
}

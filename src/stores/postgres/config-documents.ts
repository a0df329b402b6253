/**
 * Config sections kept in PostgreSQL (apps with their policies, identity
 * providers, service tokens), shared by every replica. One document row holds
 * them in the config file's own shape; a change is validated by the caller
 * (the full config loader, with the change merged in) inside the transaction
 * that writes it, so an invalid document is never stored, and a NOTIFY tells
 * every replica to reload.
 */
import pg from 'pg';
import { guardPoolConnections } from './pool-guard.js';
import { OVERLAY_SECTIONS, type ConfigOverlay, type OverlaySection } from '../../config/overlay.js';
import { ChangeListener } from './change-listener.js';
import { PG_STORE_DEFAULTS } from '../../config/defaults.js';
import { TenantStoreError } from '../tenant-store.js';
import { runMigrations } from './migrations.js';
import { isConnectionError } from './pg-errors.js';

/** The one document bouncer keeps today. */
const DOCUMENT = 'identity';
const CHANNEL = 'bouncer_config';

export type OverlaySections = Partial<Record<OverlaySection, unknown[]>>;

export interface ConfigDocuments {
  /** The document as last read (at start, and after every change any replica made). */
  current(): ConfigOverlay | undefined;
  /** Its version: 0 before the first write. */
  version(): number;
  /**
   * Read-modify-write under a row lock: `change` gets the stored sections and
   * returns the new ones; `validate` must throw (typically a `ConfigError`)
   * when they are not acceptable, and nothing is written then. Resolves to the
   * new version. Rejects with `ERR_STORE_UNAVAILABLE` when the database cannot
   * be reached.
   */
  update(who: string, change: (sections: OverlaySections) => OverlaySections, validate: (overlay: ConfigOverlay) => Promise<void>): Promise<number>;
  /** Called after the document changed (here or on another replica) and was re-read. */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

interface Row {
  body: OverlaySections;
  version: string;
}

const SOURCE = `postgres:config_documents/${DOCUMENT}`;

function toOverlay(body: OverlaySections): ConfigOverlay {
  const sections: OverlaySections = {};
  for (const k of OVERLAY_SECTIONS) {
    const v = body[k];
    if (Array.isArray(v) && v.length > 0) sections[k] = v;
  }
  return { source: SOURCE, sections };
}

function unavailable(err: unknown): TenantStoreError {
  return new TenantStoreError('ERR_STORE_UNAVAILABLE', `config documents: ${(err as Error).message}`, { cause: err });
}

/**
 * Opens the document store (the schema is migrated by the tenant store, which
 * opens first). Reads the document once and listens for changes.
 */
export async function openConfigDocuments(o: { connection: pg.ClientConfig; onError?: (err: Error) => void }): Promise<ConfigDocuments> {
  const pool = new pg.Pool({ ...o.connection, max: 2, application_name: 'bouncer-config', connectionTimeoutMillis: PG_STORE_DEFAULTS.pool.connectionTimeoutMillis });
  pool.on('error', (err) => o.onError?.(err));
  guardPoolConnections(pool, (err) => o.onError?.(err));
  let doc: ConfigOverlay | undefined;
  let version = 0;
  const listeners = new Set<() => void>();

  const read = async (): Promise<void> => {
    const rows = (await pool.query<Row>('SELECT body, version::text AS version FROM config_documents WHERE name = $1', [DOCUMENT])).rows;
    const row = rows[0];
    const next = row ? Number(row.version) : 0;
    if (row && next === version && doc) return;
    version = next;
    doc = row ? toOverlay(row.body) : undefined;
  };
  const refresh = async (): Promise<void> => {
    const before = version;
    await read();
    if (version !== before) for (const l of listeners) l();
  };

  const listener = new ChangeListener({
    connection: { ...o.connection, application_name: 'bouncer-config-listen' },
    channel: CHANNEL,
    reconnect: { ...PG_STORE_DEFAULTS.reconnect },
    pingIntervalMs: PG_STORE_DEFAULTS.pingIntervalMs,
    onNotify: () => {
      refresh().catch((err: unknown) => o.onError?.(err as Error));
    },
    // After an outage a change may have been missed: read again.
    onUp: async (first) => {
      if (!first) await refresh();
    },
    onDown: (err) => o.onError?.(err),
  });

  try {
    // A process without the tenant store (serve --only http) may be the first to reach the database.
    await runMigrations(pool);
    await read();
    await listener.start();
  } catch (err) {
    await listener.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    throw unavailable(err);
  }

  return {
    current: () => doc,
    version: () => version,
    async update(who, change, validate) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw unavailable(err);
      }
      // Errors from the caller's callbacks are its answers; only the database's own failures are "unavailable".
      let inCaller = false;
      try {
        await client.query('BEGIN');
        // The row may not exist yet: create it empty, then lock it, so concurrent first writes serialise too.
        await client.query(`INSERT INTO config_documents (name, body, version, updated_by) VALUES ($1, '{}'::jsonb, 0, 'bouncer') ON CONFLICT (name) DO NOTHING`, [DOCUMENT]);
        const row = (await client.query<Row>('SELECT body, version::text AS version FROM config_documents WHERE name = $1 FOR UPDATE', [DOCUMENT])).rows[0];
        const stored = row?.body ?? {};
        inCaller = true;
        const next = change(structuredClone(stored));
        await validate(toOverlay(next));
        inCaller = false;
        const written = (
          await client.query<{ version: string }>(
            'UPDATE config_documents SET body = $2::jsonb, version = version + 1, updated_at = now(), updated_by = $3 WHERE name = $1 RETURNING version::text AS version',
            [DOCUMENT, JSON.stringify(next), who],
          )
        ).rows[0];
        await client.query('SELECT pg_notify($1, $2)', [CHANNEL, DOCUMENT]);
        await client.query('COMMIT');
        const v = Number(written?.version ?? 0);
        version = v;
        doc = toOverlay(next);
        for (const l of listeners) l();
        return v;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        if (!inCaller && isConnectionError(err)) throw unavailable(err);
        throw err;
      } finally {
        client.release();
      }
    },
    onChange(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}

// A running admin API for tests: a PostgreSQL tenant store in a database of
// its own, the PostgreSQL audit sink on a pool to it, in-memory revocations and
// decisions, and tokens with the scopes each test needs. Listens on 127.0.0.1:0.
import pg from 'pg';
import { pino } from 'pino';
import { createAdminServer, type AdminServer } from '../../src/admin/server.js';
import { createDecisionLog, type MemoryDecisionLog } from '../../src/admin/decision-log.js';
import { createPgAuditSink } from '../../src/admin/pg-audit-sink.js';
import { hashAdminToken, type AdminToken } from '../../src/admin/tokens.js';
import type { AdminScope } from '../../src/config/admin-scopes.js';
import type { AdminConfigView } from '../../src/admin/routes/config-views.js';
import type { XdsStatusFn } from '../../src/admin/routes/xds-status.js';
import { createMemoryRevocationStore } from '../../src/sessions/revocation.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { createTestDatabase, type TestDatabase } from './pg.js';
import { NOW } from './pki-fixtures.js';

/** Token secrets by name; each test token is `test-token-<name>` and has the scopes given. */
export const TEST_TOKENS: Readonly<Record<string, readonly AdminScope[]>> = {
  root: ['admin'],
  reader: ['tenants:read'],
  writer: ['tenants:write', 'tenants:read'],
  revoker: ['sessions:revoke'],
  decisions: ['decisions:read'],
  auditor: ['audit:read'],
  config: ['config:read'],
  hostreader: ['hostnames:read'],
  hostwriter: ['hostnames:write', 'hostnames:read'],
};

export const tokenOf = (name: string): string => `test-token-${name}-0123456789abcdef`;

export interface TestAdmin {
  readonly url: string;
  readonly server: AdminServer;
  readonly store: PgTenantStore;
  readonly db: TestDatabase;
  readonly decisions: MemoryDecisionLog;
  readonly revocation: ReturnType<typeof createMemoryRevocationStore>;
  /** Every JSON log line the server wrote. */
  readonly logLines: Array<Record<string, unknown>>;
  /** Calls the API with a named token (or none), returning status, headers and parsed body. */
  call(method: string, path: string, opts?: { token?: string | null; body?: unknown; rawBody?: string; contentType?: string }): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>;
  close(): Promise<void>;
}

export interface TestAdminOptions {
  readonly config?: AdminConfigView;
  /** Customer hostnames over the test's tenant store (and database). */
  readonly hostnames?: (tenants: PgTenantStore, db: TestDatabase) => Promise<HostnameManager>;
  /** The xDS server status the admin API shows (`GET /v1/xds/status`). */
  readonly xdsStatus?: XdsStatusFn;
}

export async function startTestAdmin(options: TestAdminOptions = {}): Promise<TestAdmin> {
  const db = await createTestDatabase();
  const store = await createPgTenantStore({ connection: db.connection, now: () => NOW });
  const pool = new pg.Pool({ ...db.connection, max: 2 });
  pool.on('error', () => undefined);
  const audit = await createPgAuditSink({ pool });
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const tokens: AdminToken[] = Object.entries(TEST_TOKENS).map(([id, scopes]) => ({ id, secretSha256: hashAdminToken(tokenOf(id)), scopes }));
  const decisions = createDecisionLog({ capacity: 100 });
  const revocation = createMemoryRevocationStore();
  const server = createAdminServer({
    tenants: store,
    revocation,
    decisions,
    audit,
    tokens: () => tokens,
    config: () => options.config ?? { apps: [], saasApps: [], idps: [], serviceTokens: [] },
    clock: () => NOW,
    logger,
    sessionRevocationMs: 8 * 3600_000,
    hostnames: await options.hostnames?.(store, db),
    xdsStatus: options.xdsStatus,
  });
  const port = await server.listen('127.0.0.1', 0);
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    server,
    store,
    db,
    decisions,
    revocation,
    logLines,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = {};
      const token = opts.token === undefined ? 'root' : opts.token;
      if (token !== null) headers.authorization = `Bearer ${tokenOf(token)}`;
      let body: string | undefined;
      if (opts.rawBody !== undefined) body = opts.rawBody;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
      const res = await fetch(`${url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
    },
    async close() {
      await server.close();
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
}

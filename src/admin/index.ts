/**
 * The admin API, for wiring: `createAdminServer` and the pieces its deps are
 * made of. See `server.ts` for what each dep is and docs/admin-api.md for the API.
 */
export { createAdminServer, type AdminServer, type AdminServerDeps } from './server.js';
export { createDecisionLog, toDecisionRecord, type DecisionLog, type DecisionQuery, type DecisionRecord, type MemoryDecisionLog } from './decision-log.js';
export { createMemoryAuditSink, type AuditEntry, type AuditQuery, type AuditSink } from './audit-sink.js';
export { createPgAuditSink, type PgAuditSinkOptions } from './pg-audit-sink.js';
export { authenticateBearer, hashAdminToken, type AdminToken } from './tokens.js';
export { ADMIN_SCOPES, ADMIN_SCOPE_NAMES, type AdminScope } from '../config/admin-scopes.js';
export { ADMIN_DEFAULTS } from '../config/defaults.js';
export { AdminError, ADMIN_ERROR_STATUS, type AdminErrorCode, type ErrorBody } from './errors.js';
export type { AdminConfigView } from './routes/config-views.js';
export type { AdminRevocationStore } from './routes/sessions.js';
export type { XdsStatusFn, XdsStatusView } from './routes/xds-status.js';

/**
 * Every default and limit of the admin API, each with its reason.
 * docs/admin-api.md repeats them; keep the two in step.
 */
import { TENANT_LIMITS } from '../stores/tenant-store.js';

export const ADMIN_DEFAULTS = {
  /**
   * Loopback, port 9002: beside the ext_authz port (9001) and clear of Envoy's
   * admin port (9901) and the HTTP port (8080). Off the loopback the bearer
   * tokens would cross the network in clear, so exposing it is spelled out.
   */
  listen: { host: '127.0.0.1', port: 9002 },
  /** Most bodies are a hostname or a session id; 1 MiB is generous for a CA bundle (TENANT_LIMITS.maxCaPemBytes). */
  bodyLimitBytes: 1024 * 1024 + 64 * 1024,
  /**
   * Bodies that may carry CRLs: a large CA's CRL reaches megabytes, and JSON
   * escaping adds a little; 24 MiB holds two of the largest the store accepts.
   * Only authenticated callers with `tenants:write` get this far (auth runs
   * before the body is read).
   */
  crlBodyLimitBytes: 2 * TENANT_LIMITS.maxCrlPemBytes + 4 * 1024 * 1024,
  /** Decisions kept in memory by `createDecisionLog`: a few MB, enough for "what just happened". */
  decisionLogCapacity: 10_000,
  /** Audit entries kept by the in-memory sink when no database is given. */
  auditMemoryCapacity: 10_000,
  /** Rows per page of decision and audit queries; the maximum keeps one answer a few MB at most. */
  queryLimitDefault: 100,
  queryLimitMax: 1_000,
  /**
   * A session revoked by id is refused until the longest session could have
   * lived: the API caller does not know the session's own expiry. 30 days is the
   * longest duration the config allows (`CONFIG_LIMITS.sessionDurationSec.max`);
   * wiring should pass the configured longest instead.
   */
  sessionRevocationMs: 30 * 86_400_000,
  /** How long a revocation waits to be shared with other replicas (Redis) before the answer says it is not yet. */
  revocationFlushTimeoutMs: 2_000,
  /** Longer strings in decision records are cut, as in the decision log line. */
  maxDecisionFieldChars: 512,
  /**
   * Presented bearer tokens longer than this are refused before hashing. Tokens
   * are generated (`openssl rand -hex 32` is 64 characters); 1 KiB is plenty.
   */
  maxTokenChars: 1024,
} as const;

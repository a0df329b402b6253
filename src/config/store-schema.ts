/**
 * `store:` — where a fleet keeps what one YAML file cannot: tenants in
 * PostgreSQL, and short-lived shared state (revocations, single-use IDs,
 * pending logins) in Redis. Both are optional; without them bouncer keeps
 * tenants in this file and shared state in memory, and needs no server.
 *
 * Connection URLs usually carry a password, so each may come from an
 * environment variable (`url_env`), and the well-known variables
 * `BOUNCER_POSTGRES_URL` / `BOUNCER_REDIS_URL` override the file, as the
 * listen addresses do.
 */
import { isScalar, type Node } from 'yaml';
import { PG_STORE_DEFAULTS, SHARED_STATE_DEFAULTS, STORE_DEFAULTS, type RevocationFailMode } from './defaults.js';
import type { Entry, NodeReader } from './node-reader.js';

export const STORE_KEYS = {
  store: ['postgres', 'redis'],
  store_postgres: ['url', 'url_env', 'cache_max_entries', 'lookup_timeout'],
  store_redis: ['url', 'url_env', 'key_prefix', 'revocation_fail_mode', 'revocation_grace'],
} as const;

export const STORE_ENV = {
  postgresUrl: 'BOUNCER_POSTGRES_URL',
  redisUrl: 'BOUNCER_REDIS_URL',
} as const;

export const REVOCATION_FAIL_MODES: readonly RevocationFailMode[] = ['closed', 'open-cached'];

/** `store.postgres`: tenants (hostnames, CAs, CRLs, mTLS mode) live in PostgreSQL. */
export interface PostgresStoreConfig {
  /** `postgres://` or `postgresql://` connection URL. */
  readonly url: string;
  /** Hosts whose parsed tenant a replica keeps in memory. */
  readonly cacheMaxEntries: number;
  /**
   * How long a check waits for a tenant that is not cached before denying it as
   * `tenant_store_unavailable`; kept under Envoy's ext_authz timeout (500 ms)
   * so the user gets bouncer's reason rather than Envoy's bare 503.
   */
  readonly lookupTimeoutMs: number;
}

/** `store.redis`: revocations, single-use IDs and pending logins shared by every replica. */
export interface RedisStoreConfig {
  readonly url: string;
  /** Put in front of every key, so several deployments can share one Redis. */
  readonly keyPrefix: string;
  readonly revocationFailMode: RevocationFailMode;
  readonly revocationGraceMs: number;
}

export interface StoreConfig {
  readonly postgres: PostgresStoreConfig | undefined;
  readonly redis: RedisStoreConfig | undefined;
}

/** `store` as written: URLs may still be missing (they can come from the environment). */
export interface RawStore {
  postgres: { node: Node | null; url: string | undefined; urlEnv: string | undefined; cacheMaxEntries: number; lookupTimeoutMs: number } | undefined;
  redis: { node: Node | null; url: string | undefined; urlEnv: string | undefined; keyPrefix: string; failMode: RevocationFailMode; graceMs: number } | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Shape-checks `store`; URLs are resolved against the environment by {@link resolveStore}. */
export function readStoreShape(entry: Entry | undefined, reader: NodeReader): RawStore {
  const raw: RawStore = { postgres: undefined, redis: undefined };
  if (!entry) return raw;
  const m = reader.mapping(entry.value, 'store', STORE_KEYS.store);
  if (!m) return raw;
  const pg = m.get('postgres');
  if (pg) {
    const p = reader.mapping(pg.value, 'store.postgres', STORE_KEYS.store_postgres);
    if (p) {
      const cache = p.get('cache_max_entries');
      const timeout = p.get('lookup_timeout');
      raw.postgres = {
        node: pg.value,
        ...readUrl(p, 'store.postgres', reader),
        cacheMaxEntries: (cache && reader.integer(cache.value, 'store.postgres.cache_max_entries', 100, 10_000_000)) ?? PG_STORE_DEFAULTS.cache.maxEntries,
        lookupTimeoutMs: (timeout && durationMs(reader, timeout.value, 'store.postgres.lookup_timeout')) ?? STORE_DEFAULTS.lookupTimeoutMs,
      };
    }
  }
  const redis = m.get('redis');
  if (redis) {
    const r = reader.mapping(redis.value, 'store.redis', STORE_KEYS.store_redis);
    if (r) {
      const prefix = r.get('key_prefix');
      const mode = r.get('revocation_fail_mode');
      const grace = r.get('revocation_grace');
      let keyPrefix: string = STORE_DEFAULTS.keyPrefix;
      if (prefix) {
        const text = reader.string(prefix.value, 'store.redis.key_prefix');
        if (text !== undefined) {
          if (/^[A-Za-z0-9:._-]{0,64}$/.test(text)) keyPrefix = text;
          else reader.issue(prefix.value, 'store.redis.key_prefix', 'key_prefix may hold only letters, digits and : . _ - (at most 64)');
        }
      }
      raw.redis = {
        node: redis.value,
        ...readUrl(r, 'store.redis', reader),
        keyPrefix,
        failMode: (mode && reader.oneOf(mode.value, 'store.redis.revocation_fail_mode', REVOCATION_FAIL_MODES)) ?? SHARED_STATE_DEFAULTS.revocationFailMode,
        graceMs: (grace && secondsMs(reader, grace.value, 'store.redis.revocation_grace', 0, 3600)) ?? SHARED_STATE_DEFAULTS.revocationGraceMs,
      };
    }
  }
  return raw;
}

function durationMs(reader: NodeReader, node: Node | null, field: string): number | undefined {
  // Sub-second values matter here; accept a plain number of milliseconds too.
  const n = reader.resolve(node);
  if (isScalar(n) && typeof n.value === 'string' && /^\d+ms$/.test(n.value)) {
    const ms = Number(n.value.slice(0, -2));
    if (ms >= 10 && ms <= 10_000) return ms;
    reader.issue(n, field, `lookup_timeout must be between 10ms and 10s; got ${n.value}`);
    return undefined;
  }
  return secondsMs(reader, node, field, 1, 10);
}

function secondsMs(reader: NodeReader, node: Node | null, field: string, min: number, max: number): number | undefined {
  const s = reader.duration(node, field, min, max);
  return s === undefined ? undefined : s * 1000;
}

function readUrl(m: Map<string, Entry>, field: string, reader: NodeReader): { url: string | undefined; urlEnv: string | undefined } {
  const urlEntry = m.get('url');
  const envEntry = m.get('url_env');
  if (urlEntry && envEntry) {
    reader.issue(envEntry.value, `${field}.url_env`, 'give either url or url_env, not both');
    return { url: reader.string(urlEntry.value, `${field}.url`), urlEnv: undefined };
  }
  const url = urlEntry ? reader.string(urlEntry.value, `${field}.url`) : undefined;
  const urlEnv = envEntry ? reader.string(envEntry.value, `${field}.url_env`) : undefined;
  if (urlEnv !== undefined && !ENV_NAME.test(urlEnv)) {
    reader.issue(envEntry?.value ?? null, `${field}.url_env`, `'${urlEnv}' is not an environment variable name`);
    return { url, urlEnv: undefined };
  }
  return { url, urlEnv };
}

/** The URL with any password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

function checkUrl(text: string, protocols: readonly string[], what: string): string | undefined {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return `is not a URL (expected ${protocols[0]}//host:port/...)`;
  }
  if (!protocols.includes(u.protocol)) return `must be a ${protocols.join(' or ')} URL for ${what}; got ${u.protocol}`;
  if (u.hostname === '') return 'has no host';
  return undefined;
}

/**
 * Resolves URLs: the well-known variable wins, then `url_env`, then `url`.
 * Problems are reported on `reader` without echoing the URL (it may hold a password).
 */
export function resolveStore(raw: RawStore, env: NodeJS.ProcessEnv, reader: NodeReader): StoreConfig {
  const pick = (
    section: { node: Node | null; url: string | undefined; urlEnv: string | undefined } | undefined,
    field: string,
    wellKnown: string,
    protocols: readonly string[],
    what: string,
  ): string | undefined => {
    if (!section) return undefined;
    const fromWellKnown = env[wellKnown];
    let url: string | undefined;
    let source: string;
    if (fromWellKnown !== undefined && fromWellKnown.trim() !== '') {
      url = fromWellKnown.trim();
      source = `env ${wellKnown}`;
    } else if (section.urlEnv !== undefined) {
      const v = env[section.urlEnv];
      if (v === undefined || v.trim() === '') {
        reader.issue(section.node, `${field}.url_env`, `environment variable ${section.urlEnv} is not set`);
        return undefined;
      }
      url = v.trim();
      source = `env ${section.urlEnv}`;
    } else {
      url = section.url;
      source = `${field}.url`;
    }
    if (url === undefined) {
      reader.issue(section.node, `${field}.url`, `url is required (or url_env, or the ${wellKnown} environment variable)`);
      return undefined;
    }
    const problem = checkUrl(url, protocols, what);
    if (problem !== undefined) {
      reader.issue(source.startsWith('env') ? undefined : section.node, source, `${source.startsWith('env') ? 'the URL ' : ''}${problem}`);
      return undefined;
    }
    return url;
  };
  const pgUrl = pick(raw.postgres, 'store.postgres', STORE_ENV.postgresUrl, ['postgres:', 'postgresql:'], 'PostgreSQL');
  const redisUrl = pick(raw.redis, 'store.redis', STORE_ENV.redisUrl, ['redis:', 'rediss:'], 'Redis');
  return {
    postgres: raw.postgres && pgUrl !== undefined ? { url: pgUrl, cacheMaxEntries: raw.postgres.cacheMaxEntries, lookupTimeoutMs: raw.postgres.lookupTimeoutMs } : undefined,
    redis:
      raw.redis && redisUrl !== undefined
        ? { url: redisUrl, keyPrefix: raw.redis.keyPrefix, revocationFailMode: raw.redis.failMode, revocationGraceMs: raw.redis.graceMs }
        : undefined,
  };
}

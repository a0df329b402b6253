/**
 * {@link SharedTransactionStore} on Redis. A take replaces the value with a
 * tombstone in one server-side script (GETDEL semantics plus memory of the
 * take), so exactly one replica gets the transaction and later takes report
 * `replayed` rather than `unknown`.
 */
import type { Redis } from 'ioredis';
import { SHARED_STATE_DEFAULTS } from '../../config/defaults.js';
import { SharedStateError } from '../shared-state-errors.js';
import type { LoginTransaction, SharedTransactionStore, TakeResult } from '../shared-state.js';
import { checkTtl } from '../shared-state-ttl.js';
import { runRedisCommand } from './command.js';

/** Options of {@link createRedisTransactionStore}. */
export interface RedisTransactionStoreOptions {
  readonly redis: Redis;
  /** Default {@link SHARED_STATE_DEFAULTS.prefixes.loginTransaction}. */
  readonly prefix?: string;
  /** Decides `expired`; replicas' clocks must agree within the TTL's tolerance (NTP). Default `Date.now`. */
  readonly clock?: () => number;
  /** Default {@link SHARED_STATE_DEFAULTS.transactionRememberMs}. */
  readonly rememberMs?: number;
  /** Default {@link SHARED_STATE_DEFAULTS.commandTimeoutMs}. */
  readonly commandTimeoutMs?: number;
}

// Not JSON, so it can never be mistaken for a stored transaction.
const TOMBSTONE = '#taken';

// KEEPTTL (Redis 6.0+) keeps the tombstone exactly as long as the entry would
// have lived, which is what the memory store remembers too.
const TAKE_SCRIPT = `
local v = redis.call('GET', KEYS[1])
if not v then return false end
if v ~= ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL') end
return v
`;

/**
 * Create a Redis-backed login transaction store.
 *
 * @example
 * ```ts
 * const txs = createRedisTransactionStore({ redis });
 * await txs.put(tx, LOGIN_TRANSACTION_TTL_MS);
 * const r = await txs.take(state); // on any replica
 * ```
 */
export function createRedisTransactionStore(o: RedisTransactionStoreOptions): SharedTransactionStore {
  const prefix = o.prefix ?? SHARED_STATE_DEFAULTS.prefixes.loginTransaction;
  const clock = o.clock ?? Date.now;
  const rememberMs = o.rememberMs ?? SHARED_STATE_DEFAULTS.transactionRememberMs;
  const timeoutMs = o.commandTimeoutMs ?? SHARED_STATE_DEFAULTS.commandTimeoutMs;

  return {
    async put(tx, ttlMs) {
      const ms = checkTtl(ttlMs);
      const value = JSON.stringify({ tx, expMs: clock() + ms });
      await runRedisCommand('SET', timeoutMs, () => o.redis.set(prefix + tx.id, value, 'PX', ms + rememberMs));
    },
    async take(id): Promise<TakeResult> {
      const reply = await runRedisCommand('take', timeoutMs, () => o.redis.eval(TAKE_SCRIPT, 1, prefix + id, TOMBSTONE));
      if (reply === null || reply === undefined) return { ok: false, problem: 'unknown' };
      if (reply === TOMBSTONE) return { ok: false, problem: 'replayed' };
      const stored = typeof reply === 'string' ? parseStored(reply) : undefined;
      if (stored === undefined || stored.tx.id !== id) {
        throw new SharedStateError('ERR_STORE_CORRUPT', `login transaction under ${prefix}${id} is unreadable`);
      }
      return stored.expMs <= clock() ? { ok: false, problem: 'expired' } : { ok: true, tx: stored.tx };
    },
  };
}

/** Read back what `put` wrote; anything else is refused as corrupt. */
function parseStored(text: string): { tx: LoginTransaction; expMs: number } | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(v) || typeof v.expMs !== 'number' || !isRecord(v.tx)) return undefined;
  const t = v.tx;
  if (typeof t.id !== 'string' || typeof t.idp !== 'string' || typeof t.app !== 'string' || typeof t.rd !== 'string') return undefined;
  if (typeof t.createdMs !== 'number' || !isRecord(t.secrets)) return undefined;
  if (t.bind !== undefined && typeof t.bind !== 'string') return undefined;
  const secrets: Record<string, string> = {};
  for (const [k, s] of Object.entries(t.secrets)) {
    if (typeof s !== 'string') return undefined;
    secrets[k] = s;
  }
  return { tx: { id: t.id, idp: t.idp, app: t.app, rd: t.rd, ...(typeof t.bind === 'string' ? { bind: t.bind } : {}), secrets, createdMs: t.createdMs }, expMs: v.expMs };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Session revocations shared by every replica through Redis, answered from a
 * local mirror so the per-request check stays synchronous and O(1).
 *
 * - A revocation is applied to the local mirror at once, then written to
 *   Redis (`PX` = until it no longer matters) and published, in one script.
 *   Writes that fail wait in an outbox and are retried; none is dropped.
 * - Each replica subscribes first, then loads every key (SCAN), so nothing
 *   published during the load is missed. Revocations only ever grow (a later
 *   `until`, an earlier-issued cutoff), so merging is order-independent.
 * - When the subscriber connection drops or stops answering PING, the mirror
 *   may miss revocations: after `graceMs`, `failMode: 'closed'` denies every
 *   session. On reconnect it reloads, and writes back any live entry Redis no
 *   longer has (a restart without persistence), so no revocation is lost while
 *   one replica still remembers it.
 */
import type { Redis } from 'ioredis';
import { createMemoryRevocationStore } from '../../sessions/revocation.js';
import { SHARED_STATE_DEFAULTS, type RevocationFailMode } from '../../config/defaults.js';
import { SharedStateError } from '../shared-state-errors.js';
import type { SharedRevocationStore, SharedStateHealth } from '../shared-state.js';
import { runRedisCommand } from './command.js';

/** Options of {@link createRedisRevocationStore}. */
export interface RedisRevocationStoreOptions {
  /** Command connection; a duplicate of it is opened for pub/sub and closed by `close()`. */
  readonly redis: Redis;
  /** Key prefix; the channel is `${prefix}events`. Default {@link SHARED_STATE_DEFAULTS.prefixes.revocation}. */
  readonly prefix?: string;
  /** Default {@link SHARED_STATE_DEFAULTS.revocationFailMode} (`closed`). */
  readonly failMode?: RevocationFailMode;
  /** Default {@link SHARED_STATE_DEFAULTS.revocationGraceMs}. */
  readonly graceMs?: number;
  /** As for the memory store: keep a user revocation this long after its cutoff. Default: forever. */
  readonly userRetentionMs?: number;
  /** Called on every change of {@link SharedStateHealth} (state, fail mode engaged, pending writes). */
  readonly onHealth?: (health: SharedStateHealth) => void;
  /** Default `Date.now`. */
  readonly clock?: () => number;
  readonly commandTimeoutMs?: number;
  readonly retryMs?: number;
  readonly heartbeatMs?: number;
  readonly startTimeoutMs?: number;
}

type Kind = 's' | 'u';

// Keeps the larger value (revocations only grow) and publishes only a change,
// so replaying the outbox or writing back from several replicas is harmless.
const REVOKE_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur >= tonumber(ARGV[1]) then return 0 end
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

/**
 * Create a Redis-backed {@link SharedRevocationStore}. Call `start()` before
 * serving and `close()` on shutdown.
 *
 * @example
 * ```ts
 * const revocation = createRedisRevocationStore({
 *   redis, userRetentionMs: longestSessionSec * 1000,
 *   onHealth: (h) => metrics.sharedStateUp.set(h.ok ? 1 : 0),
 * });
 * await revocation.start().catch((err) => logger.warn({ err }, 'revocations not loaded yet; failing closed'));
 * if (revocation.isRevoked(claims, nowMs)) deny('session_revoked');
 * ```
 */
export function createRedisRevocationStore(o: RedisRevocationStoreOptions): SharedRevocationStore {
  const d = SHARED_STATE_DEFAULTS;
  const prefix = o.prefix ?? d.prefixes.revocation;
  const failMode = o.failMode ?? d.revocationFailMode;
  const graceMs = o.graceMs ?? d.revocationGraceMs;
  const clock = o.clock ?? Date.now;
  const timeoutMs = o.commandTimeoutMs ?? d.commandTimeoutMs;
  const retryMs = o.retryMs ?? d.retryMs;
  const retention = o.userRetentionMs;
  const channel = `${prefix}events`;
  const match = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}[su]:*`;

  // The hot path is the existing memory store; `known` holds the same entries
  // keyed as in Redis (`s:<sid>`, `u:<sub>`) so they can be written back.
  const mirror = createMemoryRevocationStore(retention === undefined ? {} : { userRetentionMs: retention });
  const known = new Map<string, number>();
  const outbox = new Map<string, number>();

  let sub: Redis | undefined;
  let subscribed = false;
  // Bumped whenever the subscriber drops: a load begun before cannot vouch for
  // messages missed after.
  let generation = 0;
  let state: SharedStateHealth['state'] = 'starting';
  let sinceMs = clock();
  let unsyncedSinceMs = -Infinity;
  let lastError: string | undefined;
  let running = false;
  let syncTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let lastPruneMs = clock();
  let lastEmitted = '';
  const waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  const isLive = (kind: Kind, v: number, nowMs: number): boolean =>
    kind === 's' ? v > nowMs : retention === undefined || v + retention > nowMs;

  function apply(kind: Kind, id: string, v: number): void {
    const k = `${kind}:${id}`;
    if ((known.get(k) ?? -Infinity) >= v) return;
    known.set(k, v);
    if (kind === 's') mirror.revokeSession(id, v);
    else mirror.revokeUser(id, v);
  }

  function pruneKnown(nowMs: number): void {
    for (const [k, v] of known) if (!isLive(k[0] === 's' ? 's' : 'u', v, nowMs)) known.delete(k);
    lastPruneMs = nowMs;
  }

  function denyingAt(nowMs: number): boolean {
    if (state === 'synced' || failMode === 'open-cached') return false;
    return nowMs - unsyncedSinceMs >= graceMs;
  }

  function health(): SharedStateHealth {
    const h = { ok: state === 'synced' && outbox.size === 0, state, denyingAll: denyingAt(clock()), pendingWrites: outbox.size, sinceMs };
    return lastError === undefined || state === 'synced' ? h : { ...h, error: lastError };
  }

  function emit(): void {
    const h = health();
    const key = JSON.stringify(h);
    if (key === lastEmitted) return;
    lastEmitted = key;
    try {
      o.onHealth?.(h);
    } catch {
      // A faulty metrics hook must not stop the store from tracking its state.
    }
  }

  function setState(next: SharedStateHealth['state']): void {
    if (state === next || state === 'stopped') return;
    state = next;
    sinceMs = clock();
    if (next === 'synced') {
      lastError = undefined;
      clearTimeout(graceTimer);
      for (const w of waiters.splice(0)) w.resolve();
    } else if (next === 'unsynced') {
      unsyncedSinceMs = sinceMs;
      // Nothing else happens when the grace runs out, so wake the health hook for it.
      if (failMode === 'closed') graceTimer = setTimeout(emit, graceMs + 1).unref();
    }
    emit();
  }

  function markUnsynced(reason: string): void {
    lastError = reason;
    if (state === 'synced') setState('unsynced');
    else emit();
  }

  function schedule(delayMs: number): void {
    if (syncTimer !== undefined || state === 'stopped') return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      void runSync();
    }, delayMs).unref();
  }

  async function flushOutbox(): Promise<void> {
    const nowMs = clock();
    for (const [k, v] of [...outbox]) {
      const kind: Kind = k[0] === 's' ? 's' : 'u';
      if (isLive(kind, v, nowMs)) {
        const px = kind === 's' || retention !== undefined ? Math.max(1, Math.ceil((kind === 's' ? v : v + (retention ?? 0)) - nowMs)) : 0;
        const msg = JSON.stringify({ k: kind, id: k.slice(2), v });
        await runRedisCommand('revoke', timeoutMs, () => o.redis.eval(REVOKE_SCRIPT, 1, prefix + k, String(v), String(px), channel, msg));
      }
      // A newer revocation of the same key may have arrived meanwhile; keep that one.
      if (outbox.get(k) === v) outbox.delete(k);
    }
  }

  async function reload(): Promise<void> {
    const inRedis = new Map<string, number>();
    let cursor = '0';
    do {
      const [next, keys] = await runRedisCommand('SCAN', timeoutMs, () => o.redis.scan(cursor, 'MATCH', match, 'COUNT', 1000));
      cursor = next;
      if (keys.length === 0) continue;
      const values = await runRedisCommand('MGET', timeoutMs, () => o.redis.mget(keys));
      keys.forEach((key, i) => {
        const suffix = key.slice(prefix.length);
        const v = Number(values[i]);
        // Keys expire between SCAN and MGET (null), and foreign keys may match: skip both.
        if (values[i] == null || !Number.isFinite(v) || suffix[1] !== ':') return;
        inRedis.set(suffix, v);
        apply(suffix[0] === 's' ? 's' : 'u', suffix.slice(2), v);
      });
    } while (cursor !== '0');
    // Write back what Redis lost (restart without persistence, eviction).
    const nowMs = clock();
    pruneKnown(nowMs);
    for (const [k, v] of known) {
      if ((inRedis.get(k) ?? -Infinity) < v) outbox.set(k, Math.max(outbox.get(k) ?? -Infinity, v));
    }
    await flushOutbox();
  }

  async function runSync(): Promise<void> {
    if (running || state === 'stopped') return;
    running = true;
    let failed = false;
    try {
      if (outbox.size > 0) await flushOutbox();
      if (subscribed && state !== 'synced') {
        const gen = generation;
        await reload();
        if (gen === generation && subscribed) setState('synced');
      }
    } catch (err) {
      failed = true;
      lastError = err instanceof Error ? err.message : String(err);
    } finally {
      running = false;
      emit();
      if (failed) schedule(retryMs);
      else if (outbox.size > 0 || (subscribed && state !== 'synced')) schedule(0);
    }
  }

  function revoke(kind: Kind, id: string, v: number): void {
    apply(kind, id, v);
    const k = `${kind}:${id}`;
    outbox.set(k, Math.max(outbox.get(k) ?? -Infinity, v));
    emit();
    schedule(0);
  }

  function onMessage(ch: string, text: string): void {
    if (ch !== channel) return;
    let m: unknown;
    try {
      m = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof m !== 'object' || m === null) return;
    const { k, id, v } = m as Record<string, unknown>;
    if ((k === 's' || k === 'u') && typeof id === 'string' && typeof v === 'number' && Number.isFinite(v)) apply(k, id, v);
  }

  function beat(): void {
    const s = sub;
    const nowMs = clock();
    if (nowMs - lastPruneMs >= 60_000) pruneKnown(nowMs);
    if (s === undefined || s.status !== 'ready') return;
    runRedisCommand('PING', timeoutMs, () => s.ping()).then(
      () => {
        if (subscribed && state !== 'synced') schedule(0);
      },
      (err: unknown) => {
        markUnsynced(err instanceof Error ? err.message : String(err));
        // A paused server or a half-open socket never closes by itself; a fresh
        // connection either fails (and retries) or comes back and reloads.
        generation += 1;
        subscribed = false;
        if (s.status === 'ready') s.disconnect(true);
      },
    );
  }

  function connect(): Redis {
    // Resubscription is ours: the load must start only after SUBSCRIBE is acknowledged.
    const s = o.redis.duplicate({ autoResubscribe: false, lazyConnect: true });
    s.on('ready', () => {
      const gen = generation;
      s.subscribe(channel).then(
        () => {
          if (gen !== generation || state === 'stopped') return;
          subscribed = true;
          schedule(0);
        },
        (err: unknown) => {
          markUnsynced(err instanceof Error ? err.message : String(err));
          if (state !== 'stopped') s.disconnect(true);
        },
      );
    });
    s.on('close', () => {
      generation += 1;
      subscribed = false;
      if (state !== 'stopped') markUnsynced('redis subscriber connection closed');
    });
    s.on('error', (err: Error) => {
      lastError = err.message;
    });
    s.on('message', onMessage);
    // A failed first attempt is retried by ioredis like any reconnect; progress arrives as events.
    s.connect().catch(() => undefined);
    heartbeat = setInterval(beat, o.heartbeatMs ?? d.heartbeatMs).unref();
    return s;
  }

  return {
    revokeSession(sid, untilMs) {
      revoke('s', sid, untilMs);
    },
    revokeUser(subject, beforeMs) {
      revoke('u', subject, beforeMs);
    },
    isRevoked(claims, nowMs) {
      // A known revocation always wins; otherwise unknown state may deny all.
      return mirror.isRevoked(claims, nowMs) || denyingAt(nowMs);
    },
    start() {
      if (state === 'stopped') return Promise.reject(new SharedStateError('ERR_STORE_UNAVAILABLE', 'revocation store is closed'));
      sub ??= connect();
      if (state === 'synced') return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const w = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject,
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new SharedStateError('ERR_STORE_UNAVAILABLE', `revocations not loaded from redis: ${lastError ?? 'no connection yet'}`));
        }, o.startTimeoutMs ?? d.startTimeoutMs);
        waiters.push(w);
      });
    },
    async flush() {
      try {
        await flushOutbox();
      } finally {
        emit();
      }
    },
    health,
    async close() {
      if (state === 'stopped') return;
      // Closed means unknown: deny at once in `closed` mode, without grace.
      unsyncedSinceMs = -Infinity;
      setState('stopped');
      clearTimeout(syncTimer);
      clearTimeout(graceTimer);
      clearInterval(heartbeat);
      for (const w of waiters.splice(0)) w.reject(new SharedStateError('ERR_STORE_UNAVAILABLE', 'revocation store closed'));
      const s = sub;
      sub = undefined;
      subscribed = false;
      s?.disconnect();
    },
  };
}

/**
 * The state `bouncer access explain` decides with when run from the CLI: the
 * ext_authz server's own state built from the config file ({@link toState}),
 * with the session keys from `auth.session.keys_dir` and revocations from
 * Redis when the config has them. What the CLI cannot see is said in `notes`.
 */
import type { AuthzState } from '../authz/server.js';
import type { BouncerConfig } from '../config/types.js';
import { BouncerError } from '../core/errors.js';
import type { IdpType } from '../core/identity.js';
import { keyOverlapMs, openKeyStore } from '../sessions/key-store.js';
import { createTokenCache } from '../sessions/token-cache.js';
import { createSharedState } from '../stores/create-shared-state.js';
import { longestSession, toState } from '../serve/authz-state.js';

export interface ExplainState {
  readonly state: AuthzState;
  readonly idpTypes: ReadonlyMap<string, IdpType>;
  /** Whether session tokens signed by a running bouncer can be verified here (keys shared through `keys_dir`). */
  readonly canVerifySessions: boolean;
  /** Caveats for explanations of session tokens (revocations this process cannot see). */
  readonly sessionNotes: readonly string[];
  close(): Promise<void>;
}

/** Opens what explain needs for `config`; call `close` when done (it may hold a Redis connection). */
export async function openExplainState(config: BouncerConfig, nowMs: number, authPublicOrigin?: string): Promise<ExplainState> {
  if (config.store.postgres) {
    throw new BouncerError(
      'ERR_CLI_USAGE',
      'tenants live in PostgreSQL (store.postgres): ask the running server instead, POST /v1/access/explain on the admin API',
    );
  }
  const notes: string[] = [];
  const redis = config.store.redis;
  const shared = await createSharedState({
    ...(redis ? { redis: { url: redis.url, keyPrefix: redis.keyPrefix, failMode: redis.revocationFailMode, graceMs: redis.revocationGraceMs } } : {}),
    userRetentionMs: longestSession(config) * 1000,
    clock: () => nowMs,
  });
  try {
    await shared.start();
  } catch (err) {
    await shared.close();
    throw new BouncerError('ERR_STORE_UNAVAILABLE', `cannot read revocations from Redis: ${(err as Error).message}`, { cause: err });
  }
  // Only a session token is checked against revocations; asserted claims never are.
  if (config.auth && !redis) notes.push("revocations are not checked: without store.redis they live only in the running server's memory");
  const keysDir = config.auth?.keysDir;
  const keys = await openKeyStore({
    dir: keysDir,
    rotateAfterDays: config.auth?.keyRotationDays ?? 30,
    overlapMs: keyOverlapMs(longestSession(config)),
    nowMs,
    clock: () => nowMs,
  });
  // The CLI fetches nothing from the network: tenants with mtls.revocation are
  // answered as the server answers when no revocation checker runs (a denial),
  // and the note says to ask the running server's admin API instead.
  if (config.tenants.some((t) => t.mtls.revocation !== undefined)) notes.push('OCSP and fetched CRLs (mtls.revocation) are not consulted by the CLI; POST /v1/access/explain on the running server uses its live answers');
  const state = toState(config, { keys, shared, tokens: createTokenCache() }, authPublicOrigin, undefined, undefined);
  return {
    state,
    idpTypes: new Map(config.idps.map((i) => [i.id, i.type])),
    canVerifySessions: keysDir !== undefined,
    sessionNotes: notes,
    close: () => shared.close(),
  };
}

/**
 * Single use of handoff tokens: a `jti` is accepted once and remembered until
 * the token can no longer verify. The remembering is done by the shared-state
 * {@link OnceStore} (in memory, or Redis for a fleet); this adapts its
 * time-to-live interface to the token's expiry.
 */
import type { OnceStore } from '../stores/shared-state.js';

/** Handoff `jti`s are remembered past `exp` by more than the verifier's clock tolerance (30 s). */
export const HANDOFF_MARGIN_MS = 60_000;

/** What the session gate needs: consume a `jti` whose token expires at `expMs`. */
export interface HandoffStore {
  /** True the first time; false on a replay. Rejects when the store cannot answer safely (fail closed). */
  consume(jti: string, expMs: number, nowMs: number, signal?: AbortSignal): Promise<boolean>;
}

/**
 * The handoff store over a single-use store.
 *
 * @example
 * ```ts
 * const handoffs = handoffStoreOver(shared.handoffs);
 * if (!(await handoffs.consume(h.claims.jti, h.claims.exp * 1000, nowMs))) deny('handoff_invalid', 'handoff already used');
 * ```
 */
export function handoffStoreOver(once: OnceStore): HandoffStore {
  return { consume: (jti, expMs, nowMs, signal) => once.consume(jti, Math.max(1, expMs + HANDOFF_MARGIN_MS - nowMs), nowMs, signal) };
}

/**
 * Validation shared by every store that takes a TTL.
 */

/**
 * Whole milliseconds, at least 1. Redis rejects `PX 0` and fractional values,
 * and a key remembered for "no time" would be forgotten at once, re-opening it
 * to replay; so a spent TTL is stretched to the smallest one, and a value that
 * is not a number is a programming error.
 */
export function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a finite number, got ${ttlMs}`);
  return Math.max(1, Math.ceil(ttlMs));
}

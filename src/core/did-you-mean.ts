/**
 * The one "did you mean" of bouncer: config keys, admin API fields, admin
 * scopes, policy keys, actions and selectors all suggest with it, so a typo is
 * answered the same way everywhere.
 */

/**
 * The candidate nearest to `word` (case-insensitive Levenshtein distance), when
 * near enough to be the likely intent: two edits catch a dropped or swapped
 * letter, and longer words tolerate one more edit per three letters.
 *
 * @example
 * didYouMean('hostname', ['hostnames', 'mtls']) // 'hostnames'
 * didYouMean('colour', ['mode', 'ca'])          // undefined
 */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  const w = word.toLowerCase();
  for (const candidate of candidates) {
    const d = editDistance(w, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Levenshtein distance, one row at a time. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      next.push(Math.min((row[j] ?? 0) + 1, (next[j - 1] ?? 0) + 1, (row[j - 1] ?? 0) + cost));
    }
    row = next;
  }
  return row[b.length] ?? 0;
}

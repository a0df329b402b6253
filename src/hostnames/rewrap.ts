/**
 * Re-wraps every stored data key with the keyring's active KEK, the second
 * half of a KEK rotation (docs/hostnames.md): after the new KEK was put first
 * in the keyring and every replica restarted with it, this moves the stored
 * envelopes over, so the old KEK can be removed. The encrypted keys
 * themselves are not touched, only their data keys' wrapping. A key changed
 * by a replica meanwhile is left alone (it was sealed with the active KEK
 * anyway). Safe to run again: envelopes already on the active KEK are skipped.
 */
import { accountContext } from './acme-issuer.js';
import { hostnameKeyContext } from './catalog.js';
import type { KekRing } from './key-envelope.js';
import type { HostnameStore, SealedEntry } from './store.js';

export interface RewrapReport {
  readonly total: number;
  readonly rewrapped: number;
  /** Already wrapped with the active KEK. */
  readonly current: number;
  /** Changed by a replica between the read and the write (and thus already current). */
  readonly changedMeanwhile: number;
  /** How many envelopes each KEK id wrapped before the run. */
  readonly byKek: Readonly<Record<string, number>>;
}

const contextOf = (e: SealedEntry): string => (e.kind === 'hostname' ? hostnameKeyContext(e.id) : accountContext(e.id));

export async function rewrapAll(store: HostnameStore, keys: KekRing): Promise<RewrapReport> {
  const entries = await store.listSealed();
  const byKek: Record<string, number> = {};
  let rewrapped = 0;
  let current = 0;
  let changedMeanwhile = 0;
  for (const entry of entries) {
    const kek = keys.kekIdOf(entry.sealedKey);
    byKek[kek] = (byKek[kek] ?? 0) + 1;
    if (kek === keys.activeId) {
      current++;
      continue;
    }
    // Throws ERR_KEK_UNKNOWN when the old KEK was dropped from the keyring too early: nothing is lost, add it back.
    const replacement = keys.rewrap(entry.sealedKey, contextOf(entry));
    if (await store.replaceSealed(entry, replacement)) rewrapped++;
    else changedMeanwhile++;
  }
  return { total: entries.length, rewrapped, current, changedMeanwhile, byKek };
}

import type { BouncerConfig } from './types.js';

/**
 * The policies of each app as written (JSON), per loaded config. Compiled
 * policies hold CEL programs and Sets, which do not serialise, so the watcher
 * compares these to tell whether a reload changed any policy. Kept beside the
 * config rather than in it so `BouncerConfig` stays exactly the shared shape.
 */
const policySources = new WeakMap<BouncerConfig, readonly string[]>();
let unknownCount = 0;

/** Records the policies as written for `config` (one JSON string per app, in order). */
export function rememberPolicySources(config: BouncerConfig, sources: readonly string[]): void {
  policySources.set(config, Object.freeze([...sources]));
}

/**
 * The policies as written of a config from `loadConfig`. A config built some
 * other way (a test double) gets a value of its own, so it always counts as
 * different: a reload that is not needed is harmless, a missed one is not.
 */
export function policySourcesOf(config: BouncerConfig): readonly string[] {
  let sources = policySources.get(config);
  if (!sources) {
    sources = [`(not from loadConfig #${++unknownCount})`];
    policySources.set(config, sources);
  }
  return sources;
}

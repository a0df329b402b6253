#!/usr/bin/env node
import { SERVE_SEMI_SPACE_MIB } from '../config/defaults.js';

/**
 * The flag must be given before V8 sets up its heap, so `serve` starts again
 * in place (execve: same process id, nothing in between) with it, unless the
 * operator already chose a size (in NODE_OPTIONS or on node's command line).
 */
function restartWithYoungGenerationLimit(args: readonly string[]): void {
  if (args[0] !== 'serve' || typeof process.execve !== 'function') return;
  const chosen = (flags: string): boolean => /--max[-_]semi[-_]space[-_]size\b/.test(flags);
  if (process.execArgv.some(chosen) || chosen(process.env.NODE_OPTIONS ?? '')) return;
  process.execve(process.execPath, [process.execPath, `--max-semi-space-size=${SERVE_SEMI_SPACE_MIB}`, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

restartWithYoungGenerationLimit(process.argv.slice(2));

// Loaded after the restart above, so `serve` loads the application once.
const { runCli } = await import('./index.js');
runCli(process.argv.slice(2)).then(
  (code) => {
    // `serve` keeps running until a signal; every other command ends with its code.
    if (code !== 0) process.exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`error: ${String(err)}\n`);
    process.exit(1);
  },
);

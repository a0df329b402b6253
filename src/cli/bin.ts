#!/usr/bin/env node
import { SERVE_HEAP_GROWING_PERCENT, SERVE_MALLOC_MMAP_THRESHOLD_BYTES, SERVE_SEMI_SPACE_MIB } from '../config/defaults.js';

/**
 * `serve` needs V8 flags that must be given before V8 sets up its heap: a
 * 16 MiB young generation (SERVE_SEMI_SPACE_MIB), a fixed old-generation
 * growing factor (SERVE_HEAP_GROWING_PERCENT; config/defaults-authz.ts says why for
 * both) and `--expose-gc`, for the one collection after an abuse episode
 * (authz/memory-reclaim.ts); and glibc's malloc reads its mmap threshold
 * (SERVE_MALLOC_MMAP_THRESHOLD_BYTES) from the environment only when the
 * process starts. So `serve` starts again in place (execve: same process id,
 * nothing in between) with whichever the operator did not already give (in
 * NODE_OPTIONS or on node's command line; MALLOC_MMAP_THRESHOLD_ or a
 * GLIBC_TUNABLES mmap_threshold in the environment).
 */
function restartWithServeFlags(args: readonly string[]): void {
  if (args[0] !== 'serve' || typeof process.execve !== 'function') return;
  const given = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  const flags: string[] = [];
  if (!/--max[-_]semi[-_]space[-_]size\b/.test(given)) flags.push(`--max-semi-space-size=${SERVE_SEMI_SPACE_MIB}`);
  if (!/--expose[-_]gc\b/.test(given)) flags.push('--expose-gc');
  if (!/--heap[-_]growing[-_]percent\b/.test(given)) flags.push(`--heap-growing-percent=${SERVE_HEAP_GROWING_PERCENT}`);
  if (flags.length === 0) return;
  const env = { ...process.env };
  if (env.MALLOC_MMAP_THRESHOLD_ === undefined && !(env.GLIBC_TUNABLES ?? '').includes('mmap_threshold')) env.MALLOC_MMAP_THRESHOLD_ = String(SERVE_MALLOC_MMAP_THRESHOLD_BYTES);
  process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env);
}

restartWithServeFlags(process.argv.slice(2));

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

import { jest } from '@jest/globals';
import { runCli } from '../../src/cli/index.js';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs `bouncer …` in-process, capturing what it prints, and resets the exit code it may set. */
export async function runCaptured(argv: readonly string[]): Promise<CliRun> {
  let out = '';
  let err = '';
  const o = jest.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => {
    out += String(s);
    return true;
  });
  const e = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  try {
    const code = await runCli(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
    process.exitCode = undefined;
  }
}

/** What the last {@link cli} call printed, live-bound for suites that assert on it after the call. */
export let out = '';
export let err = '';

/** Runs `bouncer …` in-process, keeps what it printed in `out` and `err`, and resolves to its exit code. */
export async function cli(...argv: string[]): Promise<number> {
  const r = await runCaptured(argv);
  out = r.out;
  err = r.err;
  return r.code;
}

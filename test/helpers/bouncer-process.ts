import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { waitFor } from './ports.js';

/** `bouncer serve` as its own process (the built CLI in dist/), as an operator runs it. */
export interface BouncerProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far (JSON log lines). */
  output(): string;
  /** Decision records from its audit lines. */
  decisions(): Array<Record<string, unknown>>;
  /** Resolves with the exit code once the process has exited. */
  exited(): Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export const BOUNCER_BIN = join(packageRoot(), 'dist', 'src', 'cli', 'bin.js');

/**
 * How long a start may take before it counts as failed. A start takes a few
 * seconds, but the full suite runs two workers beside other work on two cores:
 * at a load average of 20, a fleet-envoy replica (PostgreSQL, Redis, a new
 * signing key) had printed nothing after 15 s. Only a failure waits this long.
 */
const READY_TIMEOUT_MS = 60_000;

/**
 * Starts `bouncer serve --config <configPath> ...args` and, unless `readyUrl` is
 * undefined, waits until that URL answers 200. Rejects with the process output
 * when it exits first.
 */
export async function startBouncerProcess(o: {
  configPath: string;
  args?: readonly string[];
  env?: NodeJS.ProcessEnv;
  readyUrl?: string;
  timeoutMs?: number;
  /** `--grace` in seconds; default 2. */
  graceSeconds?: number;
}): Promise<BouncerProcess> {
  const child = spawn(process.execPath, [BOUNCER_BIN, 'serve', '--config', o.configPath, '--grace', String(o.graceSeconds ?? 2), ...(o.args ?? [])], {
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const proc: BouncerProcess = {
    child,
    output: () => out,
    decisions: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{') && l.includes('"msg":"decision"'))
        .map((l) => (JSON.parse(l) as { decision: Record<string, unknown> }).decision),
    exited: () => exit,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exit;
    },
  };
  if (o.readyUrl !== undefined) {
    const url = o.readyUrl;
    try {
      await waitFor(
        `bouncer (${(o.args ?? []).join(' ') || 'serve'}) to be ready`,
        async () => {
          if (child.exitCode !== null) throw new Error(`bouncer exited with ${child.exitCode}:\n${out}`);
          return (await fetch(url).catch(() => undefined))?.status === 200;
        },
        o.timeoutMs ?? READY_TIMEOUT_MS,
      );
    } catch (err) {
      await proc.stop('SIGKILL');
      throw new Error(`${(err as Error).message}\n--- bouncer output ---\n${out}`);
    }
  }
  return proc;
}

/**
 * The prober of authz-abuse.ts (test/helpers/probe-runner.ts) in a process of its
 * own, so what it measures is bouncer and not the test runner's own pauses.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import type { ProbeSummary } from './authz-abuse.js';
import { waitFor } from './ports.js';

/** Built into dist/ by `npm run build`, as the tests that use it run after it. */
const PROBER = join(packageRoot(), 'dist', 'test', 'helpers', 'probe-runner.js');

export interface ProberProcess {
  /** SIGTERM, then the summary the prober prints. */
  stop(): Promise<ProbeSummary>;
  /** SIGKILL, for a test that failed before `stop`. */
  kill(): void;
}

/** Starts the prober against `port` (every `everyMs`, each answer due within `limitMs`); resolves once it is answered. */
export async function startProberProcess(port: number, everyMs: number, limitMs: number): Promise<ProberProcess> {
  const child = spawn(process.execPath, [PROBER, String(port), String(everyMs), String(limitMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the prober to be answered', async () => out.startsWith('ready\n'), 10_000);
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        child.once('exit', () => {
          try {
            resolve(JSON.parse(out.slice('ready\n'.length)) as ProbeSummary);
          } catch (err) {
            reject(new Error(`the prober printed no summary: ${out}`, { cause: err }));
          }
        });
        child.kill('SIGTERM');
      }),
    kill: () => void (child.exitCode === null && child.kill('SIGKILL')),
  };
}

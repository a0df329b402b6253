/**
 * The prober of authz-abuse.ts in a plain process of its own, so what it
 * measures is bouncer and not the test runner's own pauses (module
 * transforms, its garbage collection, the /proc sampler):
 *
 *   node dist/test/helpers/probe-runner.js <port> <everyMs> <limitMs>
 *
 * Prints `ready` once the first round is answered; on SIGTERM it stops,
 * waits for the calls in flight and prints the ProbeSummary as one JSON line.
 */
import { startProber } from './authz-abuse.js';

const port = Number(process.argv[2]);
const everyMs = Number(process.argv[3] ?? 50);
const limitMs = Number(process.argv[4] ?? 1000);
let first = true;
const prober = startProber(port, everyMs, limitMs, () => {
  if (!first) return;
  first = false;
  process.stdout.write('ready\n');
});
process.once('SIGTERM', () => {
  void prober.stop().then((summary) => {
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    process.exit(0);
  });
});

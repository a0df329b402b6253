/**
 * A hostile HTTP/2 client against a running bouncer process while a prober
 * sends an allowed check, a denied check and a health check every 50 ms: every
 * probe must be answered right within a second, and the process's resident
 * memory and open descriptors (read from /proc) must stay within bounds while
 * the abuse lasts and come back near their baseline after it.
 *
 * Three processes: bouncer, the prober (test/helpers/probe-runner.ts) and the
 * hostile client (abuse-runner.ts). The hostile client runs at the lowest
 * scheduling priority: in a deployment it is another machine, and on a test
 * host of two shared cores its own CPU would otherwise be charged to
 * bouncer's answers. The round's output shows its work was all done.
 *
 * The abuse (test/helpers/authz-abuse.ts): prefixes declaring 16 MiB and 4 GiB
 * then trickling; hundreds of streams parked just under the 1 MiB limit on
 * several connections; a thousand unfinished relayed streams (health Watch,
 * reflection) on one connection; hundreds of connections that commit a
 * protocol error and half-close; hundreds that never finish the HTTP/2
 * handshake or stop reading after it. Two rounds, one after the other,
 * each followed by bouncer's one full collection once the port is quiet
 * (its `memory_reclaimed` log line), after which RSS must be back within
 * {@link KEPT_AFTER} of its baseline.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVE_HEAP_GROWING_PERCENT, SERVE_MALLOC_MMAP_THRESHOLD_BYTES, SERVE_SEMI_SPACE_MIB } from '../../src/config/defaults.js';
import { packageRoot } from '../../src/paths.js';
import { processFootprint, startProber } from '../helpers/authz-abuse.js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { startProberProcess } from '../helpers/prober-process.js';
import { freePort, waitFor } from '../helpers/ports.js';

/** The hostile client runs in a process of its own (built into dist/), so its work never delays the prober. */
const RUNNER = join(packageRoot(), 'dist', 'test', 'helpers', 'abuse-runner.js');

const MiB = 1024 * 1024;
/** How late a probe may be answered: every answer, not a percentile. */
const PROBE_LIMIT_MS = 1000;
/** The transport's process-wide budget of buffered request bytes (transport-limits.ts). */
const BUFFER_BUDGET = 64 * MiB;
/** Room above the baseline for V8, nghttp2 and socket buffers under a few thousand streams. */
const OVERHEAD = 96 * MiB;
/**
 * Resident memory that may stay after a round, and after two, once bouncer
 * has given back what the round grew (the one full collection after an
 * episode, authz/memory-reclaim.ts): 40 MiB. `bouncer serve` runs with a
 * 16 MiB young-generation semi-space and a 50 % old-generation growing
 * factor, with glibc's mmap threshold fixed (src/cli/bin.ts). Measured +16
 * to +21 MiB after each of the two rounds, in two runs, on a 150 MiB baseline (+15 and +26
 * without the fixed threshold; before the reclaim and the growing factor:
 * +26 to +39 MiB); what stays is mostly glibc's main malloc arena kept for
 * reuse (docs/authz-transport.md).
 */
const KEPT_AFTER = 40 * MiB;
/**
 * What a second, identical round may add on top of the first (measured -5
 * to +11 MiB, 0 and +5 with every setting above): what the first round grew is
 * reused, not added to.
 */
const REGROWTH = 16 * MiB;

type Footprint = { rssBytes: number; fds: number };

function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

let dir: string;
let bouncer: BouncerProcess;
let authzPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-abuse-'));
  authzPort = await freePort();
  const httpPort = await freePort();
  writeFileSync(join(dir, 'bouncer.yaml'), `listen:\n  authz: 127.0.0.1:${authzPort}\n  http: 127.0.0.1:${httpPort}\ntenants:\n  - name: open\n    hostnames: [app.open.test]\n    mtls: { mode: "off" }\n`);
  bouncer = await startBouncerProcess({ configPath: join(dir, 'bouncer.yaml'), env: { BOUNCER_LOG_LEVEL: 'warn' }, readyUrl: `http://127.0.0.1:${httpPort}/readyz` });
});

afterAll(async () => {
  await bouncer?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test('hostile clients cost bounded memory and descriptors, and checks and health keep answering', async () => {
  const pid = bouncer.child.pid as number;
  // Warm up, then take the baseline.
  const warm = startProber(authzPort, 50, PROBE_LIMIT_MS);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await warm.stop();
  const base = processFootprint(pid);
  // `bouncer serve` restarted itself with its memory settings (src/cli/bin.ts): the bounds below rely on them.
  expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([`--max-semi-space-size=${SERVE_SEMI_SPACE_MIB}`, '--expose-gc', `--heap-growing-percent=${SERVE_HEAP_GROWING_PERCENT}`]));
  expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain(`MALLOC_MMAP_THRESHOLD_=${SERVE_MALLOC_MMAP_THRESHOLD_BYTES}`);

  const prober = await startProberProcess(authzPort, 50, PROBE_LIMIT_MS);
  let peak = base;
  const sampler = setInterval(() => {
    const now = processFootprint(pid);
    peak = { rssBytes: Math.max(peak.rssBytes, now.rssBytes), fds: Math.max(peak.fds, now.fds) };
  }, 100);
  const line = (f: Footprint): string => `${(f.rssBytes / MiB).toFixed(0)} MiB, ${f.fds} fds`;
  const reclaims = (): Array<Record<string, unknown>> =>
    bouncer
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"memory_reclaimed'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  /** One abuse round held 7 s (past the parked streams' 5 s delivery limit), then its connections dropped and reaped. */
  const abuseRound = async (n: number): Promise<{ connections: number; streamsAnswered: number; after: Footprint }> => {
    const round = new Promise<string>((resolve, reject) => {
      const child = execFile(process.execPath, [RUNNER, String(authzPort), '0', '7000'], { timeout: 60_000 }, (err, out) => (err ? reject(err) : resolve(out)));
      setPriority(child.pid as number, 19);
    });
    const during = await new Promise<Footprint>((resolve) => setTimeout(() => resolve(processFootprint(pid)), 6500));
    const out = await round;
    // Deaf connections the hostile client still held are reaped by the keepalive ping (10 s + 10 s) if it did not close them.
    await waitFor('descriptors back near the baseline', async () => processFootprint(pid).fds <= base.fds + 8, 40_000);
    // Once the port has been quiet for 5 s bouncer collects garbage once (authz/memory-reclaim.ts), at most every 30 s.
    await waitFor(`the reclaim after round ${n}`, async () => reclaims().length >= n, 60_000);
    // V8 hands freed pages back from a background task: give it a moment.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = processFootprint(pid);
    process.stdout.write(`authz abuse round ${n}: ${out.trim()}; at its end ${line(during)}; after ${line(after)}; ${JSON.stringify(reclaims()[n - 1])}\n`);
    return { ...(JSON.parse(out) as { connections: number; streamsAnswered: number }), after };
  };
  try {
    const first = await abuseRound(1);
    const second = await abuseRound(2);
    const summary = await prober.stop();
    clearInterval(sampler);
    process.stdout.write(`authz abuse: baseline ${line(base)}; peak ${line(peak)}; ${summary.rounds} probe rounds, probe p99 ${percentile(summary.latenciesMs, 0.99).toFixed(0)} ms, max ${Math.max(...summary.latenciesMs).toFixed(0)} ms\n`);

    // The abuse was all sent and answered (refused, reset or cut), niced or not.
    for (const r of [first, second]) {
      expect(r.connections).toBe(610);
      expect(r.streamsAnswered).toBeGreaterThan(1000);
    }
    expect(summary.wrong).toEqual([]);
    expect(summary.rounds).toBeGreaterThan(200);
    expect(peak.rssBytes).toBeLessThan(base.rssBytes + BUFFER_BUDGET + OVERHEAD);
    // Without reaping, the 600 broken and protocol-error connections of a round would hold 600 descriptors.
    expect(peak.fds).toBeLessThan(base.fds + 600);
    expect(second.after.fds).toBeLessThanOrEqual(base.fds + 8);
    // Each episode's end was noticed and its memory given back once.
    expect(reclaims()).toHaveLength(2);
    // What stays after the first round is memory the allocator keeps for reuse (docs/authz-transport.md):
    // bounded, and a second round does not add to it.
    expect(first.after.rssBytes).toBeLessThan(base.rssBytes + KEPT_AFTER);
    expect(second.after.rssBytes).toBeLessThan(base.rssBytes + KEPT_AFTER);
    expect(second.after.rssBytes).toBeLessThan(first.after.rssBytes + REGROWTH);
  } finally {
    clearInterval(sampler);
  }
}, 240_000);

/**
 * The soak: a bouncer process under legitimate load (the prober's allowed,
 * denied and health checks, `SOAK_PROBE_MS` apart, default 5 ms: about 600
 * calls a second) while a hostile client in its own process repeats abuse
 * rounds (test/helpers/abuse-runner.ts, at the lowest scheduling priority) for the whole run. Every second it
 * records the bouncer's RSS, open descriptors and the probes' p99, then writes
 * bench/soak.json and bench/soak.svg (three panels over time).
 *
 *   node dist/bench/soak.js [minutes]       (default SOAK_MINUTES or 20)
 *   node dist/bench/run.js --only Soak      (the same, from the bench runner)
 *
 * Bounded: it stops after the given minutes, and the abuse stops with it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/paths.js';
import { diffHeapSummaries, summarizeHeapSnapshot, type HeapDiffRow } from './heap-diff.js';
import { processFootprint, startProber } from '../test/helpers/authz-abuse.js';
import { startBouncerProcess } from '../test/helpers/bouncer-process.js';
import { freePort } from './lib/processes.js';

export interface SoakSample {
  readonly t: number;
  readonly rssMiB: number;
  readonly fds: number;
  readonly p99Ms: number;
  readonly probes: number;
  /** The host's one-minute load average: the machine is shared, and its load is part of every latency here. */
  readonly load: number;
}

/**
 * A probe that was not answered right in time, by kind: `late` (the right
 * answer, after the limit), `unanswered` (nothing within the limit and 200 ms
 * more), `failed` (the call ended in a transport or gRPC error, never an
 * answer) and `wrong` (an answer, but not the right one: a denied check
 * allowed would be a security bug, so the soak keeps every one of these).
 */
export interface SoakProblems {
  readonly late: number;
  readonly unanswered: number;
  readonly failed: number;
  readonly wrong: number;
  /** Every wrong answer and failure, and the first 50 late or unanswered, as the prober described them. */
  readonly details: readonly string[];
}

/**
 * Where a process's resident memory is, from /proc/<pid>/smaps: glibc's main
 * malloc arena (`[heap]`), other anonymous mappings (V8's heap spaces, other
 * malloc arenas, large buffers) and the rest (code, files).
 */
export function residentBreakdown(pid: number): { heapMiB: number; anonMiB: number; otherMiB: number } {
  let heap = 0;
  let anon = 0;
  let other = 0;
  let current: 'heap' | 'anon' | 'other' = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      const name = mapping[1] ?? '';
      current = name === '[heap]' ? 'heap' : name === '' ? 'anon' : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      const kb = Number(rss[1]);
      if (current === 'heap') heap += kb;
      else if (current === 'anon') anon += kb;
      else other += kb;
    }
  }
  return { heapMiB: heap / 1024, anonMiB: anon / 1024, otherMiB: other / 1024 };
}

export function classifyProbeProblems(described: readonly string[]): SoakProblems {
  let late = 0;
  let unanswered = 0;
  let failed = 0;
  let wrong = 0;
  const details: string[] = [];
  for (const d of described) {
    if (/: answered after \d+ ms$/.test(d)) {
      if (late++ < 50) details.push(d);
    } else if (/: no answer within \d+ ms$/.test(d)) {
      if (unanswered++ < 50) details.push(d);
    } else if (/: error 4 /.test(d)) {
      // The prober's own deadline (the limit) passed: the call was not answered in time.
      if (unanswered++ < 50) details.push(d);
    } else if (/: (failed: |error )/.test(d)) {
      failed++;
      details.push(d);
    } else {
      wrong++;
      details.push(d);
    }
  }
  return { late, unanswered, failed, wrong, details };
}

/** The process at one moment: RSS, descriptors, where RSS sits (smaps) and V8's own view (its /metrics, in MiB). */
export interface SoakPoint {
  readonly rssMiB: number;
  readonly fds: number;
  readonly resident: ReturnType<typeof residentBreakdown>;
  readonly v8: Record<string, number>;
}

export interface SoakResult {
  readonly minutes: number;
  readonly samples: readonly SoakSample[];
  readonly problems: SoakProblems;
  readonly totalProbes: number;
  readonly abuseRounds: number;
  readonly baseline: SoakPoint;
  /** 30 s after the abuse stopped, the legitimate load going on. */
  readonly after: SoakPoint;
  /** 60 s after the abuse stopped. */
  readonly after60: SoakPoint;
  /**
   * Only with SOAK_HEAP_SNAPSHOTS: a heap snapshot at the baseline and one
   * after `after60` (each forces a full GC first), the RSS just after the
   * second, and the constructors whose live size changed most between them.
   */
  readonly heap?: { readonly afterFullGc: SoakPoint; readonly totalMiB: { baseline: number; after: number }; readonly diff: readonly HeapDiffRow[] };
}

/**
 * V8's heap as bouncer's own /metrics reports it (prom-client's default
 * metrics): used and total per heap space, external memory, in MiB, and
 * the count and seconds of full collections so far. Reading
 * it triggers no GC, unlike a heap snapshot.
 */
async function v8Metrics(httpPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^bouncer_nodejs_(heap_space_size_used_bytes|heap_space_size_total_bytes|heap_size_total_bytes|heap_size_used_bytes|external_memory_bytes)(?:\{space="(\w+)"\})? (\S+)$/.exec(line);
    if (m) out[`${m[1]?.replace('_bytes', '')}${m[2] ? `.${m[2]}` : ''}`] = Number(m[3]) / MiB;
    // Full (mark-compact) collections so far and their total seconds: the reclaim after an episode is one of them.
    const gc = /^bouncer_nodejs_gc_duration_seconds_(count|sum)\{kind="major"\} (\S+)$/.exec(line);
    if (gc) out[`major_gc_${gc[1]}`] = Number(gc[2]);
  }
  return out;
}

/** Sends SIGUSR2 (the process runs with --heapsnapshot-signal) and waits for the new snapshot in `dir` to be written out. */
async function takeHeapSnapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let last = -1;
  for (const giveUp = Date.now() + 120_000; Date.now() < giveUp; ) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (file === undefined) continue;
    const size = statSync(join(dir, file)).size;
    // Written synchronously on bouncer's main thread: once its size stops changing and the process answers again, it is complete.
    if (size > 0 && size === last) return join(dir, file);
    last = size;
  }
  throw new Error('no heap snapshot was written within 2 minutes');
}

const root = packageRoot();
const MiB = 1024 * 1024;

function p99(values: number[]): number {
  if (values.length === 0) return 0;
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor(0.99 * values.length))] as number;
}

export async function runSoak(minutes: number, log: (m: string) => void = (m) => void process.stderr.write(`[soak] ${m}\n`)): Promise<SoakResult> {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-soak-'));
  const authzPort = await freePort();
  const httpPort = await freePort();
  writeFileSync(join(dir, 'bouncer.yaml'), `listen:\n  authz: 127.0.0.1:${authzPort}\n  http: 127.0.0.1:${httpPort}\ntenants:\n  - name: open\n    hostnames: [app.open.test]\n    mtls: { mode: "off" }\n`);
  // Decision log lines go to /dev/null's equivalent: the soak measures the port, not pino.
  // SOAK_BOUNCER_ENV (a JSON object) adds to the bouncer process's environment only, to compare settings such as NODE_OPTIONS or GLIBC_TUNABLES.
  const extraEnv = JSON.parse(process.env.SOAK_BOUNCER_ENV ?? '{}') as Record<string, string>;
  // SOAK_HEAP_SNAPSHOTS (a directory): heap snapshots of bouncer at the baseline and after the abuse, and their difference in the result.
  const snapshots = process.env.SOAK_HEAP_SNAPSHOTS;
  if (snapshots !== undefined) {
    mkdirSync(snapshots, { recursive: true });
    extraEnv.NODE_OPTIONS = `${extraEnv.NODE_OPTIONS ?? ''} --heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${snapshots}`.trim();
  }
  const bouncer = await startBouncerProcess({ configPath: join(dir, 'bouncer.yaml'), env: { BOUNCER_LOG_LEVEL: 'error', ...extraEnv }, readyUrl: `http://127.0.0.1:${httpPort}/readyz` });
  const pid = bouncer.child.pid as number;
  try {
    const warm = startProber(authzPort, 5, 1000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    await warm.stop();
    const point = async (): Promise<SoakPoint> => {
      const f = processFootprint(pid);
      return { rssMiB: f.rssBytes / MiB, fds: f.fds, resident: residentBreakdown(pid), v8: await v8Metrics(httpPort) };
    };
    const baseline = await point();
    const baseSnapshot = snapshots === undefined ? undefined : await takeHeapSnapshot(pid, snapshots);
    log(`baseline ${baseline.rssMiB.toFixed(0)} MiB, ${baseline.fds} fds; running ${minutes} min`);
    let window: number[] = [];
    const prober = startProber(authzPort, Number(process.env.SOAK_PROBE_MS ?? 5), 1000, (ms) => window.push(ms));
    const runner = join(root, 'dist', 'test', 'helpers', 'abuse-runner.js');
    let abuseRounds = 0;
    const abuse = new Promise<void>((resolve) => {
      const child = execFile(process.execPath, [runner, String(authzPort), String(minutes * 60), '7000'], { maxBuffer: 64 * MiB }, () => resolve());
      // Lowest priority: in a deployment the hostile client is another machine (as in test/integration/authz-abuse).
      setPriority(child.pid as number, 19);
      child.stdout?.on('data', (d: Buffer) => (abuseRounds += d.toString().split('\n').filter((l) => l.startsWith('{')).length));
    });
    const samples: SoakSample[] = [];
    const started = Date.now();
    const sampler = setInterval(() => {
      const f = processFootprint(pid);
      const probes = window;
      window = [];
      samples.push({ t: (Date.now() - started) / 1000, rssMiB: f.rssBytes / MiB, fds: f.fds, probes: probes.length, p99Ms: p99(probes), load: loadavg()[0] ?? 0 });
      if (samples.length % 60 === 0) log(`${(samples.length / 60).toFixed(0)} min: ${(f.rssBytes / MiB).toFixed(0)} MiB, ${f.fds} fds, p99 ${p99(probes).toFixed(1)} ms`);
    }, 1000);
    await abuse;
    // The abuse has stopped: let the last connections be reaped while the legitimate load goes on.
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    const after = await point();
    log(`30 s after the abuse: ${after.rssMiB.toFixed(0)} MiB, ${after.fds} fds`);
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    const after60 = await point();
    log(`60 s after the abuse: ${after60.rssMiB.toFixed(0)} MiB, ${after60.fds} fds`);
    clearInterval(sampler);
    // Stopped first: a snapshot stops bouncer's main thread for seconds, which would count as late probes.
    const summary = await prober.stop();
    let heap: SoakResult['heap'];
    if (snapshots !== undefined && baseSnapshot !== undefined) {
      const afterSnapshot = await takeHeapSnapshot(pid, snapshots);
      const afterFullGc = await point();
      const a = summarizeHeapSnapshot(baseSnapshot);
      const b = summarizeHeapSnapshot(afterSnapshot);
      heap = { afterFullGc, totalMiB: { baseline: a.totalBytes / MiB, after: b.totalBytes / MiB }, diff: diffHeapSummaries(a, b, 30) };
    }
    return {
      minutes,
      samples,
      problems: classifyProbeProblems(summary.wrong),
      totalProbes: summary.latenciesMs.length,
      abuseRounds,
      baseline,
      after,
      after60,
      ...(heap === undefined ? {} : { heap }),
    };
  } finally {
    await bouncer.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Three panels (RSS, descriptors, p99) over time, as a plain SVG. */
export function soakSvg(r: SoakResult): string {
  const W = 720;
  const H = 160;
  const panels: Array<{ name: string; unit: string; pick: (s: SoakSample) => number }> = [
    { name: 'RSS', unit: 'MiB', pick: (s) => s.rssMiB },
    { name: 'open descriptors', unit: '', pick: (s) => s.fds },
    { name: 'probe p99', unit: 'ms', pick: (s) => s.p99Ms },
  ];
  const tMax = Math.max(1, ...r.samples.map((s) => s.t));
  const parts = panels.map((p, i) => {
    const values = r.samples.map(p.pick);
    const vMax = Math.max(1, ...values) * 1.1;
    const top = i * (H + 30) + 20;
    const points = r.samples.map((s) => `${(50 + (s.t / tMax) * (W - 70)).toFixed(1)},${(top + H - (p.pick(s) / vMax) * H).toFixed(1)}`).join(' ');
    return `<text x="50" y="${top - 5}" font-size="12">${p.name} (max ${Math.max(0, ...values).toFixed(p.unit === 'ms' ? 1 : 0)} ${p.unit})</text><rect x="50" y="${top}" width="${W - 70}" height="${H}" fill="none" stroke="#ccc"/><text x="45" y="${top + 10}" font-size="10" text-anchor="end">${vMax.toFixed(0)}</text><text x="45" y="${top + H}" font-size="10" text-anchor="end">0</text><polyline fill="none" stroke="#1f6feb" stroke-width="1" points="${points}"/>`;
  });
  const height = panels.length * (H + 30) + 30;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" font-family="sans-serif">${parts.join('')}<text x="${W - 20}" y="${height - 5}" font-size="10" text-anchor="end">seconds (0–${tMax.toFixed(0)}); abuse for ${r.minutes} min, then 60 s of legitimate load alone</text></svg>\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const minutes = Number(process.argv[2] ?? process.env.SOAK_MINUTES ?? 20);
  const r = await runSoak(minutes);
  // SOAK_OUT: where soak.json and soak.svg go (default bench/soak), so runs with other settings do not overwrite the published one.
  const out = process.env.SOAK_OUT ?? join(root, 'bench', 'soak');
  writeFileSync(`${out}.json`, `${JSON.stringify(r)}\n`);
  writeFileSync(`${out}.svg`, soakSvg(r));
  const rss = r.samples.map((s) => s.rssMiB);
  const fds = r.samples.map((s) => s.fds);
  const p99s = r.samples.map((s) => s.p99Ms);
  process.stdout.write(
    `${JSON.stringify({ minutes, abuseRounds: r.abuseRounds, probes: r.totalProbes, late: r.problems.late, unanswered: r.problems.unanswered, failed: r.problems.failed, wrong: r.problems.wrong, baseline: r.baseline, after: r.after, after60: r.after60, heap: r.heap, rssMaxMiB: Math.max(...rss), fdsMax: Math.max(...fds), p99MaxMs: Math.max(...p99s), p99MedianOfSecondsMs: [...p99s].sort((a, b) => a - b)[Math.floor(p99s.length / 2)] })}\n`,
  );
}

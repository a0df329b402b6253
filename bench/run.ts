/**
 * `npm run bench`: bouncer side by side with its baselines, through one pinned
 * Envoy and one small upstream, then BENCHMARKS.md (tables) and a chart.
 *
 *   node dist/bench/run.js [--only S1,S3,...] [--profile] [--no-report] [--merge]
 *
 * Environment: BENCH_RUNS (default 5), BENCH_SECONDS per run (default 5),
 * BENCH_RATES for the fixed-rate runs (default 500,1000,2000; BENCH_RATE_RUNS of them, default 5),
 * BENCH_ENVOY_CONCURRENCY (default 1), BENCH_TENANTS (default 10,100000),
 * BENCH_WORKERS (default 1,2), ENVOY_BIN (see scripts/install-envoy.sh).
 *
 * Scenarios (see BENCHMARKS.md): S1 no auth, S2 Envoy-only checks, S3 ext_authz
 * to a no-op grpc-js server, S3t the same no-op on bouncer's own gRPC
 * transport, S3h that no-op answering with bouncer's response, S4 bouncer warm, S5 bouncer cold (new chain per
 * request, RSA-2048 and P-256; new token per request), Direct (h2load gRPC at
 * bouncer), Chains (in-process chain validations per core), T (the S4 request
 * at 1,000/s with 10 and 100,000 tenants), W (`serve --workers N`), and X
 * (customer hostnames over xDS, bench/xds-scale.ts: minutes, so only with
 * `--only X`, never in the default run), and XH (TLS handshakes/s through the
 * xDS listener's per-hostname chains against the static listener,
 * bench/xds-handshakes.ts; only with `--only XH`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../src/paths.js';
import { measureColdChains, type ColdChainResult } from './cold-chains.js';
import { frontConfig, pinEnvoy, startEnvoy, upstreamConfig, type RunningEnvoy } from './lib/envoy.js';
import { startBouncer } from './lib/bouncer.js';
import { createFixtures, HOST, SESSION_COOKIE, type Fixtures } from './lib/fixtures.js';
import { buildTlsShim, h2load, wrk, type LoadResult, type TlsClient } from './lib/load.js';
import { childPids, cpuSeconds, freePort, machineCpuSeconds, pinning, pinSelf, rssBytes, selfAndChildrenCpuSeconds, sleep, startProc, stopAll, waitFor, type Proc } from './lib/processes.js';
import { summarizeProfile, type ProfileSummary } from './lib/profile.js';
import { writeReport, type BenchResults, type RunSet } from './lib/report.js';
import type { LoadResult as Load } from './lib/load.js';

const root = packageRoot();
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = 2;
/** Fixed-rate runs per rate and server (taking turns), as many as closed-loop runs: a p99 needs them more. */
const RATE_RUNS = Number(process.env.BENCH_RATE_RUNS ?? 5);
const RATES = (process.env.BENCH_RATES ?? '500,1000,2000').split(',').map(Number);
const ENVOY_CONCURRENCY = Number(process.env.BENCH_ENVOY_CONCURRENCY ?? 1);
/** Tenant counts of the T scenario (the first is the baseline). */
const TENANT_COUNTS = (process.env.BENCH_TENANTS ?? '10,100000').split(',').map(Number);
/** Worker counts of the W scenario. */
const WORKER_COUNTS = (process.env.BENCH_WORKERS ?? '1,2').split(',').map(Number);
/** Closed loop through Envoy: 16 connections x 8 streams in flight. */
const CLOSED = { clients: 16, streams: 8 };

const args = process.argv.slice(2);
const only = args.includes('--only') ? new Set((args[args.indexOf('--only') + 1] ?? '').split(',')) : undefined;
const want = (id: string): boolean => !only || only.has(id);
const profile = args.includes('--profile');

const work = join(root, '.tmp', 'bench');
/** The upstream Envoy, counted as ours when measuring other load. */
let upstreamPid: number | undefined;
const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);


interface Watched {
  name: string;
  pid: number;
  /** Count the CPU of its child processes too (the workers of `serve --workers`). */
  withChildren?: boolean;
}

/** CPU seconds of a watched process (and, if asked, of its children, listed once before the runs). */
function watchedCpu(p: Watched & { children?: number[] }): number {
  let sum = cpuSeconds(p.pid);
  for (const c of p.children ?? []) {
    try {
      sum += cpuSeconds(c);
    } catch {
      // A worker that exited: its time is lost, and the run shows it as failures.
    }
  }
  return sum;
}

/**
 * Runs `once` RUNS times after a warm-up, reading each watched process's CPU time
 * around every run; CPU per request is that process's CPU / successful requests.
 */
async function measure(label: string, watched: Watched[], warm: () => Promise<LoadResult>, once: () => Promise<LoadResult>, runs = RUNS): Promise<RunSet> {
  const w = await warm();
  if (w.ok === 0 || w.bad > w.ok * 0.01) throw new Error(`${label}: warm-up got ${w.ok} 2xx and ${w.bad} other answers; the scenario is not set up right`);
  const set: RunSet = { label, runs: [] };
  // Everything we started; whatever else used CPU meanwhile is "other load".
  const ours: Array<Watched & { children?: number[] }> = [...watched, ...(upstreamPid !== undefined ? [{ name: 'upstream', pid: upstreamPid }] : [])].map((p) => ({
    ...p,
    ...(p.withChildren ? { children: childPids(p.pid) } : {}),
  }));
  for (let i = 0; i < runs; i++) {
    const before = ours.map((p) => watchedCpu(p));
    const machineBefore = machineCpuSeconds();
    const selfBefore = selfAndChildrenCpuSeconds();
    const r = await once();
    const cpuUsPerReq: Record<string, number> = {};
    let oursSec = selfAndChildrenCpuSeconds() - selfBefore;
    ours.forEach((p, k) => {
      const used = watchedCpu(p) - (before[k] ?? 0);
      oursSec += used;
      if (k < watched.length) cpuUsPerReq[p.name] = (used * 1e6) / Math.max(1, r.ok);
    });
    const otherCores = Math.max(0, (machineCpuSeconds() - machineBefore - oursSec) / r.seconds);
    if (otherCores > 0.25) log(`${label}: warning: other processes used ${otherCores.toFixed(2)} cores during this run; its figures are not clean`);
    set.runs.push({ ...r, cpuUsPerReq, otherCores });
    log(`${label} run ${i + 1}/${runs}: ${r.rps.toFixed(0)} req/s, ${r.bad} non-2xx, cpu µs/req ${JSON.stringify(Object.fromEntries(Object.entries(cpuUsPerReq).map(([k, v]) => [k, Math.round(v)])))}${r.p99 !== undefined ? `, p50 ${r.p50?.toFixed(2)} ms p99 ${r.p99.toFixed(2)} ms` : ''}${r.bunched !== undefined ? `, ${(100 * r.bunched).toFixed(0)}% bunched` : ''}`);
    if (r.bad > r.ok * 0.01) throw new Error(`${label}: ${r.bad} of ${r.ok + r.bad} requests were not 2xx`);
  }
  return set;
}


async function startNoop(capture: string | undefined, nodeArgs: string[] = [], transport: 'grpc-js' | 'bouncer' = 'grpc-js', responseFile?: string): Promise<Proc & { authzPort: number }> {
  const port = await freePort();
  const script = fileURLToPath(new URL('./noop-authz.js', import.meta.url));
  const args =
    transport === 'bouncer' ? [script, '--bouncer-transport', String(port), ...(responseFile === undefined ? [] : [responseFile])] : [script, String(port), ...(capture === undefined ? [] : [capture])];
  const proc = startProc(transport === 'bouncer' ? (responseFile === undefined ? 'noop-authz-bt' : 'noop-authz-bt-headers') : 'noop-authz', process.execPath, [...nodeArgs, ...args], process.env, { authz: true });
  await waitFor('noop-authz to listen', async () => proc.output().includes('listening'));
  return { ...proc, authzPort: port };
}

/** A 5-byte gRPC length prefix (uncompressed) + the captured message, for h2load -d. */
function grpcBody(captured: Buffer, out: string): string {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(captured.length, 1);
  writeFileSync(out, Buffer.concat([head, captured]));
  return out;
}

async function main(): Promise<void> {
  if (only?.has('Soak')) {
    // The soak runs alone (it is long and needs no Envoy): bench/soak.ts.
    const { runSoak, soakSvg } = await import('./soak.js');
    const r = await runSoak(Number(process.env.SOAK_MINUTES ?? 20), log);
    writeFileSync(join(root, 'bench', 'soak.json'), `${JSON.stringify(r)}\n`);
    writeFileSync(join(root, 'bench', 'soak.svg'), soakSvg(r));
    log(`soak: ${r.totalProbes} probes, ${r.problems.wrong} wrong, ${r.problems.failed} failed, ${r.problems.late + r.problems.unanswered} late, ${r.abuseRounds} abuse rounds; see bench/soak.svg`);
    return;
  }
  pinSelf();
  const started = Date.now();
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const shim = buildTlsShim(work);
  await pinEnvoy(work);
  log('generating certificates, keys and session tokens');
  const f = await createFixtures(join(work, 'fixtures'), { coldPoolSize: 32, coldTokens: 12_000, nowMs: Date.now() });
  const warmTls: TlsClient = { shim, sni: HOST, cert: f.device };
  const poolTls = (id: 'p256' | 'rsa2048'): TlsClient => ({ shim, sni: HOST, pool: f.coldPools[id].list });
  const headers = { ':authority': HOST, cookie: `${SESSION_COOKIE}=${f.token}` };
  const results: BenchResults = {
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, envoyConcurrency: ENVOY_CONCURRENCY, runs: RUNS, seconds: SECONDS, rateRuns: RATE_RUNS, ...(pinning ? { authzCpus: pinning.authz, otherCpus: pinning.others } : {}) },
    closed: [],
    rated: [],
    cold: [],
    chains: {},
    tenantScale: [],
    workers: [],
    date: new Date().toISOString(),
  };

  const upstream = await startEnvoy('upstream', work, (p) => upstreamConfig(p));
  upstreamPid = upstream.pid;
  const front = (mode: Parameters<typeof frontConfig>[0], authzPort = 1): Promise<RunningEnvoy> =>
    startEnvoy(`front-${mode}`, work, (p) => frontConfig(mode, f, { ...p, upstreamPort: upstream.port, authzPort }), ENVOY_CONCURRENCY);

  const closedLoop = (label: string, envoy: RunningEnvoy, watched: Watched[], tls: TlsClient = warmTls, runs = RUNS): Promise<RunSet> => {
    const url = `https://127.0.0.1:${envoy.port}/`;
    const o = { url, ...CLOSED, headers, tls, warmupSec: 0 };
    return measure(label, watched, () => h2load({ ...o, durationSec: WARMUP }), () => h2load({ ...o, durationSec: SECONDS }), runs);
  };
  /**
   * Runs each side's single run in turn, `runs` times, each after its own
   * warm-up: a host's speed can drift by a fifth within minutes, and
   * neighbouring runs share the drift, so ratios between sides are steadier
   * than between two blocks of runs. Returns one RunSet per side.
   */
  const takeTurns = async <S extends { label: string }>(sides: readonly S[], runs: number, one: (side: S, turn: string) => Promise<RunSet>): Promise<RunSet[]> => {
    const sets: RunSet[] = sides.map((x) => ({ label: x.label, runs: [] }));
    for (let i = 0; i < runs; i++) {
      for (const [k, x] of sides.entries()) sets[k]?.runs.push(...(await one(x, `turn ${i + 1}/${runs}`)).runs);
    }
    return sets;
  };
  const ratedRuns = (label: string, envoy: RunningEnvoy, watched: Watched[], rate: number, runs: number): Promise<RunSet> => {
    const o = { url: `https://127.0.0.1:${envoy.port}/`, clients: 10, streams: 16, headers, tls: warmTls, warmupSec: 0, rate };
    return measure(`${label} @${rate}/s`, watched, () => h2load({ ...o, durationSec: 1 }), () => h2load({ ...o, durationSec: Math.max(3, SECONDS - 1), logFile: join(work, 'h2load.log') }), runs);
  };
  const fixedRates = async (label: string, envoy: RunningEnvoy, watched: Watched[]): Promise<void> => {
    for (const rate of RATES) results.rated.push({ ...(await ratedRuns(label, envoy, watched, rate, RATE_RUNS)), scenario: label, rate });
  };
  /**
   * Fixed-rate runs of several servers taking turns run by run, as the closed
   * loop does: a p99 is at the mercy of whatever else the host does in those
   * seconds, and neighbouring runs share it.
   */
  const fixedRatesInTurns = async (sides: ReadonlyArray<{ label: string; envoy: RunningEnvoy; watched: Watched[] }>): Promise<void> => {
    for (const rate of RATES) {
      const sets = await takeTurns(sides, RATE_RUNS, (x, turn) => ratedRuns(`${x.label} (${turn})`, x.envoy, x.watched, rate, 1));
      sets.forEach((set, i) => results.rated.push({ ...set, scenario: sides[i]?.label ?? '?', rate }));
    }
  };
  /** New TLS connection (and so a new certificate from the pool) for every request. */
  const coldLoop = (label: string, envoy: RunningEnvoy, watched: Watched[], tls: TlsClient, script?: string): Promise<RunSet> => {
    const o = { url: `https://127.0.0.1:${envoy.port}/`, connections: 16, tls, headers: { Host: HOST, Cookie: `${SESSION_COOKIE}=${f.token}`, ...(script ? {} : { Connection: 'close' }) }, ...(script ? { script } : {}) };
    return measure(label, watched, () => wrk({ ...o, durationSec: WARMUP }), () => wrk({ ...o, durationSec: SECONDS }));
  };

  const s3 = want('S3') || want('Direct');
  const s4 = want('S4') || want('Direct');
  /** S1 kept running to take turns at fixed rates with S3 and S4: "p99 over S1" then compares neighbouring runs. */
  let s1: { label: string; envoy: RunningEnvoy; watched: Watched[] } | undefined;
  try {
    if (want('S1')) {
      const envoy = await front('none');
      const watched = [{ name: 'envoy', pid: envoy.pid }];
      results.closed.push({ ...(await closedLoop('S1', envoy, watched)), scenario: 'S1' });
      for (const id of ['p256', 'rsa2048'] as const) results.cold.push({ ...(await coldLoop(`S1-cold-${id}`, envoy, watched, poolTls(id))), scenario: 'S1', variant: `new ${id} chain` });
      if (s3 && s4) s1 = { label: 'S1', envoy, watched };
      else {
        await fixedRates('S1', envoy, watched);
        await envoy.stop();
      }
    }
    if (want('S2')) {
      const envoy = await front('envoy-only');
      const watched = [{ name: 'envoy', pid: envoy.pid }];
      results.closed.push({ ...(await closedLoop('S2', envoy, watched)), scenario: 'S2' });
      await fixedRates('S2', envoy, watched);
      await envoy.stop();
    }
    const capture = join(work, 'check-request.bin');
    const noop = s3 ? await startNoop(capture) : undefined;
    const envoy3 = noop ? await front('ext_authz', noop.authzPort) : undefined;
    const watched3 = noop && envoy3 ? [{ name: 'envoy', pid: envoy3.pid }, { name: 'authz', pid: noop.pid }] : [];
    const bouncer = s4 ? await startBouncer(f, 'bouncer-warm') : undefined;
    const envoy4 = bouncer ? await front('ext_authz', bouncer.authzPort) : undefined;
    const watched4 = bouncer && envoy4 ? [{ name: 'envoy', pid: envoy4.pid }, { name: 'authz', pid: bouncer.pid }] : [];
    // S3t: the no-op on bouncer's own transport, taking turns with S3 and S4 when asked for.
    const noopT = want('S3t') ? await startNoop(undefined, [], 'bouncer') : undefined;
    const envoy3t = noopT ? await front('ext_authz', noopT.authzPort) : undefined;
    const watched3t = noopT && envoy3t ? [{ name: 'envoy', pid: envoy3t.pid }, { name: 'authz', pid: noopT.pid }] : [];
    // S3h: that no-op answering every check with bouncer's own answer to S4's
    // request (the same identity headers for Envoy to apply and forward).
    let noopH: Awaited<ReturnType<typeof startNoop>> | undefined;
    if (want('S3h') && envoy3 && bouncer) {
      // One request through S3 makes the no-op capture the CheckRequest Envoy sends.
      await h2load({ url: `https://127.0.0.1:${envoy3.port}/`, clients: 1, streams: 1, headers, tls: warmTls, warmupSec: 0, durationSec: 1 });
      const responseFile = join(work, 'check-response.bin');
      writeFileSync(responseFile, await checkAllowed(bouncer.authzPort, readFileSync(capture)));
      noopH = await startNoop(undefined, [], 'bouncer', responseFile);
    }
    const envoy3h = noopH ? await front('ext_authz', noopH.authzPort) : undefined;
    const watched3h = noopH && envoy3h ? [{ name: 'envoy', pid: envoy3h.pid }, { name: 'authz', pid: noopH.pid }] : [];
    let pairedRates = false;
    if (envoy3 && envoy4) {
      const sides = [
        { label: 'S3', envoy: envoy3, watched: watched3 },
        { label: 'S4', envoy: envoy4, watched: watched4 },
        ...(envoy3t ? [{ label: 'S3t', envoy: envoy3t, watched: watched3t }] : []),
        ...(envoy3h ? [{ label: 'S3h', envoy: envoy3h, watched: watched3h }] : []),
      ];
      const sets = await takeTurns(sides, RUNS, (x, turn) => closedLoop(`${x.label} (${turn})`, x.envoy, x.watched, warmTls, 1));
      sets.forEach((set, i) => results.closed.push({ ...set, scenario: sides[i]?.label ?? '?' }));
      results.pairedS3S4 = true;
      // S3h answers like bouncer but is no latency baseline of its own: the
      // rest take turns at fixed rates too, with S1 when it was measured.
      await fixedRatesInTurns([...(s1 ? [s1] : []), ...sides.filter((x) => x.label !== 'S3h')]);
      pairedRates = true;
      await s1?.envoy.stop();
    } else if (envoy3) results.closed.push({ ...(await closedLoop('S3', envoy3, watched3)), scenario: 'S3' });
    else if (envoy4) results.closed.push({ ...(await closedLoop('S4', envoy4, watched4)), scenario: 'S4' });
    if (s1 && !pairedRates) {
      await fixedRates('S1', s1.envoy, s1.watched);
      await s1.envoy.stop();
    }
    if (envoy3t && noopT) {
      if (!(envoy3 && envoy4)) results.closed.push({ ...(await closedLoop('S3t', envoy3t, watched3t)), scenario: 'S3t' });
      // The latency floor of an ext_authz server on Node's HTTP/2: no decision at all.
      if (!pairedRates) await fixedRates('S3t', envoy3t, watched3t);
      await envoy3t.stop();
      await noopT.stop();
    }
    if (envoy3h && noopH) {
      await envoy3h.stop();
      await noopH.stop();
    }
    if (noop && envoy3) {
      if (want('S3') && !pairedRates) await fixedRates('S3', envoy3, watched3);
      await envoy3.stop();
      await noop.stop();
    }
    if (bouncer && envoy4) {
      const envoy = envoy4;
      if (want('S4') && !pairedRates) await fixedRates('S4', envoy, watched4);
      if (want('Direct')) {
        const body = grpcBody(readFileSync(capture), join(work, 'check-request.grpc'));
        const o = {
          url: `http://127.0.0.1:${bouncer.authzPort}/envoy.service.auth.v3.Authorization/Check`,
          clients: 2,
          streams: 64,
          dataFile: body,
          headers: { 'content-type': 'application/grpc', te: 'trailers' },
          warmupSec: 0,
        };
        await checkAllowed(bouncer.authzPort, readFileSync(capture));
        results.closed.push({ ...(await measure('Direct', [{ name: 'authz', pid: bouncer.pid }], () => h2load({ ...o, durationSec: WARMUP }), () => h2load({ ...o, durationSec: SECONDS }))), scenario: 'Direct' });
      }
      results.memory = { bouncerRssBytes: rssBytes(bouncer.pid) };
      await envoy.stop();
      await bouncer.stop();
      if (want('Direct')) {
        // The same check with no transport at all, once the server's ports are free again.
        log('in-process: the Check handler called directly, no gRPC');
        const out = execFileSync(process.execPath, [fileURLToPath(new URL('./warm-inprocess.js', import.meta.url)), join(f.dir, 'bouncer-warm.yaml'), capture], {
          encoding: 'utf8',
          env: { ...process.env, BENCH_IDP_SECRET: 'bench', BOUNCER_AUTH_PUBLIC_URL: 'https://auth.bench.test' },
          maxBuffer: 1 << 20,
        });
        results.inProcess = JSON.parse(out.trim()) as NonNullable<BenchResults['inProcess']>;
        log(`in-process: ${results.inProcess.usPerCheck.median.toFixed(1)} µs per check`);
      }
    }
    if (want('S4q')) {
      // The same warm path with the per-decision audit line off (log level warn).
      const bouncer = await startBouncer(f, 'bouncer-quiet', { logLevel: 'warn' });
      const envoy = await front('ext_authz', bouncer.authzPort);
      results.closed.push({ ...(await closedLoop('S4q', envoy, [{ name: 'envoy', pid: envoy.pid }, { name: 'authz', pid: bouncer.pid }])), scenario: 'S4q' });
      await envoy.stop();
      await bouncer.stop();
    }
    if (want('S5')) {
      // One cached verdict only: cycling through 32 distinct chains, every check misses.
      const bouncer = await startBouncer(f, 'bouncer-cold', { certCacheEntries: 1 });
      const envoy = await front('ext_authz', bouncer.authzPort);
      const watched = [{ name: 'envoy', pid: envoy.pid }, { name: 'authz', pid: bouncer.pid }];
      for (const id of ['p256', 'rsa2048'] as const) results.cold.push({ ...(await coldLoop(`S5-cold-${id}`, envoy, watched, poolTls(id))), scenario: 'S5', variant: `new ${id} chain` });
      const script = join(work, 'tokens.lua');
      writeFileSync(script, tokensLua(f.tokensFile));
      results.cold.push({ ...(await coldLoop('S5-cold-token', envoy, watched, warmTls, script)), scenario: 'S5', variant: 'new token, same chain' });
      results.cold.push({ ...(await coldLoop('S4-keepalive-h1', envoy, watched, warmTls, tokensLua(undefined, join(work, 'one-token.lua'), f.token))), scenario: 'S4', variant: 'same token, same chain (HTTP/1.1 baseline)' });
      await envoy.stop();
      await bouncer.stop();
    }
    if (want('T')) {
      // The warm request of S4 at a steady 1,000/s, with 10 and with 100,000 tenants
      // configured. Both servers run side by side and their runs take turns, so
      // that the host's drift falls on both alike.
      const sides: Array<{ n: number; label: string; bouncer: Awaited<ReturnType<typeof startBouncer>>; envoy: RunningEnvoy; watched: Watched[] }> = [];
      for (const n of TENANT_COUNTS) {
        const bouncer = await startBouncer(f, `bouncer-t${n}`, { extraTenants: n - 1, readyTimeoutMs: 180_000 });
        log(`T ${n} tenants: bouncer ready in ${bouncer.startSec.toFixed(1)} s`);
        const envoy = await front('ext_authz', bouncer.authzPort);
        const watched = [{ name: 'envoy', pid: envoy.pid }, { name: 'authz', pid: bouncer.pid }];
        sides.push({ n, label: `T ${n}`, bouncer, envoy, watched });
      }
      const sets = await takeTurns(sides, RATE_RUNS, (x, turn) => {
        const o = { url: `https://127.0.0.1:${x.envoy.port}/`, clients: 10, streams: 16, headers, tls: warmTls, warmupSec: 0, rate: 1000 };
        return measure(`T ${x.n} tenants @1000/s (${turn})`, x.watched, () => h2load({ ...o, durationSec: 2 }), () => h2load({ ...o, durationSec: Math.max(3, SECONDS - 1), logFile: join(work, 'h2load.log') }), 1);
      });
      results.tenantScalePaired = sides.length > 1;
      for (const [k, x] of sides.entries()) {
        const rss = rssBytes(x.bouncer.pid);
        await x.envoy.stop();
        await x.bouncer.stop();
        const heap = JSON.parse(execFileSync(process.execPath, ['--expose-gc', fileURLToPath(new URL('./tenant-memory.js', import.meta.url)), join(f.dir, `bouncer-t${x.n}.yaml`)], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim()) as { tenants: number; heapBytes: number };
        results.tenantScale?.push({ ...(sets[k] ?? { label: x.label, runs: [] }), tenants: heap.tenants, rssBytes: rss, heapBytes: heap.heapBytes, startSec: x.bouncer.startSec });
      }
    }
    if (want('W')) {
      // Client certificates only (what --workers accepts today): 1..N workers behind one Envoy, then gRPC straight at them.
      const capture = join(work, 'check-request.bin');
      for (const n of WORKER_COUNTS) {
        const bouncer = await startBouncer(f, `bouncer-w${n}`, { workers: n, mtlsOnly: true });
        const envoy = await startEnvoy(`front-w${n}`, work, (p) => frontConfig('ext_authz', f, { ...p, upstreamPort: upstream.port, authzPort: bouncer.authzPort, authzWorkers: n }), ENVOY_CONCURRENCY);
        const watched = [{ name: 'envoy', pid: envoy.pid }, { name: 'authz', pid: bouncer.pid, withChildren: true }];
        results.workers?.push({ ...(await closedLoop(`W${n} via Envoy`, envoy, watched)), workers: n, via: 'envoy' });
        await envoy.stop();
        if (existsSync(capture)) {
          const body = grpcBody(readFileSync(capture), join(work, 'check-request.grpc'));
          const one = (port: number, durationSec: number): Promise<Load> =>
            h2load({ url: `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`, clients: 2, streams: 64, dataFile: body, headers: { 'content-type': 'application/grpc', te: 'trailers' }, warmupSec: 0, durationSec });
          const all = async (durationSec: number): Promise<Load> => {
            const rs = await Promise.all(Array.from({ length: n }, (_, i) => one(bouncer.authzPort + i, durationSec)));
            const ok = rs.reduce((a, r) => a + r.ok, 0);
            return { ok, bad: rs.reduce((a, r) => a + r.bad, 0), seconds: Math.max(...rs.map((r) => r.seconds)), rps: rs.reduce((a, r) => a + r.rps, 0) };
          };
          results.workers?.push({ ...(await measure(`W${n} direct`, [{ name: 'authz', pid: bouncer.pid, withChildren: true }], () => all(WARMUP), () => all(SECONDS))), workers: n, via: 'direct' });
        }
        await bouncer.stop();
      }
    }
    if (profile) {
      // The same load on bouncer and on the no-op, each profiled over the measured run
      // only: what bouncer adds to the transport, area by area.
      results.profileNoop = await profileWarm('noop', f, upstream.port, warmTls, headers);
      results.profile = await profileWarm('bouncer', f, upstream.port, warmTls, headers);
    }
  } finally {
    await upstream.stop();
    await stopAll();
  }

  // Optional: named in --only, never part of the default run (10,000 hostnames take minutes).
  if (only?.has('X')) {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('./xds-scale.js', import.meta.url)), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    results.xdsScale = JSON.parse(out.trim().split('\n').pop() ?? '{}') as NonNullable<BenchResults['xdsScale']>;
  }
  if (only?.has('XH')) {
    const out = execFileSync(process.execPath, [fileURLToPath(new URL('./xds-handshakes.js', import.meta.url)), '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
    results.xdsHandshakes = JSON.parse(out.trim().split('\n').pop() ?? '{}') as NonNullable<BenchResults['xdsHandshakes']>;
  }
  if (want('Chains')) {
    for (const id of ['p256', 'rsa2048'] as const) {
      const pool = f.coldPools[id];
      const leaves = pool.certs.map((c) => readFileSync(c.chain, 'utf8').split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n');
      const r: ColdChainResult = await measureColdChains({ leaves, intermediatePem: pool.intermediatePem, rootPem: pool.rootPem });
      log(`chains ${id}: ${r.missPerSec.toFixed(0)}/s per core on a cache miss, ${r.verifyPerSec.toFixed(0)}/s verifyClientChain alone, ${r.allCoresPerSec.toFixed(0)}/s on ${r.threads} threads`);
      results.chains[id] = r;
    }
  }
  results.elapsedSec = (Date.now() - started) / 1000;
  const final = args.includes('--merge') ? mergeInto(JSON.parse(readFileSync(join(root, 'bench', 'results.json'), 'utf8')) as BenchResults, results) : results;
  writeFileSync(join(root, 'bench', 'results.json'), JSON.stringify(final, null, 2) + '\n');
  if (!args.includes('--no-report')) await writeReport(root, final);
  log(`done in ${results.elapsedSec.toFixed(0)} s`);
}

/**
 * The rows a run measured, by the names the tables use. Not the `--only`
 * list: some rows come with others (Direct brings S3 and S4, which share its
 * bouncer and Envoy), and the header must name every row that changed.
 */
function measuredRows(r: BenchResults): string[] {
  const rows = [...r.closed.map((c) => c.scenario), ...r.rated.map((x) => x.scenario), ...r.cold.map((c) => c.label)];
  if (Object.keys(r.chains).length > 0) rows.push('Chains');
  if (r.tenantScale?.length) rows.push('T');
  if (r.workers?.length) rows.push('W');
  if (r.xdsScale?.rows.length) rows.push('X');
  if (r.xdsHandshakes) rows.push('XH');
  if (r.inProcess) rows.push('in-process');
  if (r.profile) rows.push('profile');
  return [...new Set(rows)];
}

/**
 * "S3, S4 at <time>" entries, one per --merge run, without rows a later run
 * measured again (only each row's latest measurement is in the tables).
 */
function remeasuredRows(prev: string[], rows: string[], date: string): string[] {
  const fresh = new Set(rows);
  const kept = prev.flatMap((entry) => {
    const m = /^(.*) at (.*)$/.exec(entry);
    if (!m) return [entry];
    const left = (m[1] ?? '').split(', ').filter((r) => !fresh.has(r));
    return left.length ? [`${left.join(', ')} at ${m[2] ?? ''}`] : [];
  });
  return [...kept, `${rows.join(', ')} at ${date.slice(0, 16).replace('T', ' ')} UTC`];
}

/**
 * `--merge`: the rows of this run replace the same rows of the previous
 * results.json and everything else is kept, so a row another job on the
 * machine disturbed can be measured again on its own. Each kept row carries
 * its own "other load" figure.
 */
function mergeInto(prev: BenchResults, now: BenchResults): BenchResults {
  if (prev.machine.authzCpus !== now.machine.authzCpus) {
    const where = (cpus: string | undefined): string => (cpus === undefined ? 'unpinned' : `the authz server on CPU ${cpus}`);
    throw new Error(`--merge: bench/results.json was measured ${where(prev.machine.authzCpus)} and this run ${where(now.machine.authzCpus)}; rows of the two cannot share a table`);
  }
  const keep = <T extends { scenario?: string; label?: string }>(old: T[] | undefined, fresh: T[] | undefined, key: (x: T) => string): T[] => {
    // In place, so the tables keep their order.
    const byKey = new Map((fresh ?? []).map((x) => [key(x), x]));
    const merged = (old ?? []).map((x) => byKey.get(key(x)) ?? x);
    const present = new Set((old ?? []).map(key));
    return [...merged, ...(fresh ?? []).filter((x) => !present.has(key(x)))];
  };
  return {
    ...prev,
    machine: now.machine,
    closed: keep(prev.closed, now.closed, (x) => x.scenario),
    rated: keep(prev.rated, now.rated, (x) => `${x.scenario}@${x.rate}`),
    cold: keep(prev.cold, now.cold, (x) => x.label),
    chains: { ...prev.chains, ...now.chains },
    tenantScale: now.tenantScale?.length ? now.tenantScale : (prev.tenantScale ?? []),
    ...(now.tenantScale?.length ? { tenantScalePaired: now.tenantScalePaired === true } : {}),
    workers: keep(prev.workers, now.workers, (x) => `${x.workers}/${x.via}`),
    ...(now.xdsScale ? { xdsScale: now.xdsScale } : {}),
    ...(now.xdsHandshakes ? { xdsHandshakes: now.xdsHandshakes } : {}),
    ...(now.memory ? { memory: now.memory } : {}),
    ...(now.inProcess ? { inProcess: now.inProcess } : {}),
    // S3 and S4 stay paired only if both were measured again, together.
    ...(now.closed.some((c) => c.scenario === 'S3' || c.scenario === 'S4') ? { pairedS3S4: now.pairedS3S4 === true } : {}),
    ...(now.profile ? { profile: now.profile, profileNoop: now.profileNoop } : {}),
    // The header keeps the date of the full run and names what was measured again, and when.
    date: prev.date,
    remeasured: remeasuredRows(prev.remeasured ?? [], measuredRows(now), now.date),
  };
}

/** A wrk script sending a different session token on every request (or one fixed token). */
function tokensLua(tokensFile: string | undefined, out?: string, token?: string): string {
  const lua = tokensFile
    ? [
        'local tokens = {}',
        `for line in io.lines("${tokensFile}") do if #line > 0 then tokens[#tokens + 1] = line end end`,
        'local i = math.random(#tokens)',
        'request = function()',
        '  i = i % #tokens + 1',
        `  return wrk.format(nil, nil, { ["Host"] = "${HOST}", ["Cookie"] = "${SESSION_COOKIE}=" .. tokens[i] })`,
        'end',
        '',
      ].join('\n')
    : `wrk.headers["Host"] = "${HOST}"\nwrk.headers["Cookie"] = "${SESSION_COOKIE}=${token}"\n`;
  if (out) {
    writeFileSync(out, lua);
    return out;
  }
  return lua;
}

/** Sends the captured CheckRequest once over HTTP/2 and checks bouncer answers grpc-status 0 and an OK status. */
/** Sends the captured CheckRequest to an authz server, checks it is allowed, and returns the CheckResponse bytes. */
async function checkAllowed(port: number, captured: Buffer): Promise<Buffer> {
  const http2 = await import('node:http2');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const head = Buffer.alloc(5);
    head.writeUInt32BE(captured.length, 1);
    const req = session.request({ ':method': 'POST', ':path': '/envoy.service.auth.v3.Authorization/Check', 'content-type': 'application/grpc', te: 'trailers' });
    const chunks: Buffer[] = [];
    const trailers = await new Promise<Record<string, unknown>>((resolve, reject) => {
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('trailers', resolve);
      req.on('error', reject);
      req.end(Buffer.concat([head, captured]));
    });
    if (String(trailers['grpc-status']) !== '0') throw new Error(`bouncer answered grpc-status ${String(trailers['grpc-status'])} ${String(trailers['grpc-message'])}`);
    // CheckResponse.status (field 1) with code 0 encodes as an empty or code-0 message; a denial sets code 7.
    const body = Buffer.concat(chunks).subarray(5);
    if (body.length >= 4 && body[0] === 0x0a && body[2] === 0x08 && body[3] !== 0) throw new Error(`the captured request is denied (code ${body[3]})`);
    return body;
  } finally {
    session.close();
  }
}

/**
 * S4 again with bouncer under --cpu-prof (or S3 with the no-op, for
 * comparison); returns the profile's summary over the measured run.
 */
async function profileWarm(server: 'bouncer' | 'noop', f: Fixtures, upstreamPort: number, tls: TlsClient, headers: Record<string, string>): Promise<ProfileSummary> {
  const dir = join(work, `profile-${server}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const nodeArgs = ['--cpu-prof', '--cpu-prof-dir', dir];
  const authz = server === 'bouncer' ? await startBouncer(f, 'bouncer-profile', { nodeArgs }) : await startNoop(undefined, nodeArgs);
  const envoy = await startEnvoy(`front-profile-${server}`, work, (p) => frontConfig('ext_authz', f, { ...p, upstreamPort, authzPort: authz.authzPort }), ENVOY_CONCURRENCY);
  const o = { url: `https://127.0.0.1:${envoy.port}/`, ...CLOSED, headers, tls, warmupSec: 0 };
  await h2load({ ...o, durationSec: WARMUP });
  // The profile's clock is the monotonic one process.hrtime reads.
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const r = await h2load({ ...o, durationSec: 10 });
  const toUs = Number(process.hrtime.bigint() / 1000n);
  log(`profile run (${server}): ${r.rps.toFixed(0)} req/s`);
  await envoy.stop();
  // SIGINT lets node write the profile on exit.
  authz.child.kill('SIGINT');
  await authz.stop();
  await sleep(500);
  const file = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile written by ${server}`);
  return summarizeProfile(join(dir, file), r.ok, { fromUs, toUs });
}

process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
main().catch(async (err: unknown) => {
  process.stderr.write(`[bench] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  await stopAll();
  process.exit(1);
});

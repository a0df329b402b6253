/**
 * Turns bench/results.json into the tables of BENCHMARKS.md (between the
 * `bench:results` markers; the prose around them is kept) and a chart
 * (bench/chart.svg, rendered to bench/chart.png with the Chromium the browser
 * tests use; the SVG stays when no Chromium is found).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ColdChainResult } from '../cold-chains.js';
import type { XdsScaleRow } from '../xds-scale.js';
import type { XdsHandshakeResult } from '../xds-handshakes.js';
import type { LoadResult } from './load.js';
import type { ProfileSummary } from './profile.js';

export interface RunSet {
  label: string;
  /** `otherCores`: CPU used meanwhile by processes the bench did not start, in cores. */
  runs: Array<LoadResult & { cpuUsPerReq: Record<string, number>; otherCores?: number }>;
}

export interface BenchResults {
  machine: {
    cores: number;
    cpu: string;
    node: string;
    envoyConcurrency: number;
    runs: number;
    seconds: number;
    rateRuns?: number;
    /** With BENCH_AUTHZ_CPUS: the CPUs the authz server had to itself, and those everything else shared. */
    authzCpus?: string;
    otherCpus?: string;
  };
  closed: Array<RunSet & { scenario: string }>;
  rated: Array<RunSet & { scenario: string; rate: number }>;
  cold: Array<RunSet & { scenario: string; variant: string }>;
  chains: Partial<Record<'p256' | 'rsa2048', ColdChainResult>>;
  memory?: { bouncerRssBytes: number };
  /** S3 and S4 closed-loop runs alternated (run i of each taken back to back), so their ratios pair up. */
  pairedS3S4?: boolean;
  /** The warm check's Check handler called in-process (bench/warm-inprocess.ts): bouncer's own work without the transport. */
  inProcess?: { usPerCheck: { median: number; min: number; max: number }; responseBytes: number; checks: number };
  /** T's runs alternated between the tenant counts (run i of each back to back). */
  tenantScalePaired?: boolean;
  /** T: the S4 request at 1,000/s with few and with many tenants configured. */
  tenantScale?: Array<RunSet & { tenants: number; rssBytes: number; heapBytes: number; startSec: number }>;
  /** X (optional, `--only X`): customer hostnames over xDS through a real Envoy (bench/xds-scale.ts). */
  xdsScale?: { baselineEnvoyBytes: number; rows: XdsScaleRow[] };
  /** XH (optional, `--only XH`): new TLS handshakes/s, per-hostname xDS chains against the static listener (bench/xds-handshakes.ts). */
  xdsHandshakes?: XdsHandshakeResult;
  /** W: `serve --workers n`, client certificates only, through Envoy and straight at the workers. */
  workers?: Array<RunSet & { workers: number; via: 'envoy' | 'direct' }>;
  profile?: ProfileSummary;
  /** The no-op server (S3) profiled under the same load as `profile`. */
  profileNoop?: ProfileSummary;
  date: string;
  /** Rows measured again later with --merge: which, and when. */
  remeasured?: string[];
  elapsedSec?: number;
}

export const START = '<!-- bench:results:start (written by `npm run bench`; edit outside these markers) -->';
export const END = '<!-- bench:results:end -->';

interface Stat {
  median: number;
  min: number;
  max: number;
}

export function stat(xs: number[]): Stat {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN };
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]! };
}

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '–');
const cell = (s: Stat, digits = 0): string => `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;

export function rpsOf(set: RunSet | undefined): Stat {
  return stat(set?.runs.map((r) => r.rps) ?? []);
}
export function cpuOf(set: RunSet | undefined, proc: string): Stat {
  return stat(set?.runs.map((r) => r.cpuUsPerReq[proc] ?? NaN) ?? []);
}

const TITLES: Record<string, string> = {
  S1: 'S1 Envoy, no auth filter',
  S2: 'S2 Envoy only: mTLS (one CA) + jwt_authn + rbac',
  S3: 'S3 ext_authz → no-op grpc-js (allow all)',
  S3t: "S3t the no-op on bouncer's gRPC transport",
  S3h: "S3h that no-op + bouncer's response headers",
  S4: 'S4 ext_authz → bouncer, warm',
  S4q: 'S4 with the audit log off (log level warn)',
  Direct: 'Direct: h2load gRPC → bouncer (no Envoy)',
};

/** Highest other load seen in the set's runs: anything above ~0.25 cores means the figures are not clean. */
function other(set: RunSet): string {
  const xs = set.runs.map((q) => q.otherCores).filter((x): x is number => x !== undefined);
  return xs.length ? fmt(Math.max(...xs), 2) : '–';
}

export function renderTables(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(`Measured ${r.date.slice(0, 16).replace('T', ' ')} UTC on ${m.cores} cores (${m.cpu}), Node ${m.node}, Envoy 1.40.0 with --concurrency ${m.envoyConcurrency}; ${m.runs} runs of ${m.seconds} s after a warm-up${m.rateRuns !== undefined ? ` (at fixed rates, ${m.rateRuns} runs of ${Math.max(3, m.seconds - 1)} s per rate, the servers taking turns)` : ''}; ${m.authzCpus === undefined ? 'load generator, Envoy, upstream and the authz server share the machine' : `the authz server runs alone on CPU ${m.authzCpus}, and the load generator, Envoy and upstream share CPU ${m.otherCpus ?? '?'} (BENCH_AUTHZ_CPUS)`}. Cells are median (min–max). "Other load" is the most CPU (in cores) that processes the bench did not start used during any run of a row: above about 0.25, that row is not clean.${r.remeasured?.length ? ` Rows measured again later (\`--merge\`): ${r.remeasured.join('; ')}.` : ''}`);
  out.push('');
  out.push('### Closed loop: maximum throughput (h2load, 16 connections × 8 streams, HTTP/2 over TLS with a client certificate)');
  out.push('');
  out.push('| scenario | req/s | × S1 | × S3 | Envoy CPU µs/req | authz server CPU µs/req | other load, cores |');
  out.push('|---|---|---|---|---|---|---|');
  const by = (id: string): RunSet | undefined => r.closed.find((c) => c.scenario === id);
  const s1 = rpsOf(by('S1')).median;
  const s3 = rpsOf(by('S3')).median;
  for (const c of r.closed) {
    const rps = rpsOf(c);
    out.push(`| ${TITLES[c.scenario] ?? c.scenario} | ${cell(rps)} | ${fmt(rps.median / s1, 2)} | ${fmt(rps.median / s3, 2)} | ${c.scenario === 'Direct' ? 'n/a' : cell(cpuOf(c, 'envoy'))} | ${c.runs[0]?.cpuUsPerReq.authz !== undefined ? cell(cpuOf(c, 'authz')) : 'n/a'} | ${other(c)} |`);
  }
  if (r.rated.length > 0) {
    out.push('');
    out.push('### Fixed rate: latency (h2load --rps, 10 connections started in turn so that requests arrive evenly spaced; p50/p99 over every request of a run)');
    out.push('');
    out.push('"bunched" is the share of requests that started less than a quarter of the mean interval after the one before: near 0 when arrivals were evenly spaced, higher when the load generator, sharing the cores, fell behind and caught up in bursts.');
    out.push('');
    out.push('| scenario | rate/s | p50 ms | p99 ms | p99 over S1 ms | bunched | authz CPU µs/req | other load, cores |');
    out.push('|---|---|---|---|---|---|---|---|');
    for (const x of r.rated) {
      const base = r.rated.find((b) => b.scenario === 'S1' && b.rate === x.rate);
      const p99 = stat(x.runs.map((q) => q.p99 ?? NaN));
      const added = base ? p99.median - stat(base.runs.map((q) => q.p99 ?? NaN)).median : NaN;
      const bunched = stat(x.runs.map((q) => q.bunched ?? NaN));
      out.push(`| ${x.scenario} | ${fmt(x.rate)} | ${cell(stat(x.runs.map((q) => q.p50 ?? NaN)), 2)} | ${cell(p99, 2)} | ${x.scenario === 'S1' ? '–' : fmt(added, 2)} | ${Number.isFinite(bunched.median) ? `${fmt(100 * bunched.median)}%` : '–'} | ${x.runs[0]?.cpuUsPerReq.authz !== undefined ? cell(cpuOf(x, 'authz')) : 'n/a'} | ${other(x)} |`);
    }
  }
  if (r.cold.length > 0) {
    out.push('');
    out.push('### Cold: a new TLS connection and certificate chain per request, or a new session token per request (wrk, HTTP/1.1, 16 connections)');
    out.push('');
    out.push('| scenario | what changes per request | req/s | Envoy CPU µs/req | bouncer CPU µs/req | other load, cores |');
    out.push('|---|---|---|---|---|---|');
    for (const c of r.cold) {
      out.push(`| ${c.scenario} | ${c.variant} | ${cell(rpsOf(c))} | ${cell(cpuOf(c, 'envoy'))} | ${c.runs[0]?.cpuUsPerReq.authz !== undefined ? cell(cpuOf(c, 'authz')) : 'n/a'} | ${other(c)} |`);
    }
  }
  const chains = Object.entries(r.chains);
  if (chains.length > 0) {
    out.push('');
    out.push('### Chain validations per second, in-process (device → intermediate → root, every check a cache miss)');
    out.push('');
    out.push('| chain | per core, full miss path (hash, parse, verify) | per core, verifyClientChain alone | all cores, full miss path |');
    out.push('|---|---|---|---|');
    for (const [id, c] of chains) out.push(`| ${id === 'rsa2048' ? 'RSA-2048' : 'P-256'} | ${fmt(c.missPerSec)} | ${fmt(c.verifyPerSec)} | ${fmt(c.allCoresPerSec)} (${c.threads} threads) |`);
  }
  const ts = r.tenantScale ?? [];
  if (ts.length > 0) {
    const base = ts[0];
    out.push('');
    out.push('### Tenant count: the warm S4 request at 1,000/s with few and with many tenants (YAML config, in-memory index; idle tenants share one CA file)');
    out.push('');
    out.push('| tenants | p50 ms | p99 ms | authz CPU µs/req | start to ready s | bouncer RSS MB | heap of config + index MB | heap per added idle tenant | other load, cores |');
    out.push('|---|---|---|---|---|---|---|---|---|');
    for (const t of ts) {
      const perTenant = base && t !== base ? (t.heapBytes - base.heapBytes) / (t.tenants - base.tenants) : NaN;
      out.push(`| ${fmt(t.tenants)} | ${cell(stat(t.runs.map((q) => q.p50 ?? NaN)), 2)} | ${cell(stat(t.runs.map((q) => q.p99 ?? NaN)), 2)} | ${cell(cpuOf(t, 'authz'))} | ${fmt(t.startSec, 1)} | ${fmt(t.rssBytes / 1e6)} | ${fmt(t.heapBytes / 1e6, 1)} | ${Number.isFinite(perTenant) ? `${fmt(perTenant)} bytes` : '–'} | ${other(t)} |`);
    }
  }
  const ws = r.workers ?? [];
  if (ws.length > 0) {
    out.push('');
    out.push('### `serve --workers N`: closed-loop throughput (client certificates only; one Envoy with --concurrency ' + String(r.machine.envoyConcurrency) + ' round-robins over the workers; "direct" is one h2load per worker straight at its gRPC port)');
    out.push('');
    out.push('| workers | via | req/s | × 1 worker | Envoy CPU µs/req | bouncer CPU µs/req (all workers) | other load, cores |');
    out.push('|---|---|---|---|---|---|---|');
    for (const w of ws) {
      const one = ws.find((x) => x.via === w.via && x.workers === 1);
      const rps = rpsOf(w);
      out.push(`| ${w.workers} | ${w.via} | ${cell(rps)} | ${one ? fmt(rps.median / rpsOf(one).median, 2) : '–'} | ${w.via === 'envoy' ? cell(cpuOf(w, 'envoy')) : 'n/a'} | ${cell(cpuOf(w, 'authz'))} | ${other(w)} |`);
    }
  }
  if (r.profile) {
    const p = r.profile;
    out.push('');
    out.push(`### Profile of the warm path (bouncer under --cpu-prof during S4; ${fmt(p.requests)} requests, ${fmt(p.busyUsPerReq, 1)} µs of sampled non-idle time per request)`);
    out.push('');
    const noop = r.profileNoop;
    if (noop) {
      // Side by side with the no-op under the same load: the transport's share is what both pay.
      const theirs = new Map(noop.byArea.map((row) => [row.name, row.usPerReq]));
      out.push(`The no-op server (S3) under the same load, profiled the same way: ${fmt(noop.busyUsPerReq, 1)} µs of sampled non-idle time per request. Samples cover the measured run only (no start-up or warm-up), on the main thread; GC helper threads and the kernel are not in them.`);
      out.push('');
      out.push('| where (self time) | % of samples | bouncer µs/req | no-op µs/req | bouncer − no-op |');
      out.push('|---|---|---|---|---|');
      for (const row of p.byArea) {
        const other = theirs.get(row.name);
        out.push(`| ${row.name} | ${fmt(row.pct, 1)} | ${fmt(row.usPerReq, 1)} | ${other === undefined ? '–' : fmt(other, 1)} | ${fmt(row.usPerReq - (other ?? 0), 1)} |`);
      }
    } else {
      out.push('| where (self time) | % of samples | µs/req |');
      out.push('|---|---|---|');
      for (const row of p.byArea) out.push(`| ${row.name} | ${fmt(row.pct, 1)} | ${fmt(row.usPerReq, 1)} |`);
    }
    out.push('');
    out.push('| bouncer function (inclusive) | % of samples | µs/req |');
    out.push('|---|---|---|');
    for (const row of p.inclusiveOwn) out.push(`| \`${row.name}\` | ${fmt(row.pct, 1)} | ${fmt(row.usPerReq, 1)} |`);
    out.push('');
    out.push('| hottest functions (self) | % of samples | µs/req |');
    out.push('|---|---|---|');
    for (const row of p.selfTop) out.push(`| \`${row.name}\` | ${fmt(row.pct, 1)} | ${fmt(row.usPerReq, 1)} |`);
  }
  out.push('');
  out.push('### Targets');
  out.push('');
  out.push(...renderTargets(r));
  return out.join('\n');
}

function renderTargets(r: BenchResults): string[] {
  const by = (id: string): RunSet | undefined => r.closed.find((c) => c.scenario === id);
  const rows: string[] = ['| target | measured | |', '|---|---|---|'];
  const verdict = (ok: boolean | undefined): string => (ok === undefined ? 'not measured' : ok ? 'met' : 'missed');
  const s4 = rpsOf(by('S4')).median;
  const s3 = rpsOf(by('S3')).median;
  const ratio = s4 / s3;
  const s3runs = by('S3')?.runs ?? [];
  const s4runs = by('S4')?.runs ?? [];
  // Alternating runs share the host's drift; judge by the median of their ratios when there are any.
  const paired = r.pairedS3S4 && s3runs.length === s4runs.length && s3runs.length > 0 ? stat(s4runs.map((x, i) => x.rps / (s3runs[i]?.rps ?? NaN))) : undefined;
  const pairedText = paired ? `; run by run (S3 and S4 alternating): ${fmt(paired.median, 2)} (${fmt(paired.min, 2)}–${fmt(paired.max, 2)})` : '';
  const judged = paired ? paired.median : ratio;
  rows.push(`| S4 max throughput ≥ 0.9 × S3 | ${fmt(ratio, 2)} × (${fmt(s4)} vs ${fmt(s3)} req/s)${pairedText} | ${verdict(Number.isFinite(judged) ? judged >= 0.9 : undefined)} |`);
  const s3truns = by('S3t')?.runs ?? [];
  if (s3truns.length > 0) {
    // Not a target of its own: the decision's cost alone, with the transport the same on both sides.
    const sameTransport = r.pairedS3S4 && s3truns.length === s4runs.length ? stat(s4runs.map((x, i) => x.rps / (s3truns[i]?.rps ?? NaN))) : undefined;
    const s3t = rpsOf(by('S3t')).median;
    rows.push(
      `| (for reference) S4 ÷ S3t, the no-op on bouncer's transport | ${fmt(s4 / s3t, 2)} × (${fmt(s4)} vs ${fmt(s3t)} req/s)${sameTransport ? `; run by run: ${fmt(sameTransport.median, 2)} (${fmt(sameTransport.min, 2)}–${fmt(sameTransport.max, 2)})` : ''} | what the decision costs on an equal transport |`,
    );
  }
  const warm = cpuOf(by('S4'), 'authz');
  rows.push(`| warm check < 100 µs bouncer CPU/request (closed loop) | ${cell(warm)} µs | ${verdict(Number.isFinite(warm.median) ? warm.median < 100 : undefined)} |`);
  const at = (id: string): RunSet | undefined => r.rated.find((x) => x.scenario === id && x.rate === 1000);
  const warm1k = cpuOf(at('S4'), 'authz');
  if (at('S4')) rows.push(`| warm check < 100 µs bouncer CPU/request (at 1,000/s) | ${cell(warm1k)} µs | ${verdict(warm1k.median < 100)} |`);
  const inp = r.inProcess?.usPerCheck;
  if (inp) rows.push(`| (for reference) the warm check in-process, no transport: decode, decide, audit line, encode | ${fmt(inp.median, 1)} (${fmt(inp.min, 1)}–${fmt(inp.max, 1)}) µs | – |`);
  const p99 = (x: RunSet | undefined): number => stat(x?.runs.map((q) => q.p99 ?? NaN) ?? []).median;
  const added = p99(at('S4')) - p99(at('S1'));
  rows.push(`| p99 added over S1 < 2 ms at 1,000/s | ${fmt(added, 2)} ms (${fmt(p99(at('S4')), 2)} vs ${fmt(p99(at('S1')), 2)}) | ${verdict(Number.isFinite(added) ? added < 2 : undefined)} |`);
  for (const [id, what] of [
    ['S3', 'the grpc-js no-op'],
    ['S3t', "the no-op on bouncer's transport"],
  ] as const) {
    if (at(id) && at('S1')) rows.push(`| (for reference) p99 that ${what} adds over S1 at 1,000/s | ${fmt(p99(at(id)) - p99(at('S1')), 2)} ms (${fmt(p99(at(id)), 2)} vs ${fmt(p99(at('S1')), 2)}) | – |`);
  }
  const rsa = r.chains.rsa2048;
  rows.push(`| ≥ 3,000 RSA-2048 chain validations/s per core | ${rsa ? `${fmt(rsa.missPerSec)}/s (full miss path), ${fmt(rsa.verifyPerSec)}/s (verifyClientChain alone)` : '–'} | ${verdict(rsa ? rsa.missPerSec >= 3000 : undefined)} |`);
  const ts = r.tenantScale ?? [];
  const few = ts[0];
  const many = ts[ts.length - 1];
  if (few && many && few !== many) {
    const p99few = p99(few);
    const p99many = p99(many);
    const perTenant = (many.heapBytes - few.heapBytes) / (many.tenants - few.tenants);
    // "The same" within run-to-run noise: 20% or 0.5 ms, whichever is larger.
    const same = Math.abs(p99many - p99few) <= Math.max(0.5, 0.2 * p99few);
    // With alternating runs, judge by the ratios of neighbouring runs, which share the host's drift.
    const pairs = r.tenantScalePaired && few.runs.length === many.runs.length ? stat(many.runs.map((x, i) => (x.p99 ?? NaN) / (few.runs[i]?.p99 ?? NaN))) : undefined;
    const pairedSame = pairs ? pairs.median <= 1.2 && pairs.median >= 1 / 1.2 : undefined;
    const pairedText = pairs ? `; run by run (alternating), p99 at ${fmt(many.tenants)} ÷ p99 at ${fmt(few.tenants)}: ${fmt(pairs.median, 2)} (${fmt(pairs.min, 2)}–${fmt(pairs.max, 2)})` : '';
    rows.push(`| tenant count: warm p99 equal at ${fmt(few.tenants)} and ${fmt(many.tenants)} tenants; memory per idle tenant | p99 ${fmt(p99few, 2)} vs ${fmt(p99many, 2)} ms${pairedText}; ${fmt(perTenant)} bytes of heap per idle tenant | ${verdict(pairedSame ?? same)} |`);
  } else {
    rows.push('| tenant count: warm p99 equal at 10 and 100,000 tenants; memory per idle tenant | – | not measured |');
  }
  const ws = r.workers ?? [];
  const scale = (via: 'envoy' | 'direct'): string => {
    const one = ws.find((w) => w.via === via && w.workers === 1);
    const top = ws.filter((w) => w.via === via).sort((a, b) => b.workers - a.workers)[0];
    return one && top && top !== one ? `${fmt(rpsOf(top).median / rpsOf(one).median, 2)}× with ${top.workers} workers ${via === 'envoy' ? 'through Envoy' : 'direct'}` : '';
  };
  const parts = [scale('direct'), scale('envoy')].filter((x) => x !== '');
  for (const x of r.xdsScale?.rows ?? []) {
    rows.push(
      `| xDS, ${fmt(x.hostnames)} customer hostnames: connect to all served; one added / one changed hostname served; bouncer CPU per change; Envoy memory per hostname | ${fmt(x.connectToAllServedMs)} ms; ${fmt(x.addServedMs)} / ${fmt(x.changeServedMs)} ms; ${fmt(x.addCpuMs, 1)} / ${fmt(x.changeCpuMs, 1)} ms; ${fmt(x.envoyBytesPerHostname)} bytes (listener ${fmt(x.listenerBytes)} bytes) | reported |`,
    );
  }
  const xh = r.xdsHandshakes;
  if (xh) {
    rows.push(
      `| TLS handshakes/s through a per-hostname filter chain within 10% of the single-certificate listener | xDS, ${fmt(xh.hostnames)} chains: ${fmt(xh.xdsMedian)}/s; static: ${fmt(xh.staticMedian)}/s; ratio ${fmt(xh.ratio, 2)} (medians of ${fmt(xh.runs)} alternating runs; run by run ${fmt(xh.pairedRatio, 2)}); Envoy CPU per handshake ${fmt(stat(xh.xdsCpuUs).median)} vs ${fmt(stat(xh.staticCpuUs).median)} µs, handshakes per core ${fmt(xh.cpuRatio, 2)} | ${verdict(xh.cpuRatio >= 0.9)} |`,
    );
  }
  rows.push(`| \`--workers N\` throughput scales with cores | ${parts.length ? parts.join('; ') : '–'} | ${parts.length ? 'see below' : 'not measured'} |`);
  return rows;
}

function chartSvg(r: BenchResults): string {
  const sets = r.closed;
  const w = 900;
  const left = 390;
  const right = 180;
  const top = 60;
  const barH = 30;
  const gap = 18;
  // Tall enough for every row, the axis and its labels.
  const h = top + sets.length * (barH + gap) + 40;
  const max = Math.max(...sets.map((s) => rpsOf(s).max), 1);
  const scale = (v: number): number => ((w - left - right) * v) / (max * 1.05);
  const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="${w / 2}" y="30" text-anchor="middle" font-size="18" font-weight="bold">Closed-loop throughput, req/s (median, bar: min–max), ${r.machine.cores} cores</text>`,
  ];
  sets.forEach((s, i) => {
    const y = top + i * (barH + gap);
    const st = rpsOf(s);
    const authz = cpuOf(s, 'authz').median;
    parts.push(`<text x="${left - 10}" y="${y + barH / 2 + 5}" text-anchor="end" font-size="12">${esc(TITLES[s.scenario] ?? s.scenario)}</text>`);
    parts.push(`<rect x="${left}" y="${y}" width="${scale(st.median)}" height="${barH}" fill="${s.scenario.startsWith('S4') || s.scenario === 'Direct' ? '#d9534f' : '#5b8ccf'}"/>`);
    parts.push(`<line x1="${left + scale(st.min)}" x2="${left + scale(st.max)}" y1="${y + barH / 2}" y2="${y + barH / 2}" stroke="#222" stroke-width="2"/>`);
    parts.push(`<text x="${left + scale(Math.max(st.median, st.max)) + 8}" y="${y + barH / 2 + 5}" font-size="12">${fmt(st.median)}${Number.isFinite(authz) ? ` · authz ${fmt(authz)} µs/req` : ''}</text>`);
  });
  const axisY = top + sets.length * (barH + gap);
  parts.push(`<line x1="${left}" x2="${w - right}" y1="${axisY}" y2="${axisY}" stroke="#888"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = (max * 1.05 * k) / 4;
    parts.push(`<text x="${left + scale(v)}" y="${axisY + 18}" text-anchor="middle" font-size="11" fill="#555">${fmt(v)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes BENCHMARKS.md's generated section and the chart. */
export async function writeReport(root: string, r: BenchResults): Promise<void> {
  const md = join(root, 'BENCHMARKS.md');
  const tables = `${START}\n\n![throughput chart](bench/chart.png)\n\n${renderTables(r)}\n\n${END}`;
  const current = existsSync(md) ? readFileSync(md, 'utf8') : `# Benchmarks\n\nRun with \`npm run bench\`.\n\n${START}\n${END}\n`;
  const s = current.indexOf(START);
  const e = current.indexOf(END);
  writeFileSync(md, s >= 0 && e > s ? current.slice(0, s) + tables + current.slice(e + END.length) : `${current}\n${tables}\n`);
  const svg = chartSvg(r);
  writeFileSync(join(root, 'bench', 'chart.svg'), svg);
  await renderPng(svg, join(root, 'bench', 'chart.png'));
}

async function renderPng(svg: string, out: string): Promise<void> {
  const bin = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
  if (!existsSync(bin)) {
    process.stderr.write(`[bench] no Chromium at ${bin}: kept bench/chart.svg, no PNG\n`);
    return;
  }
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: bin, args: ['--no-sandbox'] });
  try {
    // The SVG's own size, which grows with the number of rows.
    const size = /width="(\d+)" height="(\d+)"/.exec(svg);
    const width = Number(size?.[1] ?? 900);
    const height = Number(size?.[2] ?? 400);
    const page = await browser.newPage({ viewport: { width, height } });
    await page.setContent(`<html><body style="margin:0">${svg}</body></html>`);
    await page.screenshot({ path: out, clip: { x: 0, y: 0, width, height } });
  } finally {
    await browser.close();
  }
}

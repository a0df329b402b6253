/**
 * Load generators: Debian's h2load (HTTP/2, closed loop and fixed rate, gRPC) and
 * wrk (HTTP/1.1, used where every request must open a new TLS connection).
 * Neither can present a client certificate; `tlsEnv` preloads bench/tls-client-cert.c.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** How the load generator presents itself over TLS (see bench/tls-client-cert.c). */
export interface TlsClient {
  /** Path of the compiled shim. */
  shim: string;
  /** Server name to send, whatever host the URL names. */
  sni?: string;
  /** One certificate chain (leaf first) and key for every connection. */
  cert?: { chain: string; key: string };
  /** File of "CHAIN KEY" lines: each new connection takes the next pair. */
  pool?: string;
  /** File of server names, one a line: each new connection sends the next (overrides `sni`). */
  sniList?: string;
}

/** Compiles bench/tls-client-cert.c into `dir` and returns the shared object's path. */
export function buildTlsShim(dir: string): string {
  const out = join(dir, 'tls-client-cert.so');
  execFileSync('cc', ['-shared', '-fPIC', '-O2', '-o', out, join(packageRoot(), 'bench', 'tls-client-cert.c'), '-ldl', '-lssl']);
  return out;
}

export function tlsEnv(t: TlsClient | undefined): NodeJS.ProcessEnv {
  if (!t) return { ...process.env };
  return {
    ...process.env,
    LD_PRELOAD: t.shim,
    ...(t.sni ? { BENCH_TLS_SNI: t.sni } : {}),
    ...(t.cert ? { BENCH_TLS_CERT: t.cert.chain, BENCH_TLS_KEY: t.cert.key } : {}),
    ...(t.pool ? { BENCH_TLS_POOL: t.pool } : {}),
    ...(t.sniList ? { BENCH_TLS_SNI_LIST: t.sniList } : {}),
  };
}

/** What one load run measured. */
export interface LoadResult {
  /** Requests answered with a 2xx. */
  ok: number;
  /** Requests answered otherwise, failed or errored. */
  bad: number;
  seconds: number;
  /** Successful requests per second. */
  rps: number;
  /** HTTP responses of any status (wrk only): with `connection: close`, one per TLS handshake. */
  responses?: number;
  /** Latency percentiles in ms, when the tool logged every request. */
  p50?: number;
  p99?: number;
  /**
   * At a fixed rate, the share of requests started less than a quarter of the
   * mean interval after the one before: 0 for evenly spaced arrivals, near 1
   * when they come in bursts (the load generator fell behind and caught up).
   */
  bunched?: number;
}

export interface H2loadOptions {
  url: string;
  clients: number;
  /** Concurrent streams per connection. */
  streams: number;
  durationSec: number;
  warmupSec: number;
  headers?: Record<string, string>;
  /** POST body file (gRPC: a length-prefixed message). */
  dataFile?: string;
  /**
   * Fixed total request rate, split over the clients; closed loop when absent.
   * The clients start one after another, spread over one client's interval, so
   * that their timers interleave and requests arrive evenly spaced; started
   * together, every client's timer fires at once and the requests come in
   * bursts of `clients`. h2load then runs `rate × durationSec` requests (its
   * staggered start excludes -D).
   */
  rate?: number;
  tls?: TlsClient;
  /** Per-request log for percentiles. */
  logFile?: string;
}

/** Runs h2load once and parses its summary (and, with `logFile`, latency percentiles). */
export async function h2load(o: H2loadOptions): Promise<LoadResult> {
  const args = ['-t', '1', '-c', String(o.clients), '-m', String(o.streams)];
  if (o.rate === undefined) args.push('-D', String(o.durationSec), '--warm-up-time', String(o.warmupSec));
  else args.push(...staggeredRateArgs(o.rate, o.clients, o.durationSec));
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.dataFile) args.push('-d', o.dataFile);
  if (o.logFile) {
    rmSync(o.logFile, { force: true });
    args.push('--log-file', o.logFile);
  }
  args.push(o.url);
  const { stdout } = await run('h2load', args, { env: tlsEnv(o.tls), maxBuffer: 16 * 1024 * 1024, timeout: (o.durationSec + o.warmupSec + 60) * 1000 });
  const finished = /finished in ([\d.]+)(ms|s),/.exec(stdout);
  const reqs = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(stdout);
  if (!finished || !reqs || !codes) throw new Error(`h2load output not understood:\n${stdout}`);
  const seconds = Number(finished[1]) / (finished[2] === 'ms' ? 1000 : 1);
  const ok = Number(codes[1]);
  const bad = Number(codes[2]) + Number(codes[3]) + Number(codes[4]) + Number(reqs[5]) + Number(reqs[6]);
  const result: LoadResult = { ok, bad, seconds, rps: ok / seconds };
  if (o.logFile) Object.assign(result, percentilesFromLog(o.logFile, o.rate));
  return result;
}

/**
 * h2load arguments for `rate` requests/s over `clients` connections, the
 * connections started evenly over one client's interval (`clients / rate`
 * seconds). h2load takes that spacing in whole milliseconds only, so above
 * 1,000 requests/s a few connections start in the same millisecond.
 * Exported for tests.
 */
export function staggeredRateArgs(rate: number, clients: number, durationSec: number): string[] {
  const perClient = Math.max(1, Math.round(rate / clients));
  const clientIntervalMs = 1000 / perClient;
  const periodMs = Math.max(1, Math.floor(clientIntervalMs / clients));
  // Connections started per period, so that all of them start within one client interval.
  const every = Math.max(1, Math.ceil((clients * periodMs) / clientIntervalMs));
  const total = Math.max(clients, Math.round(perClient * clients * durationSec));
  return ['-n', String(total), '-r', String(every), `--rate-period=${periodMs}ms`, `--rps=${perClient}`];
}

/** p50/p99 (ms), and how bunched the arrivals were, from h2load's --log-file: start µs, status, duration µs per line. */
function percentilesFromLog(file: string, rate: number | undefined): { p50: number; p99: number; bunched?: number } {
  const lat: number[] = [];
  const starts: number[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const cols = line.split('\t');
    if (cols.length >= 3) {
      starts.push(Number(cols[0]));
      lat.push(Number(cols[2]) / 1000);
    }
  }
  lat.sort((a, b) => a - b);
  const at = (q: number): number => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  const out: { p50: number; p99: number; bunched?: number } = { p50: at(0.5), p99: at(0.99) };
  if (rate !== undefined && starts.length > 1) {
    starts.sort((a, b) => a - b);
    const close = 1e6 / rate / 4;
    let n = 0;
    for (let i = 1; i < starts.length; i++) if ((starts[i] as number) - (starts[i - 1] as number) < close) n++;
    out.bunched = n / (starts.length - 1);
  }
  return out;
}

export interface WrkOptions {
  url: string;
  connections: number;
  durationSec: number;
  headers?: Record<string, string>;
  /** Lua script (e.g. a different token per request). */
  script?: string;
  tls?: TlsClient;
}

/** Runs wrk once (HTTP/1.1; with `connection: close` every request is a new TLS connection). */
export async function wrk(o: WrkOptions): Promise<LoadResult> {
  const args = ['-t', '1', '-c', String(o.connections), '-d', `${o.durationSec}s`];
  for (const [k, v] of Object.entries(o.headers ?? {})) args.push('-H', `${k}: ${v}`);
  if (o.script) args.push('-s', o.script);
  args.push(o.url);
  const { stdout } = await run('wrk', args, { env: tlsEnv(o.tls), timeout: (o.durationSec + 60) * 1000 });
  const total = /(\d+) requests in ([\d.]+)(ms|s|m)/.exec(stdout);
  if (!total) throw new Error(`wrk output not understood:\n${stdout}`);
  const seconds = Number(total[2]) * (total[3] === 'ms' ? 0.001 : total[3] === 'm' ? 60 : 1);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const errors = sock ? Number(sock[1]) + Number(sock[3]) + Number(sock[4]) : 0;
  const ok = Number(total[1]) - non2xx;
  return { ok, bad: non2xx + errors, seconds, rps: ok / seconds, responses: Number(total[1]) };
}

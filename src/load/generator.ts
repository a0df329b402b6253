/**
 * The load profile's load generator (`node dist/src/load/generator.js`).
 * Through Envoy, it sends each tenant's traffic with that tenant's device
 * certificate, one tenant's device to the other tenant's hostname (every one
 * of those must be refused), and signed-in traffic to the SSO app with a
 * session it gets first by signing in at the demo IdP as a browser would. When
 * it ends it prints, per scenario: requests, requests per second, latency
 * percentiles, how many answers were as expected, and errors (any other
 * status, or no answer). Exits 1 when a scenario has errors or no requests.
 *
 *   --dir <folder>       what the setup wrote (certificates, idp.json)
 *   --envoy HOST:PORT    Envoy's listener
 *   --duration <s>       run for this long, or
 *   --requests <n>       send this many requests per scenario
 *   --connections <n>    concurrent connections per scenario (default 4)
 */
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_USERS, SSO_HOSTS } from '../demo/sso.js';
import { LOAD_TENANTS, type HostPort } from './topology.js';

/** A single request never waits longer than this: an answer that slow counts as an error. */
const REQUEST_TIMEOUT_MS = 10_000;
/** Redirects a sign-in may take (app → login service → IdP → interaction → IdP → callback → handoff → app). */
const MAX_SIGN_IN_HOPS = 16;

interface Scenario {
  readonly name: string;
  readonly host: string;
  readonly expect: number;
  readonly device?: string;
  readonly cookie?: string;
}

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly host: string;
  readonly expect: number;
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly asExpected: number;
  readonly errors: number;
  /** The first few unexpected answers, to say what went wrong. */
  readonly samples: readonly string[];
}

interface GeneratorOptions {
  dir: string;
  envoy: HostPort;
  durationMs: number | undefined;
  requests: number | undefined;
  connections: number;
}

function parse(argv: readonly string[]): GeneratorOptions {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: { dir: { type: 'string' }, envoy: { type: 'string' }, duration: { type: 'string' }, requests: { type: 'string' }, connections: { type: 'string' } },
  });
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(v.envoy ?? '');
  if (!m || v.dir === undefined) throw new Error('--dir and --envoy HOST:PORT are required');
  const positive = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${text}`);
    return n;
  };
  const durationS = positive('duration', v.duration);
  const requests = positive('requests', v.requests);
  if ((durationS === undefined) === (requests === undefined)) throw new Error('give one of --duration or --requests');
  return { dir: v.dir, envoy: { host: m[1] as string, port: Number(m[2]) }, durationMs: durationS === undefined ? undefined : durationS * 1000, requests, connections: positive('connections', v.connections ?? '4') ?? 4 };
}

/** Sends one request to `target`, naming `url`'s host in SNI and Host: Envoy picks the tenant from them. */
function send(target: HostPort, url: URL, o: { ca: string; agent?: Agent; method?: string; headers?: Record<string, string>; body?: string }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: target.host,
        port: target.port,
        ...(isIP(url.hostname) === 0 ? { servername: url.hostname } : {}),
        method: o.method ?? 'GET',
        path: url.pathname + url.search,
        headers: { host: url.host, ...o.headers },
        ca: o.ca,
        ...(o.agent ? { agent: o.agent } : { agent: false }),
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

/**
 * Signs in to the SSO app as `user`, as a browser does (cookies per host,
 * every redirect followed), and returns the Cookie header the app's host then takes.
 */
export async function signIn(o: { envoy: HostPort; idp: HostPort; ca: string; user: { username: string; password: string } }): Promise<string> {
  const jars = new Map<string, Map<string, string>>();
  const jar = (host: string): Map<string, string> => jars.get(host) ?? jars.set(host, new Map()).get(host)!;
  const cookieHeader = (host: string): string => [...jar(host)].map(([k, v]) => `${k}=${v}`).join('; ');
  const go = async (url: URL, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Answer> => {
    const direct = url.hostname === o.idp.host && Number(url.port) === o.idp.port;
    const cookie = cookieHeader(url.hostname);
    const res = await send(direct ? o.idp : o.envoy, url, { ca: o.ca, ...init, headers: { accept: 'text/html', ...init.headers, ...(cookie ? { cookie } : {}) } });
    for (const line of res.headers['set-cookie'] ?? []) {
      const [pair = ''] = line.split(';', 1);
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0\b/i.test(line)) jar(url.hostname).delete(name);
      else jar(url.hostname).set(name, value);
    }
    return res;
  };
  const app = new URL(`https://${SSO_HOSTS.app}:${o.envoy.port}/`);
  let url = app;
  for (let hop = 0; hop < MAX_SIGN_IN_HOPS; hop++) {
    const interaction = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    let res = await go(url);
    if (interaction && res.status === 200) {
      res = await go(new URL(`/interaction/${interaction[1]}/login`, url), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: o.user.username, password: o.user.password }).toString(),
      });
    }
    const location = res.headers.location;
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url);
      continue;
    }
    if (url.hostname === app.hostname && res.status === 200) return cookieHeader(app.hostname);
    throw new Error(`sign-in stopped at ${url.href} with HTTP ${res.status}: ${res.body.slice(0, 200)}`);
  }
  throw new Error(`sign-in took more than ${MAX_SIGN_IN_HOPS} redirects`);
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function runScenario(s: Scenario, o: GeneratorOptions, ca: string): Promise<ScenarioResult> {
  const agent = new Agent({
    keepAlive: true,
    maxSockets: o.connections,
    ca,
    ...(s.device ? { cert: readFileSync(join(o.dir, s.device, 'device.pem'), 'utf8'), key: readFileSync(join(o.dir, s.device, 'device.key'), 'utf8') } : {}),
  });
  const url = new URL(`https://${s.host}:${o.envoy.port}/load`);
  const headers: Record<string, string> = { accept: 'application/json', ...(s.cookie ? { cookie: s.cookie } : {}) };
  const latencies: number[] = [];
  const samples: string[] = [];
  let issued = 0;
  let asExpected = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = o.durationMs === undefined ? Infinity : started + o.durationMs;
  const more = (): boolean => (o.requests === undefined ? performance.now() < deadline : issued < o.requests);
  const worker = async (): Promise<void> => {
    while (more()) {
      issued++;
      const t0 = performance.now();
      try {
        const res = await send(o.envoy, url, { ca, agent, headers });
        latencies.push(performance.now() - t0);
        if (res.status === s.expect) asExpected++;
        else {
          errors++;
          if (samples.length < 3) samples.push(`HTTP ${res.status} ${res.body.slice(0, 160)}`);
        }
      } catch (err) {
        latencies.push(performance.now() - t0);
        errors++;
        if (samples.length < 3) samples.push(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: o.connections }, worker));
  const elapsedS = (performance.now() - started) / 1000;
  agent.destroy();
  const sorted = Float64Array.from(latencies).sort();
  return {
    scenario: s.name,
    host: s.host,
    expect: s.expect,
    requests: latencies.length,
    rps: latencies.length / elapsedS,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
    asExpected,
    errors,
    samples,
  };
}

const COLUMNS = ['scenario', 'host', 'expect', 'requests', 'rps', 'p50_ms', 'p90_ms', 'p99_ms', 'max_ms', 'as_expected', 'errors'] as const;

/** The table the run ends with: one row per scenario, columns separated by spaces. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows = results.map((r) => [r.scenario, r.host, String(r.expect), String(r.requests), r.rps.toFixed(1), r.p50.toFixed(2), r.p90.toFixed(2), r.p99.toFixed(2), r.max.toFixed(2), String(r.asExpected), String(r.errors)]);
  const all = [[...COLUMNS], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all.map((row) => row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')).join('\n');
}

export async function generate(o: GeneratorOptions): Promise<ScenarioResult[]> {
  const ca = readFileSync(join(o.dir, 'certs', 'edge-ca.pem'), 'utf8');
  const idpConfig = JSON.parse(readFileSync(join(o.dir, 'idp.json'), 'utf8')) as { public_host: string; port: number };
  const user = DEMO_USERS.find((u) => u.groups.includes('staff'));
  if (!user) throw new Error('no demo user the SSO app admits');
  const cookie = await signIn({ envoy: o.envoy, idp: { host: idpConfig.public_host, port: idpConfig.port }, ca, user });
  const [first, second] = LOAD_TENANTS;
  const scenarios: Scenario[] = [
    ...LOAD_TENANTS.map((t) => ({ name: t.name, host: t.host, device: t.name, expect: 200 })),
    // One tenant's device on the other's hostname: every request must be refused.
    { name: `${first.name}-on-${second.name}`, host: second.host, device: first.name, expect: 403 },
    { name: `sso-${user.username}`, host: SSO_HOSTS.app, cookie, expect: 200 },
  ];
  return Promise.all(scenarios.map((s) => runScenario(s, o, ca)));
}

if (process.argv[1] && /load[\\/]generator\.js$/.test(process.argv[1])) {
  const main = async (): Promise<number> => {
    const o = parse(process.argv.slice(2));
    const size = o.requests !== undefined ? `${o.requests} requests` : `${(o.durationMs ?? 0) / 1000} s`;
    process.stdout.write(`bouncer load: ${size} per scenario through ${o.envoy.host}:${o.envoy.port}, ${o.connections} connections each\n`);
    const results = await generate(o);
    process.stdout.write(`\n${formatTable(results)}\n`);
    for (const r of results) for (const s of r.samples) process.stdout.write(`  ${r.scenario}: ${s}\n`);
    return results.every((r) => r.requests > 0 && r.errors === 0) ? 0 : 1;
  };
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`load generator failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

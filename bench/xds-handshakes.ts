/**
 * TLS handshakes per second through the xDS listener's per-hostname filter
 * chains against the static single-certificate listener of `bouncer envoy
 * render`, with a client certificate on every connection (the cold path of S1).
 *
 *   node dist/bench/xds-handshakes.js [--json]
 *
 * Two Envoys (one worker each) run side by side: (a) the static config with one
 * P-256 certificate for every name; (b) the bootstrap of `render --xds`, its
 * listener from bouncer's xDS server with BENCH_XDS_HS_HOSTNAMES (default 1,000)
 * hostnames, a P-256 certificate and the tenant's CA list each. wrk opens a new
 * TLS connection for every request (`connection: close`) presenting one P-256
 * client certificate; on (b) each connection sends the next hostname as SNI,
 * round robin, so every chain takes its turn. Both listeners point ext_authz at
 * a port where nothing answers, so Envoy answers every request itself (503,
 * `failure_mode_allow: false`) and what is measured is the handshake and Envoy's
 * HTTP work, not an authorization server sharing the two cores. The two sides
 * take turns run by run (BENCH_XDS_HS_RUNS, default 5, of BENCH_SECONDS, default
 * 5); the ratio is of the medians, and the paired ratio the median of the
 * run-by-run ratios. Envoy's CPU per handshake is read from /proc around each
 * run: on a shared host the rate follows the other jobs, the CPU much less.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { buildEnvoyConfig } from '../src/envoy/render.js';
import { buildXdsBootstrap } from '../src/envoy/render-xds.js';
import { createRootCa, issueClientCert, issueServerCert } from '../src/pki/generate.js';
import { createXdsServer } from '../src/xds/server.js';
import { MemoryCatalog } from '../test/helpers/memory-catalog.js';
import { startEnvoy, pinEnvoy, type RunningEnvoy } from './lib/envoy.js';
import { hostnameEntries } from './lib/hostname-entries.js';
import { buildTlsShim, wrk, type TlsClient } from './lib/load.js';
import { cpuSeconds, freePort, stopAll, waitFor } from './lib/processes.js';

const HOSTNAMES = Number(process.env.BENCH_XDS_HS_HOSTNAMES ?? 1000);
const RUNS = Number(process.env.BENCH_XDS_HS_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
/**
 * Without the static config's ext_authz retry policy (absent from the xDS chains): against
 * the closed ext_authz port the static side otherwise waits out two retry back-offs per
 * request, which lowers its rate, not its CPU per handshake (docs/xds.md).
 */
const STATIC_NO_AUTHZ_RETRY = process.env.BENCH_XDS_HS_STATIC_NO_RETRY === '1';
const log = (msg: string): void => void process.stderr.write(`[xds-handshakes] ${msg}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export interface XdsHandshakeResult {
  hostnames: number;
  runs: number;
  seconds: number;
  /** New TLS connections (one request each) per second, every run, in order. */
  staticRuns: number[];
  xdsRuns: number[];
  staticMedian: number;
  xdsMedian: number;
  /** xdsMedian / staticMedian. */
  ratio: number;
  /** Median of xds ÷ static run by run (each pair back to back, sharing the host's drift). */
  pairedRatio: number;
  /** Envoy's CPU (user + system) per handshake, µs, every run: steadier than the rate on a busy host. */
  staticCpuUs: number[];
  xdsCpuUs: number[];
  /** Median static CPU per handshake ÷ median xDS CPU per handshake: handshakes per Envoy core, xDS over static. */
  cpuRatio: number;
}

/** Every object in a config tree holding `key`. */
function findKey(node: unknown, key: string): Array<Record<string, unknown>> {
  if (Array.isArray(node)) return node.flatMap((n) => findKey(n, key));
  if (node === null || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  return [...(key in o ? [o] : []), ...Object.values(o).flatMap((v) => findKey(v, key))];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-handshakes-'));
  try {
    await pinEnvoy(dir);
    const shim = buildTlsShim(dir);
    const serverCa = await createRootCa({ commonName: 'Bench Server CA' });
    const clientCa = await createRootCa({ commonName: 'Bench Tenant CA' });
    const device = await issueClientCert({ issuer: clientCa, commonName: 'bench-device' });
    const edge = await issueServerCert({ commonName: 'edge.customers.test', dns: ['*.customers.test'], issuer: serverCa });
    for (const [name, pem] of [['device.pem', device.certPem + clientCa.certPem], ['device.key', device.keyPem], ['edge.pem', edge.certPem], ['edge.key', edge.keyPem]] as const) writeFileSync(join(dir, name), pem);
    const entries = await hostnameEntries(serverCa, clientCa, HOSTNAMES, 'h');
    writeFileSync(join(dir, 'sni.txt'), entries.map((e) => e.hostname).join('\n'));
    const deadAuthz = await freePort();
    const deadUpstream = await freePort();

    const staticEnvoy: RunningEnvoy = await startEnvoy('static', dir, ({ port, adminPort }) => {
      const config = buildEnvoyConfig({ listenHost: '127.0.0.1', listenPort: port, adminHost: '127.0.0.1', adminPort, authzHost: '127.0.0.1', authzPort: deadAuthz, upstreamHost: '127.0.0.1', upstreamPort: deadUpstream, serverCertPath: join(dir, 'edge.pem'), serverKeyPath: join(dir, 'edge.key') });
      if (STATIC_NO_AUTHZ_RETRY) for (const found of findKey(config, 'retry_policy')) delete found.retry_policy;
      return config;
    });

    const catalog = new MemoryCatalog();
    catalog.seed(entries);
    const publicPort = await freePort();
    const xds = createXdsServer({ catalog, settings: { listen: { host: '127.0.0.1', port: publicPort }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable' }, logger: pino({ level: 'warn' }), registry: new Registry() });
    const xdsPort = await xds.listen('127.0.0.1', 0);
    const xdsEnvoy: RunningEnvoy = await startEnvoy('xds', dir, ({ adminPort }) =>
      buildXdsBootstrap({ nodeId: 'bench-hs', xdsHost: '127.0.0.1', xdsPort, adminHost: '127.0.0.1', adminPort, authzHost: '127.0.0.1', authzPort: deadAuthz, upstreamHost: '127.0.0.1', upstreamPort: deadUpstream, acmePort: deadUpstream }),
    );
    await waitFor('every chain served and answered', () => xds.status().hostnamesServed === HOSTNAMES && xds.status().streams[0]?.pendingResponses === 0, 600_000, 50);

    const sides: Array<{ label: 'static' | 'xds'; pid: number; port: number; tls: TlsClient; runs: number[]; cpuUs: number[] }> = [
      { label: 'static', pid: staticEnvoy.pid, port: staticEnvoy.port, tls: { shim, sni: 'edge.customers.test', cert: { chain: join(dir, 'device.pem'), key: join(dir, 'device.key') } }, runs: [], cpuUs: [] },
      { label: 'xds', pid: xdsEnvoy.pid, port: publicPort, tls: { shim, sniList: join(dir, 'sni.txt'), cert: { chain: join(dir, 'device.pem'), key: join(dir, 'device.key') } }, runs: [], cpuUs: [] },
    ];
    const once = async (side: (typeof sides)[number], seconds: number): Promise<{ rate: number; cpuUs: number }> => {
      const cpu0 = cpuSeconds(side.pid);
      const r = await wrk({ url: `https://127.0.0.1:${side.port}/`, connections: CONNECTIONS, durationSec: seconds, headers: { Host: 'h0.customers.test', Connection: 'close' }, tls: side.tls });
      // Every response a 503 from Envoy itself; anything else (a socket error, a refused handshake) spoils the figure.
      if ((r.responses ?? 0) !== r.bad || r.ok !== 0) throw new Error(`${side.label}: ${r.ok} 2xx and ${r.bad - (r.responses ?? 0)} socket errors; expected Envoy's own 503 for every request`);
      return { rate: (r.responses ?? 0) / r.seconds, cpuUs: ((cpuSeconds(side.pid) - cpu0) * 1e6) / Math.max(1, r.responses ?? 0) };
    };
    // Warm-up: every chain's first handshakes cost more (its TLS context's first use), so
    // the xDS side goes round every hostname twice before anything is measured.
    await once(sides[0] as (typeof sides)[number], 2);
    for (let handshakes = 0, round = 0; handshakes < 2 * HOSTNAMES && round < 30; round += 1) {
      const w = await once(sides[1] as (typeof sides)[number], 2);
      handshakes += w.rate * 2;
    }
    for (let i = 0; i < RUNS; i += 1) {
      for (const side of sides) {
        const { rate, cpuUs } = await once(side, SECONDS);
        side.runs.push(Math.round(rate));
        side.cpuUs.push(Math.round(cpuUs));
        log(`${side.label} run ${i + 1}/${RUNS}: ${rate.toFixed(0)} handshakes/s, Envoy ${cpuUs.toFixed(0)} µs CPU each`);
      }
    }
    const [s, x] = sides as [(typeof sides)[number], (typeof sides)[number]];
    const result: XdsHandshakeResult = {
      hostnames: HOSTNAMES,
      runs: RUNS,
      seconds: SECONDS,
      staticRuns: s.runs,
      xdsRuns: x.runs,
      staticMedian: median(s.runs),
      xdsMedian: median(x.runs),
      ratio: Math.round((median(x.runs) / median(s.runs)) * 1000) / 1000,
      pairedRatio: Math.round(median(x.runs.map((v, i) => v / (s.runs[i] ?? NaN))) * 1000) / 1000,
      staticCpuUs: s.cpuUs,
      xdsCpuUs: x.cpuUs,
      cpuRatio: Math.round((median(s.cpuUs) / median(x.cpuUs)) * 1000) / 1000,
    };
    log(JSON.stringify(result));
    await xds.close();
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result)}\n`);
    else console.table([{ listener: 'static, one certificate', median: result.staticMedian }, { listener: `xDS, ${HOSTNAMES} chains`, median: result.xdsMedian }]);
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

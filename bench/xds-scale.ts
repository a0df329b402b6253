/**
 * Customer hostnames at scale over xDS: a real Envoy fed only by bouncer's
 * delta ADS server, with 100, 1,000 and 10,000 hostnames (BENCH_XDS_COUNTS).
 *
 *   node dist/bench/xds-scale.js [--json]
 *
 * Per count: time from Envoy's connect to every hostname served (all secrets
 * and the listener ACKed, no listener warming, a handshake on the last
 * hostname); time for one added hostname and for one changed certificate to be
 * served (handshakes polled every 5 ms; the median of BENCH_XDS_CHANGES); the
 * CPU bouncer spends on one change (the catalog notification to the last
 * response written; the probes' handshakes run in this process too, so the
 * CPU is read before them); the public listener's encoded size;
 * Envoy's memory per hostname (admin /memory, allocated bytes, against the
 * same Envoy with no hostname); the number of Envoy stats.
 *
 * BENCH_XDS_MODE=internal measures `xds.listener_mode: internal`;
 * BENCH_XDS_TRACE=1 logs where the first load's time goes (Envoy's main-thread
 * CPU, responses sent and ACKed per type, every second; Envoy's LDS/CDS update
 * durations); BENCH_XDS_PER_RESPONSE sets listeners and clusters per response;
 * BENCH_XDS_NO_STATS_MATCHER=1 drops the bootstrap's stats matcher, for a
 * before/after comparison (docs/xds.md, "Where the first load's time goes").
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { stringify } from 'yaml';
import { buildXdsBootstrap } from '../src/envoy/render-xds.js';
import { ensureEnvoy } from '../src/envoy/locate.js';
import type { ServedHostname } from '../src/core/served-hostname.js';
import { createRootCa, issueServerCert, type KeyPairPem } from '../src/pki/generate.js';
import { createXdsServer, type XdsServer } from '../src/xds/server.js';
import { MemoryCatalog } from '../test/helpers/memory-catalog.js';
import { hostnameEntries as entries } from './lib/hostname-entries.js';
import { freePort, waitFor } from './lib/processes.js';

const COUNTS = (process.env.BENCH_XDS_COUNTS ?? '100,1000,10000').split(',').map(Number);
const CHANGES = Number(process.env.BENCH_XDS_CHANGES ?? 5);
/** `chains` (default) or `internal`: the `xds.listener_mode` measured (docs/xds.md, "Listener modes"). */
const MODE: 'chains' | 'internal' = process.env.BENCH_XDS_MODE === 'internal' ? 'internal' : 'chains';
/** BENCH_XDS_ACME_TLS=1: the listener with TLS-ALPN-01's acme-tls/1 chains (docs/xds.md, "TLS-ALPN-01"), for their cost. */
const ACME_TLS = process.env.BENCH_XDS_ACME_TLS === '1';
/** Sequential full handshakes timed per row, for the cost of the internal hop against the chains mode. */
const HANDSHAKES = Number(process.env.BENCH_XDS_HANDSHAKES ?? 200);
/** Listeners and clusters per response (XDS_DEFAULTS.maxResourcesPerResponse unless set). */
const PER_RESPONSE = process.env.BENCH_XDS_PER_RESPONSE ? Number(process.env.BENCH_XDS_PER_RESPONSE) : undefined;
/** Logs where the first load's time goes (see scaleRow). */
const TRACE = process.env.BENCH_XDS_TRACE === '1';
/** Measures without the bootstrap's stats matcher, for a before/after comparison. */
const NO_STATS_MATCHER = process.env.BENCH_XDS_NO_STATS_MATCHER === '1';
const log = (msg: string): void => void process.stderr.write(`[xds-scale] ${msg}\n`);

export interface XdsScaleRow {
  mode: 'chains' | 'internal';
  hostnames: number;
  /** Envoy's first ADS request to every hostname served. */
  connectToAllServedMs: number;
  /** One new hostname: catalog change to its certificate in a handshake (median). */
  addServedMs: number;
  /** One changed certificate (same hostname): catalog change to the new certificate in a handshake (median). */
  changeServedMs: number;
  /** bouncer CPU for one added hostname (median): from the catalog's notification to the last response written (build, encode, serialize, send). */
  addCpuMs: number;
  /** bouncer CPU for one changed certificate (median). */
  changeCpuMs: number;
  listenerBytes: number;
  envoyBytesPerHostname: number;
  /** One full TLS handshake (no resumption) on an existing hostname, connect to secure, median of HANDSHAKES sequential ones. */
  handshakeMs: number;
  /** Stats in Envoy's admin /stats after the first load. */
  envoyStats: number;
  /** Whether the bootstrap's stats matcher was on (BENCH_XDS_NO_STATS_MATCHER). */
  statsMatcher: boolean;
  /** One-minute load average at the end of the row. */
  loadAverage: number;
}

/** Connect to handshake done, in ms, for one fresh TLS connection. */
function handshakeTime(port: number, servername: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const s = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 2000 }, () => {
      resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      s.destroy();
    });
    s.on('error', reject);
  });
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** The CN a handshake with this SNI shows, or undefined. */
function handshakeCn(port: number, servername: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, timeout: 2000 }, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      s.destroy();
      resolve(typeof cn === 'string' ? cn : undefined);
    });
    s.on('error', () => resolve(undefined));
    s.on('timeout', () => (s.destroy(), resolve(undefined)));
  });
}

async function servedWith(port: number, host: string, serial: string | undefined, cn: string): Promise<void> {
  await waitFor(
    `${host} served`,
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect({ host: '127.0.0.1', port, servername: host, rejectUnauthorized: false, timeout: 2000 }, () => {
          const peer = s.getPeerCertificate();
          s.destroy();
          resolve(peer.subject?.CN === cn && (serial === undefined || peer.serialNumber === serial));
        });
        s.on('error', () => resolve(false));
      }),
    600_000,
    5,
  );
}

async function ackCount(xds: XdsServer, type: 'secret' | 'listener'): Promise<number> {
  const m = await xds.metrics.answers.get();
  return m.values.filter((v) => v.labels.type === type && v.labels.result === 'ack').reduce((s, v) => s + v.value, 0);
}

async function sentCount(xds: XdsServer, type: 'secret' | 'listener'): Promise<number> {
  const m = await xds.metrics.responses.get();
  return m.values.filter((v) => v.labels.type === type).reduce((s, v) => s + v.value, 0);
}

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

interface Edge {
  envoy: ChildProcess;
  adminPort: number;
  publicPort: number;
  admin(path: string): Promise<string>;
  stop(): Promise<void>;
}

async function startEdge(bin: string, dir: string, xdsPort: number, publicPort: number): Promise<Edge> {
  const adminPort = await freePort();
  const config = join(dir, `envoy-${adminPort}.yaml`);
  const bootstrap = buildXdsBootstrap({ nodeId: `bench-${adminPort}`, xdsHost: '127.0.0.1', xdsPort, adminHost: '127.0.0.1', adminPort, authzPort: await freePort(), upstreamPort: await freePort(), acmePort: await freePort() });
  if (NO_STATS_MATCHER) delete bootstrap.stats_config;
  writeFileSync(config, stringify(bootstrap, { lineWidth: 0 }));
  const envoy = spawn(bin, ['-c', config, '--base-id', String(adminPort), '--log-level', 'error', '--concurrency', '1', '--disable-hot-restart'], { stdio: 'ignore' });
  const admin = async (path: string): Promise<string> => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
  return {
    envoy,
    adminPort,
    publicPort,
    admin,
    stop: () =>
      new Promise<void>((resolve) => {
        if (envoy.exitCode !== null) return resolve();
        envoy.once('exit', () => resolve());
        envoy.kill('SIGTERM');
      }),
  };
}

async function envoyAllocated(edge: Edge): Promise<number> {
  return Number((JSON.parse(await edge.admin('/memory')) as { allocated: string }).allocated);
}

async function scaleRow(bin: string, dir: string, ca: KeyPairPem, pool: Array<Omit<ServedHostname, 'version'>>, extra: Array<Omit<ServedHostname, 'version'>>, n: number, baselineBytes: number): Promise<XdsScaleRow> {
  const catalog = new MemoryCatalog();
  catalog.seed(pool.slice(0, n));
  const publicPort = await freePort();
  const xds = createXdsServer({ catalog, settings: { listen: { host: '127.0.0.1', port: publicPort }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable', listenerMode: MODE, acmeTlsAlpn: ACME_TLS }, logger: pino({ level: 'warn' }), registry: new Registry(), maxResourcesPerResponse: PER_RESPONSE });
  const xdsPort = await xds.listen('127.0.0.1', 0);
  const edge = await startEdge(bin, dir, xdsPort, publicPort);
  try {
    const connected = await waitFor('Envoy to connect', () => (xds.status().streams.length > 0 ? Date.now() : undefined), 30_000, 2);
    // BENCH_XDS_TRACE: where the first load's time goes, every second: Envoy's main-thread CPU
    // (clock ticks from /proc), resources sent and responses ACKed per type, responses unanswered.
    let lastTicks = 0;
    const trace = TRACE
      ? setInterval(() => {
          void (async () => {
            const [sent, acks] = await Promise.all([xds.metrics.resourcesSent.get(), xds.metrics.answers.get()]);
            const per = (m: { values: Array<{ labels: Partial<Record<string, string | number>>; value: number }> }, result?: string): string => ['cluster', 'listener', 'secret'].map((t) => m.values.filter((v) => v.labels.type === t && (result === undefined || v.labels.result === result)).reduce((a, v) => a + v.value, 0)).join('/');
            const fields = readFileSync(`/proc/${edge.envoy.pid ?? 0}/task/${edge.envoy.pid ?? 0}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
            const ticks = Number(fields[11]) + Number(fields[12]);
            log(`+${Date.now() - connected} ms: Envoy main thread ${ticks - lastTicks} ticks; sent c/l/s ${per(sent)}; ACKed responses c/l/s ${per(acks, 'ack')}; unanswered ${xds.status().streams[0]?.pendingResponses ?? '-'}`);
            lastTicks = ticks;
          })();
        }, 1000)
      : undefined;
    // Served: the listener active (not warming), every response answered, the first and last hostnames in a handshake.
    // bouncer's own counts first: polling Envoy's admin /stats meanwhile would load the main
    // thread it measures (a scan of every stat per poll, 1.7 million stats at 10,000 hostnames
    // without the bootstrap's stats matcher).
    await waitFor('every response answered', async () => (await ackCount(xds, 'listener')) >= 1 && (await ackCount(xds, 'secret')) >= 2 * n && xds.status().streams[0]?.pendingResponses === 0, 1_200_000, 20);
    await waitFor('no listener warming', async () => /listener_manager\.total_listeners_warming: 0/.test(await edge.admin('/stats?filter=total_listeners_warming')), 1_200_000, 20);
    for (const h of [pool[0], pool[n - 1]] as Array<Omit<ServedHostname, 'version'>>) await servedWith(publicPort, h.hostname, undefined, h.hostname);
    if (xds.status().streams.length !== 1 || (await ackCount(xds, 'secret')) < 2 * n) throw new Error('Envoy reconnected during the initial load; the figure would not be one load');
    const connectToAllServedMs = Date.now() - connected;
    clearInterval(trace);
    const stats = await edge.admin('/stats');
    const envoyStats = stats.split('\n').filter((l) => l !== '').length;
    if (TRACE) {
      const byPrefix = new Map<string, number>();
      for (const l of stats.split('\n')) {
        const k = l.replace(/[a-z]+\d+\.customers\.test/g, '<h>').replace(/:.*/, '').replace(/\.[^.]*$/, '');
        byPrefix.set(k, (byPrefix.get(k) ?? 0) + 1);
      }
      log(`stats by prefix:\n${[...byPrefix].filter(([, c]) => c >= n).sort((a, b) => b[1] - a[1]).map(([k, c]) => `  ${c} ${k}`).join('\n')}`);
      log(await edge.admin('/stats?filter=^(listener_manager.lds|cluster_manager.cds).update_duration|^server.initialization_time_ms&histogram_buckets=none'));
    }
    const allocated = await envoyAllocated(edge);
    const addMs: number[] = [];
    const addCpu: number[] = [];
    const changeMs: number[] = [];
    const changeCpu: number[] = [];
    for (let i = 0; i < CHANGES; i += 1) {
      const added = extra[i] as Omit<ServedHostname, 'version'>;
      let acksBefore = await ackCount(xds, 'listener');
      let secretAcksBefore = await ackCount(xds, 'secret');
      let cpu0 = cpuMs();
      let t0 = Date.now();
      catalog.upsert(added);
      // The notification runs to the last response written: build, encode, serialize, send.
      addCpu.push(cpuMs() - cpu0);
      await servedWith(publicPort, added.hostname, undefined, added.hostname);
      addMs.push(Date.now() - t0);
      await waitFor('ACKs of the add', async () => (await ackCount(xds, 'listener')) > acksBefore && (await ackCount(xds, 'secret')) >= secretAcksBefore + 2, 60_000, 5);
      // The same hostname, a new certificate: secrets only.
      const changed = pool[i] as Omit<ServedHostname, 'version'>;
      const leaf = await issueServerCert({ commonName: changed.hostname, dns: [changed.hostname], issuer: ca });
      const serial = new X509Certificate(leaf.certPem).serialNumber;
      acksBefore = await ackCount(xds, 'listener');
      secretAcksBefore = await ackCount(xds, 'secret');
      const listenerSent = await sentCount(xds, 'listener');
      cpu0 = cpuMs();
      t0 = Date.now();
      catalog.upsert({ ...changed, certificateChainPem: leaf.certPem, privateKeyPem: leaf.keyPem });
      changeCpu.push(cpuMs() - cpu0);
      await servedWith(publicPort, changed.hostname, serial, changed.hostname);
      changeMs.push(Date.now() - t0);
      await waitFor('ACK of the change', async () => (await ackCount(xds, 'secret')) >= secretAcksBefore + 1, 60_000, 5);
      if ((await sentCount(xds, 'listener')) !== listenerSent) throw new Error('a certificate change sent the listener');
    }
    const handshakes: number[] = [];
    for (let i = 0; i < HANDSHAKES; i += 1) handshakes.push(await handshakeTime(publicPort, (pool[i % n] as Omit<ServedHostname, 'version'>).hostname));
    const row: XdsScaleRow = {
      mode: MODE,
      hostnames: n,
      connectToAllServedMs,
      addServedMs: median(addMs),
      changeServedMs: median(changeMs),
      addCpuMs: Math.round(median(addCpu) * 100) / 100,
      changeCpuMs: Math.round(median(changeCpu) * 100) / 100,
      listenerBytes: xds.status().publicListenerBytes,
      envoyBytesPerHostname: Math.round((allocated - baselineBytes) / n),
      handshakeMs: Math.round(median(handshakes) * 100) / 100,
      envoyStats,
      statsMatcher: !NO_STATS_MATCHER,
      loadAverage: Math.round((loadavg()[0] ?? NaN) * 100) / 100,
    };
    log(JSON.stringify(row));
    return row;
  } finally {
    await edge.stop();
    await xds.close();
  }
}

async function main(): Promise<void> {
  const bin = await ensureEnvoy();
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-scale-'));
  try {
    const ca = await createRootCa({ commonName: 'Bench Server CA' });
    const clientCa = await createRootCa({ commonName: 'Bench Tenant CA' });
    const max = Math.max(...COUNTS);
    const g0 = Date.now();
    const pool = await entries(ca, clientCa, max, 'h');
    const extra = await entries(ca, clientCa, CHANGES, 'added');
    log(`${max + CHANGES} certificates issued in ${((Date.now() - g0) / 1000).toFixed(1)} s`);
    // Envoy with no hostname: the memory baseline.
    const empty = new MemoryCatalog();
    const xds0 = createXdsServer({ catalog: empty, settings: { listen: { host: '127.0.0.1', port: await freePort() }, authzTimeoutMs: 500, statusOnError: 'ServiceUnavailable', listenerMode: MODE, acmeTlsAlpn: ACME_TLS }, logger: pino({ level: 'warn' }), registry: new Registry() });
    const edge0 = await startEdge(bin, dir, await xds0.listen('127.0.0.1', 0), 0);
    let baseline: number;
    try {
      await waitFor('the empty listener ACKed', async () => (await ackCount(xds0, 'listener')) >= 1, 30_000, 20);
      baseline = await envoyAllocated(edge0);
    } finally {
      await edge0.stop();
      await xds0.close();
    }
    const rows: XdsScaleRow[] = [];
    for (const n of COUNTS) rows.push(await scaleRow(bin, dir, ca, pool, extra, n, baseline));
    if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify({ baselineEnvoyBytes: baseline, rows })}\n`);
    else console.table(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

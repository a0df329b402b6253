/**
 * Which part of the ext_authz hop makes the p99 at a fixed rate. Each arm is
 * its own front Envoy (bouncer's rendered config, changed only where the arm
 * says) before the same upstream; the arms take turns, so the host's drift
 * falls on all of them alike.
 *
 *   S1    no auth filter
 *   He    HTTP ext_authz to another Envoy answering 200 from memory
 *   Hn    HTTP ext_authz to node:http2 answering 200 with END_STREAM (one write)
 *   Hn2   as Hn, ending with trailers (two writes, as every gRPC answer)
 *   S3t   gRPC ext_authz to the no-op on bouncer's transport
 *   S3tn  S3t without the peer certificate and TLS session in the CheckRequest
 *   S4    bouncer
 *
 *   node dist/bench/hop-tail.js [RATE] [TURNS] [SECONDS] [ARMS]
 *   e.g. node dist/bench/hop-tail.js 1000 6 4 S1,He,Hn,Hn2,S3t,S3tn,S4
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startBouncer } from './lib/bouncer.js';
import { extAuthzOf, frontConfig, pinEnvoy, startEnvoy, upstreamConfig, type RunningEnvoy } from './lib/envoy.js';
import { createFixtures, HOST, SESSION_COOKIE, type Fixtures } from './lib/fixtures.js';
import { buildTlsShim, h2load, type TlsClient } from './lib/load.js';
import { cpuSeconds, freePort, pinning, pinSelf, startProc, stopAll, waitFor } from './lib/processes.js';
import { stat } from './lib/report.js';

const ARMS = ['S1', 'He', 'Hn', 'Hn2', 'S3t', 'S3tn', 'S4'] as const;
type Arm = (typeof ARMS)[number];

interface Side {
  arm: Arm;
  envoy: RunningEnvoy;
  /** The authz server's pid, when there is one. */
  authzPid?: number;
}

interface Turn {
  p50: number;
  p99: number;
  failed: number;
  envoyUs: number;
  authzUs: number;
}

/** Child role: the node:http2 answer of arm Hn (one write) or Hn2 (trailers). */
function serve(kind: 'Hn' | 'Hn2', port: number): void {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('error', () => undefined);
    stream.resume();
    if (kind === 'Hn') {
      stream.respond({ ':status': 200 }, { endStream: true });
      return;
    }
    stream.respond({ ':status': 200 }, { waitForTrailers: true });
    stream.once('wantTrailers', () => {
      if (!stream.destroyed) stream.sendTrailers({ 'grpc-status': '0' });
    });
    stream.end('ok');
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
}

type Obj = ReturnType<typeof frontConfig>;


/** The same filter in its HTTP form, on the same cluster (HTTP/2). */
function toHttpService(cfg: Obj, port: number): Obj {
  const ea = extAuthzOf(cfg);
  delete ea.grpc_service;
  delete ea.include_peer_certificate;
  delete ea.include_tls_session;
  ea.http_service = { server_uri: { uri: `http://127.0.0.1:${port}`, cluster: 'bouncer_authz', timeout: '1s' } };
  return cfg;
}


async function startArm(arm: Arm, work: string, f: Fixtures, upstreamPort: number): Promise<Side> {
  const front = (build: (c: Obj) => Obj, authzPort: number, mode: 'none' | 'ext_authz' = 'ext_authz'): Promise<RunningEnvoy> =>
    startEnvoy(`front-${arm}`, work, (p) => build(frontConfig(mode, f, { ...p, upstreamPort, authzPort })));
  const same = (c: Obj): Obj => c;
  const self = fileURLToPath(import.meta.url);
  const noop = fileURLToPath(new URL('./noop-authz.js', import.meta.url));
  switch (arm) {
    case 'S1':
      return { arm, envoy: await front(same, 1, 'none') };
    case 'He': {
      const authz = await startEnvoy('authz-envoy', work, (p) => upstreamConfig(p), 1, { authz: true });
      return { arm, envoy: await front((c) => toHttpService(c, authz.port), authz.port), authzPid: authz.pid };
    }
    case 'Hn':
    case 'Hn2': {
      const port = await freePort();
      const proc = startProc(arm, process.execPath, [self, 'serve', arm, String(port)], process.env, { authz: true });
      await waitFor(`${arm} server`, async () => proc.output().includes('listening'));
      return { arm, envoy: await front((c) => toHttpService(c, port), port), authzPid: proc.pid };
    }
    case 'S3t':
    case 'S3tn': {
      const port = await freePort();
      const proc = startProc(arm, process.execPath, [noop, '--bouncer-transport', String(port)], process.env, { authz: true });
      await waitFor(`${arm} no-op`, async () => proc.output().includes('listening'));
      const build = (c: Obj): Obj => {
        if (arm === 'S3tn') Object.assign(extAuthzOf(c), { include_peer_certificate: false, include_tls_session: false });
        return c;
      };
      return { arm, envoy: await front(build, port), authzPid: proc.pid };
    }
    case 'S4': {
      const bouncer = await startBouncer(f, 'bouncer');
      return { arm, envoy: await front(same, bouncer.authzPort), authzPid: bouncer.pid };
    }
  }
}

async function main(): Promise<void> {
  const rate = Number(process.argv[2] ?? 1000);
  const turns = Number(process.argv[3] ?? 6);
  const seconds = Number(process.argv[4] ?? 4);
  const wanted = (process.argv[5] ?? ARMS.join(',')).split(',');
  const unknown = wanted.filter((a) => !(ARMS as readonly string[]).includes(a));
  if (unknown.length > 0) throw new Error(`unknown arm(s) ${unknown.join(', ')}; known: ${ARMS.join(', ')}`);
  const arms = ARMS.filter((a) => wanted.includes(a));

  pinSelf();
  const work = mkdtempSync(join(tmpdir(), 'bouncer-hop-tail-'));
  try {
    const shim = buildTlsShim(work);
    await pinEnvoy(work);
    const f = await createFixtures(join(work, 'fixtures'), { coldPoolSize: 1, coldTokens: 1, nowMs: Date.now() });
    const upstream = await startEnvoy('upstream', work, (p) => upstreamConfig(p));
    const sides: Side[] = [];
    for (const arm of arms) sides.push(await startArm(arm, work, f, upstream.port));

    const tls: TlsClient = { shim, sni: HOST, cert: f.device };
    const load = { clients: 10, streams: 16, headers: { ':authority': HOST, cookie: `${SESSION_COOKIE}=${f.token}` }, tls, warmupSec: 0, rate };
    for (const s of sides) await h2load({ ...load, url: `https://127.0.0.1:${s.envoy.port}/`, durationSec: 2 });
    const results = new Map<Arm, Turn[]>(sides.map((s) => [s.arm, []]));
    for (let t = 0; t < turns; t++) {
      for (const s of sides) {
        const authz0 = s.authzPid === undefined ? 0 : cpuSeconds(s.authzPid);
        const envoy0 = cpuSeconds(s.envoy.pid);
        const r = await h2load({ ...load, url: `https://127.0.0.1:${s.envoy.port}/`, durationSec: seconds, logFile: join(work, 'h2load.log') });
        const n = Math.max(1, r.ok + r.bad);
        results.get(s.arm)?.push({
          p50: r.p50 ?? NaN,
          p99: r.p99 ?? NaN,
          failed: r.bad,
          envoyUs: ((cpuSeconds(s.envoy.pid) - envoy0) * 1e6) / n,
          authzUs: s.authzPid === undefined ? NaN : ((cpuSeconds(s.authzPid) - authz0) * 1e6) / n,
        });
      }
    }

    const s1 = results.get('S1');
    const s1p99 = s1 ? stat(s1.map((x) => x.p99)).median : NaN;
    const rows = [...results].map(([arm, runs]) => {
      const p99 = stat(runs.map((x) => x.p99));
      const over = arm === 'S1' || Number.isNaN(s1p99) ? '–' : `+${(p99.median - s1p99).toFixed(2)}`;
      const authz = stat(runs.map((x) => x.authzUs)).median;
      const failed = runs.reduce((sum, x) => sum + x.failed, 0);
      return `| ${arm} | ${stat(runs.map((x) => x.p50)).median.toFixed(2)} | ${p99.median.toFixed(2)} (${p99.min.toFixed(2)}–${p99.max.toFixed(2)}) | ${over} | ${stat(runs.map((x) => x.envoyUs)).median.toFixed(0)} | ${Number.isNaN(authz) ? 'n/a' : authz.toFixed(0)} | ${failed} |`;
    });
    process.stdout.write(
      [`${rate}/s, ${turns} turns of ${seconds} s, medians (min–max)${pinning ? `; authz servers on CPU ${pinning.authz}, everything else on CPU ${pinning.others}` : ''}`, '', '| arm | p50 ms | p99 ms | p99 over S1 ms | Envoy CPU µs/req | authz CPU µs/req | failed |', '|---|---|---|---|---|---|---|', ...rows].join('\n') + '\n',
    );
    const anyFailed = [...results.values()].some((runs) => runs.some((x) => x.failed > 0));
    if (anyFailed) throw new Error('some requests failed: the latencies above include failures');
  } finally {
    await stopAll();
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === 'serve') serve(process.argv[3] === 'Hn2' ? 'Hn2' : 'Hn', Number(process.argv[4]));
else
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });

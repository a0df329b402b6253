/**
 * Where a Node gRPC server's latency at a fixed, moderate rate comes from.
 * Three servers answer the same small POST over plain HTTP/2:
 *
 *   end       node:http2, respond and end: the stream closes with its DATA frame
 *   trailers  node:http2, respond with waitForTrailers and send the trailers on
 *             'wantTrailers', as grpc-js does for every call (gRPC's status
 *             travels in trailers)
 *   grpc-js   the no-op ext_authz server of scenario S3
 *
 * h2load sends to each at the same rate over 10 connections; p50/p99 come from
 * its per-request log. The trailers server also reports how long after the
 * response was written 'wantTrailers' fired.
 *
 *   node dist/bench/trailers-latency.js [RATE] [SECONDS]
 */
import http2 from 'node:http2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { h2load } from './lib/load.js';
import { freePort, pinSelf, startProc, stopAll, waitFor } from './lib/processes.js';

const GRPC_OK_BODY = Buffer.from([0, 0, 0, 0, 2, 0x0a, 0]);

/** Runs one of the node:http2 servers in this process (child role). */
function serve(kind: 'end' | 'trailers', port: number): void {
  const delays: number[] = [];
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.resume();
    stream.on('end', () => {
      if (kind === 'end') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
        stream.end(GRPC_OK_BODY);
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      let written = 0n;
      stream.on('wantTrailers', () => {
        delays.push(Number(process.hrtime.bigint() - written) / 1000);
        stream.sendTrailers({ 'grpc-status': '0' });
      });
      stream.write(GRPC_OK_BODY, () => (written = process.hrtime.bigint()));
      stream.end();
    });
  });
  server.listen(port, '127.0.0.1', () => process.stdout.write('listening\n'));
  process.on('SIGTERM', () => {
    if (kind === 'end') process.exit(0);
    delays.sort((a, b) => a - b);
    const at = (q: number): string => (delays[Math.floor(q * delays.length)] ?? NaN).toFixed(0);
    process.stdout.write(`wantTrailers after write: p50 ${at(0.5)} µs p99 ${at(0.99)} µs\n`);
    process.exit(0);
  });
}

async function main(): Promise<void> {
  pinSelf();
  const rate = Number(process.argv[2] ?? 1000);
  const seconds = Number(process.argv[3] ?? 5);
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-trailers-'));
  const body = join(dir, 'body.grpc');
  writeFileSync(body, GRPC_OK_BODY);
  const self = fileURLToPath(import.meta.url);
  const noop = fileURLToPath(new URL('./noop-authz.js', import.meta.url));
  const rows: string[] = [];
  try {
    for (const kind of ['end', 'trailers', 'grpc-js'] as const) {
      const port = await freePort();
      const proc = kind === 'grpc-js' ? startProc(kind, process.execPath, [noop, String(port)], process.env, { authz: true }) : startProc(kind, process.execPath, [self, 'serve', kind, String(port)], process.env, { authz: true });
      await waitFor(`${kind} server`, async () => proc.output().includes('listening'));
      const o = { url: `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`, clients: 10, streams: 16, dataFile: body, headers: { 'content-type': 'application/grpc', te: 'trailers' }, warmupSec: 0, rate };
      await h2load({ ...o, durationSec: 1 });
      const r = await h2load({ ...o, durationSec: seconds, logFile: join(dir, 'h2load.log') });
      await proc.stop();
      const extra = /wantTrailers after write: .*/.exec(proc.output())?.[0] ?? '';
      rows.push(`| ${kind} | ${r.rps.toFixed(0)} | ${r.p50?.toFixed(2)} | ${r.p99?.toFixed(2)} | ${extra} |`);
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(['| server | req/s | p50 ms | p99 ms | |', '|---|---|---|---|---|', ...rows].join('\n') + '\n');
}

if (process.argv[2] === 'serve') serve(process.argv[3] as 'end' | 'trailers', Number(process.argv[4]));
else
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });

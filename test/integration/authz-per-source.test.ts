/**
 * One hostile source against a running bouncer: 127.0.0.2 (in a deployment,
 * a compromised pod) opens far more connections to the ext_authz port than
 * `authz.limits.max_connections_per_source`, finishes their HTTP/2 handshake
 * so they are held, and keeps reconnecting as fast as it is refused, while a
 * prober in a process of its own on 127.0.0.1 sends an allowed check, a
 * denied check and a health check every 50 ms. Every probe must be answered
 * right; the refusals show in bouncer_authz_connections_dropped_total
 * {reason="per_source"} and in a handful of log lines, not one per refusal;
 * and once the hostile connections close, 127.0.0.2 is served again.
 *
 * Separate from authz-abuse.test.ts, which measures memory under every
 * other abuse and needs a port without this limit tripping.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { healthCheckFrom } from '../helpers/grpc-client.js';
import { startProberProcess } from '../helpers/prober-process.js';
import { freePort, waitFor } from '../helpers/ports.js';

const PER_SOURCE = 40;
/** Held connections the hostile source tries for at once: ten times its limit. */
const HOSTILE = 400;
const PROBE_LIMIT_MS = 1000;
/** The HTTP/2 client preface and an empty SETTINGS frame: enough for the server to take the connection as a client's. */
const HANDSHAKE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

let dir: string;
let bouncer: BouncerProcess;
let authzPort: number;
let httpPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-per-source-'));
  authzPort = await freePort();
  httpPort = await freePort();
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    [
      'listen:',
      `  authz: 127.0.0.1:${authzPort}`,
      `  http: 127.0.0.1:${httpPort}`,
      'authz:',
      '  limits:',
      `    max_connections_per_source: ${PER_SOURCE}`,
      'tenants:',
      '  - name: open',
      '    hostnames: [app.open.test]',
      '    mtls: { mode: "off" }',
      '',
    ].join('\n'),
  );
  bouncer = await startBouncerProcess({ configPath: join(dir, 'bouncer.yaml'), env: { BOUNCER_LOG_LEVEL: 'warn' }, readyUrl: `http://127.0.0.1:${httpPort}/readyz` });
});

afterAll(async () => {
  await bouncer?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

const PER_SOURCE_DROPPED = 'bouncer_authz_connections_dropped_total{reason="per_source"}';

/** A connection from 127.0.0.2 that completes the HTTP/2 handshake and then stays silent; resolves once connected or refused. */
function hostileConnection(): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port: authzPort, localAddress: '127.0.0.2' });
    socket.on('error', () => undefined);
    socket.on('data', () => undefined);
    socket.once('connect', () => {
      socket.write(HANDSHAKE);
      resolve(socket);
    });
    // A reset that comes with the handshake's completion is reported as a failed connect.
    socket.once('close', () => resolve(socket));
  });
}

const isClosed = (s: net.Socket): boolean => s.destroyed || s.readableEnded;

/** CPU seconds `pid` has used (user and system), from /proc/<pid>/stat at 100 ticks a second: a figure printed, not asserted. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test('a source over max_connections_per_source is refused at accept while another is served throughout, and is served again once its connections close', async () => {
  const prober = await startProberProcess(authzPort, 50, PROBE_LIMIT_MS);
  const hostile: net.Socket[] = [];
  try {
    const droppedBefore = await metric(PER_SOURCE_DROPPED);
    for (let i = 0; i < HOSTILE; i++) hostile.push(await hostileConnection());
    await waitFor('every connection past the limit refused', async () => hostile.filter(isClosed).length >= HOSTILE - PER_SOURCE, 20_000);
    // Held: the limit's worth, past the 3 s handshake limit (they did their handshake).
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(hostile.filter((s) => !isClosed(s))).toHaveLength(PER_SOURCE);
    expect(await metric(PER_SOURCE_DROPPED)).toBe(droppedBefore + HOSTILE - PER_SOURCE);
    // 127.0.0.2 only: the prober's 127.0.0.1 is trusted by default and not counted.
    expect(await metric('bouncer_authz_connection_sources')).toBe(1);

    // Keep knocking for three seconds, each refused connection replaced at once.
    const churnUntil = Date.now() + 3000;
    const cpuBefore = cpuSeconds(bouncer.child.pid as number);
    let churned = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() < churnUntil) {
          const s = await hostileConnection();
          hostile.push(s);
          churned++;
          // Refused at once; should one be let in, the wait ends anyway and the count below shows it.
          await new Promise<void>((resolve) => {
            if (isClosed(s)) return resolve();
            const timer = setTimeout(resolve, 2000);
            s.once('close', () => {
              clearTimeout(timer);
              resolve();
            });
          });
        }
      }),
    );
    await waitFor('the churn counted', async () => (await metric(PER_SOURCE_DROPPED)) === droppedBefore + HOSTILE - PER_SOURCE + churned, 10_000);
    expect(hostile.filter((s) => !isClosed(s))).toHaveLength(PER_SOURCE);
    const churnCpu = cpuSeconds(bouncer.child.pid as number) - cpuBefore;

    // Its held connections go: the source is forgotten, and served again.
    for (const s of hostile) s.destroy();
    await waitFor('127.0.0.2 forgotten', async () => (await metric('bouncer_authz_connection_sources')) === 0, 10_000);
    for (let i = 0; i < 3; i++) expect(await healthCheckFrom(authzPort, '127.0.0.2')).toBe(0);

    const summary = await prober.stop();
    const refusedLines = bouncer
      .output()
      .split('\n')
      .filter((l) => l.includes('refused at accept'));
    process.stdout.write(`per-source: ${HOSTILE - PER_SOURCE + churned} connections of 127.0.0.2 refused (${churned} while churning, bouncer CPU ${((churnCpu / churned) * 1e6).toFixed(0)} µs each with the prober's load), ${refusedLines.length} log lines; ${summary.rounds} probe rounds, slowest ${Math.max(...summary.latenciesMs).toFixed(0)} ms\n`);
    expect(summary.wrong).toEqual([]);
    expect(summary.rounds).toBeGreaterThan(50);
    expect(churned).toBeGreaterThan(0);
    // One line at the first refusal, then at most one summary per 10 s: never one per refusal.
    expect(refusedLines.length).toBeGreaterThanOrEqual(1);
    expect(refusedLines.length).toBeLessThanOrEqual(3);
    expect(refusedLines[0]).toContain('"source":"127.0.0.2"');
  } finally {
    for (const s of hostile) s.destroy();
    prober.kill();
  }
}, 120_000);

/**
 * Abuse of the ext_authz port and a prober that watches what legitimate
 * clients see meanwhile. Used by test/integration/authz-abuse.test.ts and by
 * the bench's soak (bench/soak.ts), against a bouncer process started with
 * tenant `app.open.test` (mTLS off) in its config.
 */
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { authzClient, checkRequest, rawUnaryClient } from './grpc-client.js';
import { FrameType, grpcHeaders, grpcPrefix, HostileH2 } from './hostile-h2.js';

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/** Resident memory and open descriptors of a process, from /proc. */
export function processFootprint(pid: number): { rssBytes: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { rssBytes: rssKb * 1024, fds: readdirSync(`/proc/${pid}/fd`).length };
}

export interface ProbeSummary {
  readonly rounds: number;
  /** Every answer that was wrong or later than the limit, described. */
  readonly wrong: readonly string[];
  /** Latency of every probe call, in ms. */
  readonly latenciesMs: readonly number[];
}

/**
 * Every `everyMs`: an allowed check, a denied check and a health check, each
 * of which must come back right within `limitMs`.
 */
export function startProber(port: number, everyMs = 50, limitMs = 1000, onLatency?: (ms: number) => void): { stop(): Promise<ProbeSummary> } {
  const checks = authzClient(port);
  const health = rawUnaryClient(port, '/grpc.health.v1.Health/Check');
  const wrong: string[] = [];
  const latenciesMs: number[] = [];
  let rounds = 0;
  const inFlight = new Set<Promise<void>>();
  const timed = (what: string, work: () => Promise<string | undefined>): void => {
    const started = performance.now();
    const p = Promise.race([work(), new Promise<string>((resolve) => setTimeout(() => resolve(`no answer within ${limitMs} ms`), limitMs + 200).unref())])
      .catch((err: unknown) => `failed: ${err instanceof Error ? err.message : String(err)}`)
      .then((problem) => {
        const ms = performance.now() - started;
        latenciesMs.push(ms);
        onLatency?.(ms);
        if (problem !== undefined) wrong.push(`${what}: ${problem}`);
        else if (ms > limitMs) wrong.push(`${what}: answered after ${Math.round(ms)} ms`);
      });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };
  const tick = (): void => {
    rounds++;
    timed('allowed check', async () => {
      const r = await checks.check(checkRequest('app.open.test'));
      return r.status.code === 0 ? undefined : `status ${r.status.code}`;
    });
    timed('denied check', async () => {
      const r = await checks.check(checkRequest('unknown.test'));
      return r.status.code === 7 ? undefined : `status ${r.status.code}`;
    });
    timed('health check', () =>
      new Promise<string | undefined>((resolve) =>
        health.call(Buffer.alloc(0), { deadline: Date.now() + limitMs }, (err, r) => resolve(err ? `error ${err.code} ${err.details}` : r?.equals(Buffer.from([8, 1])) ? undefined : `status ${r?.toString('hex') ?? 'none'}`)),
      ),
    );
  };
  const timer = setInterval(tick, everyMs);
  tick();
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all([...inFlight]);
      checks.close();
      health.close();
      return { rounds, wrong, latenciesMs };
    },
  };
}

/** Streams whose prefix declares far more than the limit, trickling one byte a frame after it. */
export async function declareHuge(port: number, streams: number): Promise<HostileH2> {
  const c = await HostileH2.connect(port);
  await Promise.all(
    Array.from({ length: streams }, async (_v, i) => {
      const id = c.startCall(CHECK_PATH);
      await c.data(id, grpcPrefix(i % 2 === 0 ? 16 * 1024 * 1024 : 0xffffffff));
      for (let k = 0; k < 50 && c.isOpen && !c.ended.has(id) && !c.resets.has(id); k++) await c.data(id, Buffer.alloc(1));
    }),
  );
  return c;
}

/** Streams declaring just under the 1 MiB limit that send `bytesEach` of it and never finish. */
export async function parkStreams(port: number, streams: number, bytesEach = 256 * 1024): Promise<HostileH2> {
  const c = await HostileH2.connect(port);
  const body = Buffer.alloc(bytesEach, 0x61);
  await Promise.all(
    Array.from({ length: streams }, async () => {
      const id = c.startCall(CHECK_PATH);
      await c.data(id, Buffer.concat([grpcPrefix(1024 * 1024 - 16), body]));
    }),
  );
  return c;
}

/** Unfinished streams to relayed methods (health Watch, reflection) on one connection. */
export async function floodRelay(port: number, streams: number): Promise<HostileH2> {
  const c = await HostileH2.connect(port);
  for (let i = 0; i < streams; i++) {
    const id = c.startCall(i % 2 === 0 ? '/grpc.health.v1.Health/Watch' : '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo');
    await c.data(id, grpcPrefix(0));
  }
  return c;
}

/** Connections that each commit a protocol error (DATA inside a header block), then close their side. */
export async function protocolErrors(port: number, connections: number): Promise<HostileH2[]> {
  const out: HostileH2[] = [];
  for (let i = 0; i < connections; i++) {
    const c = await HostileH2.connect(port);
    const id = c.newStreamId();
    const block = grpcHeaders(CHECK_PATH);
    c.headers(id, block.subarray(0, 5), 0);
    c.frame(FrameType.DATA, 0, id, Buffer.alloc(3));
    c.end();
    out.push(c);
  }
  return out;
}

/** A raw TCP connection that stays open and sends `bytes` (or nothing): a client that never finishes the HTTP/2 handshake. */
function rawConnection(port: number, bytes: Buffer): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => undefined);
      s.resume();
      if (bytes.length > 0) s.write(bytes);
      resolve(s);
    });
  });
}

/**
 * Connections that stop short: a third send nothing after the TCP
 * handshake, a third half the HTTP/2 preface, a third finish the handshake
 * and then stop reading, so the server's pings go unanswered.
 */
export async function brokenConnections(port: number, connections: number): Promise<Array<HostileH2 | net.Socket>> {
  const out: Array<HostileH2 | net.Socket> = [];
  for (let i = 0; i < connections; i++) {
    if (i % 3 === 0) out.push(await rawConnection(port, Buffer.alloc(0)));
    else if (i % 3 === 1) out.push(await rawConnection(port, Buffer.from('PRI * HTTP/2.0\r\n')));
    else {
      const c = await HostileH2.connect(port);
      c.socket.pause();
      out.push(c);
    }
  }
  return out;
}

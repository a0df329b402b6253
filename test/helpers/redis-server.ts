import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from './ports.js';

/**
 * A private `redis-server` for one test file, on an ephemeral loopback port,
 * without persistence, so tests never touch the machine's shared Redis on
 * 6379 and a stop really loses the data (like a restart of a cache-only
 * Redis in production).
 */
export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** Kill the server (SIGKILL: no goodbye to clients, like a crash or a partition). */
  stop(): Promise<void>;
  /** Start it again on the same port, empty. */
  start(): Promise<void>;
  /** SIGSTOP: sockets stay open but nothing answers (a hung server or a black-holed network). */
  pause(): void;
  /** SIGCONT after {@link pause}. */
  resume(): void;
  /** Stop for good; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Start a private Redis. Always `close()` it in `afterAll`.
 *
 * @example
 * ```ts
 * let redis: PrivateRedis;
 * beforeAll(async () => { redis = await startPrivateRedis(); });
 * afterAll(() => redis.close());
 * ```
 */
export async function startPrivateRedis(bin = process.env.REDIS_SERVER_BIN ?? 'redis-server'): Promise<PrivateRedis> {
  const port = await freePort();
  let child: ChildProcess | undefined;

  const onExit = (): void => {
    child?.kill('SIGKILL');
  };
  // A crashed jest worker must not leave servers behind.
  process.once('exit', onExit);

  async function start(): Promise<void> {
    if (child) throw new Error('private redis already running');
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'];
    const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    let output = '';
    proc.stdout?.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr?.on('data', (b: Buffer) => (output += b.toString()));
    // Ready means answering PING, not merely listening: clients connect right after.
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, signal) => reject(new Error(`redis-server exited (${code ?? signal}): ${output}`)));
    });
    exited.catch(() => undefined);
    await Promise.race([waitForPing(port, 10_000, () => proc.exitCode !== null || proc.signalCode !== null), exited]);
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    child = undefined;
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGKILL');
    await exited;
  }

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    async close() {
      await stop();
      process.removeListener('exit', onExit);
    },
  };
}

/** Resolves once a raw `PING` on `port` is answered `+PONG`. */
async function waitForPing(port: number, timeoutMs: number, gone: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port });
      let reply = '';
      sock.setTimeout(500, () => sock.destroy());
      sock.on('connect', () => sock.write('PING\r\n'));
      sock.on('data', (b) => {
        reply += b.toString();
        if (reply.includes('\r\n')) {
          sock.destroy();
          resolve(reply.startsWith('+PONG'));
        }
      });
      sock.on('error', () => resolve(false));
      sock.on('close', () => resolve(false));
    });
    if (ok || gone()) return;
    if (Date.now() > deadline) throw new Error(`redis on ${port} did not answer PING`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

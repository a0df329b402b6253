/**
 * `bouncer serve --workers N`: N bouncer processes on one host, one per core.
 *
 * Each worker is an ordinary `bouncer serve` (same config file, its own config
 * watcher, SIGHUP reload and SIGTERM drain) listening on its own ports: worker
 * i takes the configured authz and HTTP ports plus i. Envoy lists the N authz
 * endpoints in its `bouncer_authz` cluster (`bouncer envoy render
 * --authz-workers N`) and round-robins checks across them, health-checking
 * each. Own ports rather than one port shared through node:cluster, because
 * Envoy keeps a single HTTP/2 connection per endpoint (per Envoy worker
 * thread): on a shared port that one connection, and so every check, would
 * land on one process. Node 20 has no SO_REUSEPORT either.
 *
 * The supervisor forwards SIGTERM/SIGINT (graceful stop) and SIGHUP (reload)
 * to every worker, restarts a worker that dies unexpectedly, and exits once
 * all workers have stopped: 0 when every one stopped cleanly.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { CONFIG_ENV } from '../config/defaults.js';
import type { BouncerConfig } from '../config/types.js';
import { BouncerError } from '../core/errors.js';

/** Set in a worker's environment: `index/count`. */
export const WORKER_ENV = 'BOUNCER_WORKER';

/** Most restarts of crashed workers within {@link RESTART_WINDOW_MS} before the supervisor gives up. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;
const RESTART_DELAY_MS = 1000;

/** Longest a worker may take to start listening. */
const START_TIMEOUT_MS = 60_000;

/** What a worker tells its supervisor once it listens. */
interface ReadyMessage {
  readonly type: 'bouncer-worker-ready';
  readonly authzPort: number;
  readonly httpPort: number;
}

function isReady(m: unknown): m is ReadyMessage {
  return typeof m === 'object' && m !== null && (m as { type?: unknown }).type === 'bouncer-worker-ready';
}

/**
 * Refuses configurations a multi-process bouncer would get wrong. Session
 * revocations, single-use login handoffs and login transactions are kept in
 * each process's memory by default, and signing keys are generated per
 * process unless kept on disk, so N workers would not see each other's
 * sign-outs or used handoffs, or accept each other's sessions. With an `auth`
 * section, more than one worker therefore needs `store.redis` (shared state)
 * and `auth.session.keys_dir` (shared keys).
 */
export function checkWorkersAllowed(config: BouncerConfig, count: number): void {
  if (!Number.isInteger(count) || count < 1 || count > 256) {
    throw new BouncerError('ERR_CLI_USAGE', `--workers must be a whole number from 1 to 256, got ${String(count)}`);
  }
  if (count > 1 && config.auth !== undefined && (config.store.redis === undefined || config.auth.keysDir === undefined)) {
    throw new BouncerError(
      'ERR_CLI_USAGE',
      '--workers above 1 with an auth section needs store.redis and auth.session.keys_dir: without them session revocations, single-use handoffs, login state and signing keys would live in each process, so the workers would not share them',
    );
  }
  if (count > 1 && config.hostnames?.acme?.challenges.includes('tls-alpn-01')) {
    throw new BouncerError(
      'ERR_CLI_USAGE',
      `--workers above 1 with tls-alpn-01 in hostnames.acme.challenges: its responder has one address (hostnames.acme.tls_alpn_listen, Envoy's bouncer_acme_tls cluster), which ${count} workers cannot all bind; run one worker, or answer http-01 only`,
    );
  }
  for (const [name, addr] of [
    ['authz', config.listen.authz],
    ['http', config.listen.http],
    ...(config.admin ? ([['admin', config.admin.listen]] as const) : []),
  ] as const) {
    if (addr.port !== 0 && addr.port + count - 1 > 65535) {
      throw new BouncerError('ERR_CLI_USAGE', `listen.${name} port ${addr.port} + ${count - 1} workers runs past 65535`);
    }
  }
  // Worker i takes each configured port + i: two listeners whose ranges meet would
  // have one worker bind a port another worker already holds (EADDRINUSE at start).
  const ranges = [
    ['authz', config.listen.authz.port],
    ['http', config.listen.http.port],
    ...(config.admin ? ([['admin', config.admin.listen.port]] as const) : []),
  ].filter(([, port]) => port !== 0) as Array<readonly [string, number]>;
  for (const [i, [a, pa]] of ranges.entries()) {
    for (const [b, pb] of ranges.slice(i + 1)) {
      if (count > 1 && Math.abs(pa - pb) < count) {
        throw new BouncerError(
          'ERR_CLI_USAGE',
          `with --workers ${count}, worker i listens on each configured port + i, so listen.${a} (${pa}) and listen.${b} (${pb}) must be at least ${count} apart`,
        );
      }
    }
  }
}

/** host:port, bracketing IPv6 literals. */
function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The listen addresses of worker `index`: the configured ports plus the index (port 0 stays 0: any free port). */
export function workerAddresses(config: BouncerConfig, index: number): { authz: string; http: string; admin: string | undefined } {
  const shift = (port: number): number => (port === 0 ? 0 : port + index);
  return {
    authz: hostPort(config.listen.authz.host, shift(config.listen.authz.port)),
    http: hostPort(config.listen.http.host, shift(config.listen.http.port)),
    // Each worker has its own admin API (and decision log) on the next port.
    admin: config.admin ? hostPort(config.admin.listen.host, shift(config.admin.listen.port)) : undefined,
  };
}

/**
 * Called by `serve` in every process. In a worker it reports the bound ports to
 * the supervisor and stops gracefully if the supervisor goes away (so a killed
 * supervisor never leaves orphans serving); elsewhere it does nothing.
 */
export function attachToSupervisor(ports: { authzPort: number; httpPort: number }, stop: (reason: string) => void): void {
  if (process.env[WORKER_ENV] === undefined || typeof process.send !== 'function') return;
  const ready: ReadyMessage = { type: 'bouncer-worker-ready', ...ports };
  process.send(ready);
  process.once('disconnect', () => stop('supervisor gone'));
}

export interface SupervisorOptions {
  readonly config: BouncerConfig;
  readonly configPath: string;
  readonly count: number;
  /** Seconds each worker waits for in-flight checks on SIGTERM. */
  readonly graceSec: number;
  readonly logger: Logger;
}

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  ports: { authzPort: number; httpPort: number } | undefined;
  exitCode: number | null;
}

/**
 * Starts `count` workers and supervises them until a stop signal; resolves to
 * the exit code the supervisor should end with.
 */
export function runWorkers(o: SupervisorOptions): Promise<number> {
  checkWorkersAllowed(o.config, o.count);
  const bin = fileURLToPath(new URL('./bin.js', import.meta.url));
  const slots: Slot[] = Array.from({ length: o.count }, (_, index) => ({ index, child: undefined, ports: undefined, exitCode: null }));
  const restarts: number[] = [];
  let stopping = false;
  let started = false;

  return new Promise<number>((resolve) => {
    const finishIfDone = (): void => {
      if (!stopping || slots.some((s) => s.child !== undefined)) return;
      const clean = slots.every((s) => s.exitCode === 0);
      o.logger.info({ workers: o.count, clean }, 'all workers stopped');
      resolve(clean ? 0 : 1);
    };

    const stopAll = (signal: NodeJS.Signals, why: string): void => {
      if (stopping) return;
      stopping = true;
      o.logger.info({ signal, why }, 'stopping workers: each reports NOT_SERVING and drains in-flight checks');
      for (const s of slots) s.child?.kill(signal);
      finishIfDone();
    };

    const spawnWorker = (slot: Slot): void => {
      const addr = workerAddresses(o.config, slot.index);
      const child = fork(bin, ['serve', '--config', o.configPath, '--grace', String(o.graceSec)], {
        env: {
          ...process.env,
          [CONFIG_ENV.listenAuthz]: addr.authz,
          [CONFIG_ENV.listenHttp]: addr.http,
          ...(addr.admin !== undefined ? { [CONFIG_ENV.listenAdmin]: addr.admin } : {}),
          [WORKER_ENV]: `${slot.index}/${o.count}`,
        },
        execArgv: process.execArgv,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      slot.child = child;
      slot.ports = undefined;
      child.on('message', (m: unknown) => {
        if (!isReady(m)) return;
        slot.ports = { authzPort: m.authzPort, httpPort: m.httpPort };
        if (!started && slots.every((s) => s.ports !== undefined)) {
          started = true;
          o.logger.info({ workers: slots.map((s) => ({ worker: s.index, pid: s.child?.pid, ...s.ports })) }, 'workers listening');
        }
      });
      child.once('exit', (code, signal) => {
        slot.child = undefined;
        slot.exitCode = code;
        if (stopping) {
          finishIfDone();
          return;
        }
        o.logger.error({ worker: slot.index, code, signal }, 'worker exited unexpectedly');
        const now = Date.now();
        while (restarts.length > 0 && (restarts[0] as number) < now - RESTART_WINDOW_MS) restarts.shift();
        // A worker that never came up (bad port, bad config) will not do better on a retry.
        if (!started || restarts.length >= MAX_RESTARTS) {
          stopAll('SIGTERM', started ? 'workers keep crashing' : 'a worker failed to start');
          return;
        }
        restarts.push(now);
        setTimeout(() => {
          if (!stopping) spawnWorker(slot);
        }, RESTART_DELAY_MS).unref();
      });
    };

    process.on('SIGTERM', () => stopAll('SIGTERM', 'SIGTERM'));
    process.on('SIGINT', () => stopAll('SIGTERM', 'SIGINT'));
    process.on('SIGHUP', () => {
      o.logger.info('SIGHUP: every worker reloads its config');
      for (const s of slots) s.child?.kill('SIGHUP');
    });
    const timer = setTimeout(() => {
      if (!started) stopAll('SIGTERM', `workers did not all start within ${START_TIMEOUT_MS / 1000} s`);
    }, START_TIMEOUT_MS);
    timer.unref();
    for (const s of slots) spawnWorker(s);
  });
}

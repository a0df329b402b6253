import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureEnvoy } from '../../src/envoy/locate.js';
import { renderEnvoyYaml, type EnvoyRenderOptions } from '../../src/envoy/render.js';
import { freePort, waitFor } from './ports.js';

export interface RunningEnvoy {
  port: number;
  adminPort: number;
  configPath: string;
  logs(): string;
  /** Reads one counter or gauge from Envoy's admin /stats. */
  stat(name: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

let envoyBin: Promise<string> | undefined;

/** The pinned Envoy, installed on first use by the project's script; fails (never skips) when it cannot be had. */
export function envoyBinary(): Promise<string> {
  envoyBin ??= ensureEnvoy();
  return envoyBin;
}

/** Starts a real Envoy with bouncer's rendered config and waits until its listener is up. */
export async function startEnvoy(
  dir: string,
  opts: Pick<EnvoyRenderOptions, 'authzPort' | 'upstreamPort' | 'serverCertPath' | 'serverKeyPath'> & Partial<EnvoyRenderOptions>,
): Promise<RunningEnvoy> {
  const bin = await envoyBinary();
  const port = opts.listenPort ?? (await freePort());
  const adminPort = await freePort();
  const configPath = join(dir, `envoy-${port}.yaml`);
  writeFileSync(
    configPath,
    renderEnvoyYaml({
      listenHost: '127.0.0.1',
      adminHost: '127.0.0.1',
      authzHost: '127.0.0.1',
      upstreamHost: '127.0.0.1',
      // Not the production 500 ms: a check budget in a test is a timing assertion, and a
      // loaded two-core CI host can stall a process longer than that (seen as a stray 503).
      authzTimeoutMs: 5_000,
      ...opts,
      listenPort: port,
      adminPort,
    }),
  );
  return runEnvoy(bin, configPath, port, adminPort);
}

/**
 * Starts a real Envoy on a config written elsewhere (a control plane's
 * reconstructed output, say) whose tenant listener is `port` and admin `adminPort`.
 */
export async function startEnvoyWithConfig(configPath: string, port: number, adminPort: number): Promise<RunningEnvoy> {
  return runEnvoy(await envoyBinary(), configPath, port, adminPort);
}

async function runEnvoy(bin: string, configPath: string, port: number, adminPort: number): Promise<RunningEnvoy> {
  let output = '';
  const child: ChildProcess = spawn(
    bin,
    ['-c', configPath, '--base-id', String(port), '--log-level', process.env.ENVOY_LOG_LEVEL ?? 'warn', '--concurrency', '1', '--disable-hot-restart'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const running = envoyProcess(child, adminPort, () => output);
  await waitFor(
    'Envoy to become ready',
    async () => {
      if (running.exited()) throw new Error(`envoy exited:\n${output}`);
      const body = await running.admin('/ready');
      return body.trim() === 'LIVE';
    },
    20_000,
  );
  return { port, adminPort, configPath, logs: running.logs, stat: running.stat, stop: running.stop };
}

/** What the tests do with a spawned Envoy whose admin listens on `adminPort`: admin calls, one stat, its output, stop. */
export function envoyProcess(child: ChildProcess, adminPort: number, output: () => string) {
  let exited = false;
  child.once('exit', () => (exited = true));
  const admin = async (path: string): Promise<string> => (await fetch(`http://127.0.0.1:${adminPort}${path}`)).text();
  return {
    adminPort,
    admin,
    logs: output,
    exited: () => exited,
    /** One counter or gauge from admin /stats. */
    async stat(name: string): Promise<number | undefined> {
      const text = await admin(`/stats?filter=^${name.replace(/\./g, '\\.')}$`);
      const m = /:\s*(\d+)/.exec(text);
      return m ? Number(m[1]) : undefined;
    },
    stop: (): Promise<void> =>
      new Promise<void>((resolve) => {
        if (exited) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      }),
  };
}

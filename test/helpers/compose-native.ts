/**
 * Runs the services of src/load/topology.ts as local processes, the way
 * docker compose runs them from docker-compose.yml: in depends_on order,
 * each long-running service waited for with its own healthcheck command,
 * each one-shot job waited for until it exits. Container paths (volume
 * targets) become folders of the test's own; the image's `node` is this Node
 * and its relative paths are this checkout's; `envoy` is ENVOY_BIN. Servers
 * the test harness provides (PostgreSQL, Redis) are skipped.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BOUNCER_IMAGE, IMAGE_ENTRYPOINT, type LoadService } from '../../src/load/topology.js';
import { packageRoot } from '../../src/paths.js';
import { envoyBinary } from './envoy.js';
import { waitFor } from './ports.js';

/** Output kept per process: the replicas log a decision line per request, and only the end is of use. */
const OUTPUT_TAIL = 256 * 1024;
const START_TIMEOUT_MS = 90_000;

export interface NativeService {
  readonly name: string;
  readonly child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

export interface NativeTopology {
  readonly services: ReadonlyMap<string, NativeService>;
  /** Exit codes of the one-shot jobs, by service name. */
  readonly completed: ReadonlyMap<string, number | null>;
  stop(): Promise<void>;
}

/** `volume:/target[:ro]` → [volume, target]. */
function mountOf(spec: string): [string, string] {
  const [volume = '', target = ''] = spec.split(':');
  return [volume, target];
}

export async function startNative(services: readonly LoadService[], o: { volumes: Readonly<Record<string, string>>; envoyBaseId: number }): Promise<NativeTopology> {
  const root = packageRoot();
  const envoyBin = await envoyBinary();
  const running = new Map<string, NativeService>();
  const completed = new Map<string, number | null>();
  const seen = new Set<string>();

  const stop = async (): Promise<void> => {
    await Promise.all(
      [...running.values()].reverse().map(async (s) => {
        if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGTERM');
        const timer = setTimeout(() => s.child.kill('SIGKILL'), 5_000);
        await s.exited;
        clearTimeout(timer);
      }),
    );
  };

  try {
    for (const svc of services) {
      for (const dep of Object.keys(svc.depends_on)) if (!seen.has(dep)) throw new Error(`${svc.name} depends on ${dep}, which does not come before it`);
      seen.add(svc.name);
      if (svc.native === 'harness') continue;

      const mounts = svc.volumes.map(mountOf).map(([volume, target]) => {
        const dir = o.volumes[volume];
        if (dir === undefined) throw new Error(`${svc.name} mounts volume ${volume}, which the test did not provide`);
        mkdirSync(dir, { recursive: true });
        return [target, dir] as const;
      });
      const local = (value: string): string => {
        for (const [target, dir] of mounts) if (value === target || value.startsWith(`${target}/`)) return dir + value.slice(target.length);
        return value;
      };
      const program = (argv: readonly string[]): [string, string[]] => {
        const [cmd = '', ...rest] = argv.map(local);
        if (cmd === 'node') return [process.execPath, rest.map((a, i) => (i === 0 && !a.startsWith('-') ? join(root, a) : a))];
        if (cmd === 'envoy') return [envoyBin, [...rest, '--base-id', String(o.envoyBaseId), '--disable-hot-restart', '--concurrency', '1', '--log-level', 'warn']];
        return [cmd, rest];
      };
      const env = { ...process.env, ...Object.fromEntries(Object.entries(svc.environment).map(([k, v]) => [k, local(v)])) };
      const argv = [...(svc.entrypoint ?? (svc.image === BOUNCER_IMAGE ? IMAGE_ENTRYPOINT : [])), ...svc.command];
      const [bin, args] = program(argv);
      const child = spawn(bin, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const keep = (d: Buffer): void => {
        out += d.toString();
        if (out.length > 2 * OUTPUT_TAIL) out = out.slice(-OUTPUT_TAIL);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      const native: NativeService = { name: svc.name, child, output: () => out, exited };
      running.set(svc.name, native);

      if (svc.restart === 'no') {
        const code = await exited;
        completed.set(svc.name, code);
        if (code !== 0 && services.some((s) => s.depends_on[svc.name]?.condition === 'service_completed_successfully')) {
          throw new Error(`${svc.name} exited with ${String(code)}:\n${out}`);
        }
        continue;
      }
      const check = svc.healthcheck;
      if (!check || check.test[0] !== 'CMD') throw new Error(`${svc.name} runs until stopped but has no CMD healthcheck`);
      const [hcBin, hcArgs] = program(check.test.slice(1));
      const died = exited.then((code) => {
        throw new Error(`${svc.name} exited with ${String(code)} before it was healthy:\n${out}`);
      });
      const healthy = waitFor(
        `${svc.name}'s healthcheck`,
        () => new Promise<boolean>((resolve) => execFile(hcBin, hcArgs, { env, cwd: root, timeout: 3_000 }, (err) => resolve(err === null))),
        START_TIMEOUT_MS,
        250,
      );
      died.catch(() => undefined);
      await Promise.race([healthy, died]);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { services: running, completed, stop };
}

/**
 * Child processes for the benchmark (Envoy, bouncer, the no-op authz server) and
 * their CPU time, read from /proc/<pid>/stat (utime + stime, all threads).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Clock ticks per second for /proc/<pid>/stat (USER_HZ; 100 on every Linux we run on). */
export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  output(): string;
  /** Resolves once the process has exited (after SIGTERM, SIGKILL 5 s later). */
  stop(): Promise<void>;
}

const live = new Set<Proc>();

/** Stops every child still running (on failure or interrupt nothing is left behind). */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop()));
}

/**
 * Optional core pinning (`BENCH_AUTHZ_CPUS`, a taskset list such as `1`): the
 * authz server of each scenario (bouncer, the no-ops) gets those CPUs to
 * itself, and this process, the load generators and the Envoys, which inherit
 * its affinity, run on the others. It measures what the ext_authz hop costs
 * when bouncer does not compete with the load generator for a core, as on a
 * host where bouncer runs beside Envoy with a core of its own.
 */
export interface Pinning {
  readonly authz: string;
  readonly others: string;
}

/** Parses a taskset CPU list ("1", "2-3", "1,3") into CPU numbers; throws on anything else. */
export function parseCpuList(list: string, online: number): number[] {
  const cpus = new Set<number>();
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new Error(`BENCH_AUTHZ_CPUS: "${part}" is not a CPU number or range (e.g. 1, 2-3)`);
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from) throw new Error(`BENCH_AUTHZ_CPUS: range ${part} runs backwards`);
    for (let c = from; c <= to; c++) {
      if (c >= online) throw new Error(`BENCH_AUTHZ_CPUS: CPU ${c} is not online (this machine has CPUs 0-${online - 1})`);
      cpus.add(c);
    }
  }
  return [...cpus].sort((a, b) => a - b);
}

/** The pinning `BENCH_AUTHZ_CPUS` asks for, or undefined; at least one CPU must be left for the rest. */
export function pinningFrom(value: string | undefined, online = availableParallelism()): Pinning | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const authz = parseCpuList(value, online);
  const others = Array.from({ length: online }, (_, c) => c).filter((c) => !authz.includes(c));
  if (others.length === 0) throw new Error(`BENCH_AUTHZ_CPUS: ${value} leaves no CPU for the load generator and Envoy`);
  return { authz: authz.join(','), others: others.join(',') };
}

export const pinning = pinningFrom(process.env['BENCH_AUTHZ_CPUS']);

/**
 * Moves this process (every thread) to the non-authz CPUs, so that the load
 * generators and Envoys it starts inherit them. Call once, first thing.
 */
export function pinSelf(): void {
  if (pinning) execFileSync('taskset', ['-a', '-c', '-p', pinning.others, String(process.pid)], { stdio: 'ignore' });
}

/** Spawns a long-running child; its stdout/stderr are kept (last 64 KiB) for error messages. */
export function startProc(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, o: { discardStdout?: boolean; authz?: boolean } = {}): Proc {
  // An authz server starts under taskset, so its threads and any workers it forks keep its CPUs;
  // taskset execs the command, so the pid is the server's.
  const [file, argv] = o.authz === true && pinning ? ['taskset', ['-c', pinning.authz, cmd, ...args]] : [cmd, args];
  // Discarded stdout goes straight to /dev/null: a pipe would make this process pay for reading it.
  const child = spawn(file, argv, { stdio: ['ignore', o.discardStdout ? 'ignore' : 'pipe', 'pipe'], env });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${cmd}`);
  let out = '';
  const keep = (d: Buffer): void => {
    out += d.toString();
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const done = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), live.delete(proc), resolve())));
  const proc: Proc = {
    name,
    pid: child.pid,
    child,
    output: () => out,
    stop() {
      if (!exited) {
        child.kill('SIGTERM');
        setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 5000).unref();
      }
      return done;
    },
  };
  live.add(proc);
  return proc;
}

/** CPU seconds (user + system, every thread) the process has used so far. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // comm (field 2) may contain spaces; fields after it start at state (field 3).
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** CPU seconds used by the whole machine (every core, user + system + irq), from /proc/stat. */
export function machineCpuSeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - (cpu[3] ?? 0) - (cpu[4] ?? 0);
  return busy / CLK_TCK;
}

/** CPU seconds of this process plus its exited children (the load generators it waited for). */
export function selfAndChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

// Ports and polling are shared with the tests, whose helpers are their home.
export { freePort, freePortRange, waitFor } from '../../test/helpers/ports.js';


export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Direct children of `pid` (the workers of `serve --workers`), from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

/**
 * Loopback ports and polling, for the tests and the benchmark (bench/lib
 * re-exports them, so the two never drift apart).
 *
 * Loopback ports for processes that bind them later (Envoy, bouncer, test
 * servers). A port found free by binding port 0 and closing it can be taken
 * again by the OS before its user binds it: by another listen(0), or as the
 * local port of any outgoing connection, both drawn from the OS's ephemeral
 * range. So ports here come from below that range, where the OS hands out
 * none; each Jest worker draws from its own slice, from a random start, so
 * that workers never meet and runs side by side rarely do. On a host whose
 * ephemeral range leaves no room below it, this falls back to port 0.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Lowest port handed out: above the well-known and most registered service ports. */
const LOWEST = 10_000;
/** Slices of the range: this process's is picked by its Jest worker id (0 outside Jest). */
const SLICES = 32;

function ephemeralStart(): number {
  try {
    const first = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(first) && first > 0) return first;
  } catch {
    // Not Linux, or no /proc: assume Linux's default range.
  }
  return 32_768;
}

const sliceSize = Math.floor((ephemeralStart() - LOWEST) / SLICES);
const sliceBase = LOWEST + (Number(process.env.JEST_WORKER_ID ?? 0) % SLICES) * sliceSize;
let next = sliceSize > 0 ? Math.floor(Math.random() * sliceSize) : 0;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function osAssigned(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The first of `count` consecutive loopback ports, free a moment ago and never handed out before by this process. */
export async function freePortRange(count: number): Promise<number> {
  if (sliceSize < count * 4) return osAssignedRange(count);
  for (let tried = 0; tried < sliceSize; tried++) {
    if ((next % sliceSize) + count > sliceSize) next += sliceSize - (next % sliceSize);
    const base = sliceBase + (next % sliceSize);
    next += count;
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await canListen(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports between ${sliceBase} and ${sliceBase + sliceSize - 1}`);
}

/** A loopback port that was free a moment ago (see the module comment for why it is not an ephemeral one). */
export function freePort(): Promise<number> {
  return freePortRange(1);
}

async function osAssignedRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = await osAssigned();
    let ok = base + count - 1 <= 65535;
    for (let i = 1; i < count && ok; i++) ok = await canListen(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports`);
}

/**
 * Polls `fn` until it gives a value other than undefined or false, and returns
 * that value; a throw counts as "not yet" (the last one is reported). The one
 * waitFor of the benchmark and the tests. For a condition nothing signals
 * (a port file, a process's /proc entry, another process's log); where an
 * event exists, wait on the event.
 *
 * @example
 * const port = await waitFor('the port file', async () => readPort(file), 5_000);
 */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

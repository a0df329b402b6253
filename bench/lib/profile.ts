/**
 * Where bouncer's CPU goes, from a V8 `.cpuprofile` (node --cpu-prof): self time
 * by area (bouncer's files, each npm package, Node internals, GC, idle) and
 * inclusive time of bouncer's own functions, in µs per request.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock `process.hrtime` reads, on Linux. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A span of the monotonic clock, in µs (`process.hrtime.bigint() / 1000n`). */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

export interface ProfileRow {
  name: string;
  /** Share of all sampled time, in percent. */
  pct: number;
  /** Microseconds per request. */
  usPerReq: number;
}

export interface ProfileSummary {
  requests: number;
  /** Sampled time outside "(idle)", µs per request. */
  busyUsPerReq: number;
  byArea: ProfileRow[];
  selfTop: ProfileRow[];
  inclusiveOwn: ProfileRow[];
}

/** Groups a frame by where its code lives. */
function areaOf(url: string, fn: string): string {
  if (url === '') return fn.startsWith('(') ? fn : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const own = /\/dist\/src\/([^/]+)\//.exec(url);
  if (own) return `bouncer src/${own[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  return url;
}

function shortUrl(url: string): string {
  const m = /(node_modules\/.+|dist\/src\/.+|node:.+)$/.exec(url);
  return m ? m[1]! : url;
}

/**
 * With `window`, only samples taken within it count: the measured run,
 * without the process's start, warm-up and shutdown.
 */
export function summarizeProfile(file: string, requests: number, window?: ProfileWindow): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>();
  let total = 0;
  let at = p.startTime;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    at += dt;
    if (window && (at < window.fromUs || at > window.toUs)) return;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const idle = [...self].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, t]) => a + t, 0);

  const area = new Map<string, number>();
  const fnSelf = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const a = areaOf(n.callFrame.url, n.callFrame.functionName);
    area.set(a, (area.get(a) ?? 0) + t);
    const key = `${n.callFrame.functionName || '(anonymous)'} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
    fnSelf.set(key, (fnSelf.get(key) ?? 0) + t);
    // Inclusive time of bouncer's own functions: count each function once per stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!f.url.includes('/dist/src/')) continue;
      const k = `${f.functionName || '(anonymous)'} ${shortUrl(f.url)}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  const rows = (m: Map<string, number>, limit: number): ProfileRow[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, t]) => ({ name, pct: (100 * t) / total, usPerReq: t / requests }));
  return {
    requests,
    busyUsPerReq: (total - idle) / requests,
    byArea: rows(area, 18),
    selfTop: rows(fnSelf, 25),
    inclusiveOwn: rows(inclusive, 20),
  };
}

/**
 * What changed between two V8 heap snapshots (`.heapsnapshot`, as written by
 * `--heapsnapshot-signal` or `v8.writeHeapSnapshot`): live objects counted
 * and summed (self size) by node type and constructor name, then the rows
 * whose size changed most. A snapshot is taken after a full GC, so what it
 * holds is live, not merely uncollected.
 *
 *   node dist/bench/heap-diff.js <before.heapsnapshot> <after.heapsnapshot> [rows]
 *
 * The soak (bench/soak.ts) runs it on the snapshots SOAK_HEAP_SNAPSHOTS asks for.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export interface HeapSummary {
  readonly totalBytes: number;
  readonly nodes: number;
  /** Keyed `type:name` (e.g. `object:Http2Stream`, `native:system / JSArrayBufferData`). */
  readonly byKey: ReadonlyMap<string, { count: number; bytes: number }>;
}

export interface HeapDiffRow {
  readonly key: string;
  readonly countBefore: number;
  readonly countAfter: number;
  readonly kibBefore: number;
  readonly kibAfter: number;
}

/** Strings and numbers are keyed by their type alone: their names are their contents. */
const NAMELESS = new Set(['string', 'concatenated string', 'sliced string', 'number', 'heap number', 'hidden', 'code']);

export function summarizeHeapSnapshot(path: string): HeapSummary {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const types = raw.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byKey = new Map<string, { count: number; bytes: number }>();
  let totalBytes = 0;
  for (let i = 0; i < raw.nodes.length; i += width) {
    const type = types[raw.nodes[i + typeAt] as number] ?? '?';
    const size = raw.nodes[i + sizeAt] as number;
    const name = NAMELESS.has(type) ? '' : (raw.strings[raw.nodes[i + nameAt] as number] ?? '').slice(0, 80);
    const key = `${type}:${name}`;
    const row = byKey.get(key) ?? { count: 0, bytes: 0 };
    row.count++;
    row.bytes += size;
    byKey.set(key, row);
    totalBytes += size;
  }
  return { totalBytes, nodes: raw.nodes.length / width, byKey };
}

/** The `rows` keys whose summed size changed most (either way), largest change first. */
export function diffHeapSummaries(before: HeapSummary, after: HeapSummary, rows = 30): HeapDiffRow[] {
  const keys = new Set([...before.byKey.keys(), ...after.byKey.keys()]);
  const out: HeapDiffRow[] = [];
  for (const key of keys) {
    const a = before.byKey.get(key) ?? { count: 0, bytes: 0 };
    const b = after.byKey.get(key) ?? { count: 0, bytes: 0 };
    out.push({ key, countBefore: a.count, countAfter: b.count, kibBefore: Math.round(a.bytes / 1024), kibAfter: Math.round(b.bytes / 1024) });
  }
  out.sort((x, y) => Math.abs(y.kibAfter - y.kibBefore) - Math.abs(x.kibAfter - x.kibBefore));
  return out.slice(0, rows);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [beforePath, afterPath, rows] = process.argv.slice(2);
  if (beforePath === undefined || afterPath === undefined) {
    process.stderr.write('usage: node dist/bench/heap-diff.js <before.heapsnapshot> <after.heapsnapshot> [rows]\n');
    process.exit(2);
  }
  const a = summarizeHeapSnapshot(beforePath);
  const b = summarizeHeapSnapshot(afterPath);
  const MiB = 1024 * 1024;
  process.stdout.write(`live heap: ${(a.totalBytes / MiB).toFixed(1)} MiB (${a.nodes} objects) -> ${(b.totalBytes / MiB).toFixed(1)} MiB (${b.nodes} objects)\n`);
  process.stdout.write('| type:constructor | count before | count after | KiB before | KiB after |\n|---|---|---|---|---|\n');
  for (const r of diffHeapSummaries(a, b, Number(rows ?? 30))) process.stdout.write(`| ${r.key} | ${r.countBefore} | ${r.countAfter} | ${r.kibBefore} | ${r.kibAfter} |\n`);
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { diffHeapSummaries, summarizeHeapSnapshot } from '../heap-diff.js';

/** A .heapsnapshot of the shape V8 writes: node fields in a flat array, names in a string table. */
function snapshot(nodes: Array<[type: number, name: number, size: number]>): string {
  return JSON.stringify({
    snapshot: { meta: { node_fields: ['type', 'name', 'id', 'self_size', 'edge_count'], node_types: [['hidden', 'array', 'string', 'object'], 'string', 'number'] } },
    nodes: nodes.flatMap(([type, name, size], i) => [type, name, i + 1, size, 0]),
    strings: ['', 'Http2Stream', 'some text', 'Object'],
  });
}

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), 'heap-diff-'))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('counts live objects by type and constructor, strings by type alone, and lists the largest changes first', () => {
  writeFileSync(join(dir, 'a.heapsnapshot'), snapshot([[3, 3, 100], [2, 2, 40], [3, 1, 500]]));
  writeFileSync(join(dir, 'b.heapsnapshot'), snapshot([[3, 3, 100], [2, 2, 40], [2, 0, 2048], [3, 1, 500], [3, 1, 500], [3, 1, 500]]));
  const a = summarizeHeapSnapshot(join(dir, 'a.heapsnapshot'));
  const b = summarizeHeapSnapshot(join(dir, 'b.heapsnapshot'));
  expect(a.totalBytes).toBe(640);
  expect(b.nodes).toBe(6);
  expect(b.byKey.get('string:')).toEqual({ count: 2, bytes: 2088 });
  const diff = diffHeapSummaries(a, b, 2);
  expect(diff).toEqual([
    { key: 'string:', countBefore: 1, countAfter: 2, kibBefore: 0, kibAfter: 2 },
    { key: 'object:Http2Stream', countBefore: 1, countAfter: 3, kibBefore: 0, kibAfter: 1 },
  ]);
});

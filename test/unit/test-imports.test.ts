import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// The tests stand on the product and their own helpers: benchmark code may
// change for a measurement's sake without a test moving with it. (The
// benchmark's own tests live beside it, in bench/test.)
const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : sources(path);
    return /\.(ts|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

const IMPORT_FROM = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)['"]([^'"]+)['"]/g;

test('nothing under test/ imports from bench/', () => {
  const files = sources(join(root, 'test'));
  expect(files.length).toBeGreaterThan(50);
  const offending: string[] = [];
  for (const file of files) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(IMPORT_FROM)) {
      if (spec === undefined || !spec.startsWith('.')) continue;
      const target = relative(root, join(file, '..', spec));
      if (target.startsWith('bench/') || target === 'bench') offending.push(`${relative(root, file)} -> ${spec}`);
    }
  }
  expect(offending).toEqual([]);
});

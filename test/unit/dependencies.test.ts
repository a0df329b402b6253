import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

// Every declared dependency is used: a package counts as used when a source,
// script, benchmark, test or config file names it in quotes ('pkg' or
// 'pkg/sub/path', or a schema reference 'file:pkg/...'). Packages used without being named are listed with the reason.
const root = fileURLToPath(new URL('../../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

const USED_UNNAMED: Readonly<Record<string, string>> = {
  typescript: 'the compiler (npm run build, ts-jest)',
  '@types/node': 'tsconfig.json "types"',
  '@types/jest': 'tsconfig.json "types"',
  '@types/pg': 'types of pg, picked up by the compiler',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs|cjs|sh)$/.test(name) ? [path] : [];
  });
}

const texts = [...['src', 'scripts', 'bench', 'test'].flatMap((d) => sourceFiles(join(root, d))), ...['jest.config.js', 'Dockerfile', '.dependency-cruiser.cjs'].map((f) => join(root, f))].map((path) => ({
  path: relative(root, path),
  text: readFileSync(path, 'utf8'),
}));

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

test.each(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }))('%s is used', (dep) => {
  if (USED_UNNAMED[dep] !== undefined) return;
  const named = new RegExp(`['"\`](?:file:)?${escape(dep)}(/[^'"\`]*)?['"\`]`);
  expect({ dep, usedBy: texts.filter((t) => named.test(t.text)).length > 0 }).toEqual({ dep, usedBy: true });
});

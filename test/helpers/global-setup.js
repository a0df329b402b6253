// Installs the pinned Envoy once before any worker starts, so parallel test files
// never race to create the same virtualenv. A failure here fails the run: tests
// that need Envoy must not silently skip.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default async function globalSetup() {
  const script = fileURLToPath(new URL('../../scripts/install-envoy.sh', import.meta.url));
  const bin = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  process.env.ENVOY_BIN = bin;
}

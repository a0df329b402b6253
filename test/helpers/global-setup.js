// Runs once before any worker starts. It brings the parts the suite needs, so
// parallel test files never race to install or start them, and a failure here
// fails the run: tests that need a part must not silently skip.
//   1. scripts/test-prerequisites.sh: Chromium, redis-server, PostgreSQL's
//      binaries, openssl, python3-venv; installed from Debian when it can,
//      otherwise one message naming the command to run.
//   2. scripts/install-envoy.sh: the pinned Envoy (ENVOY_BIN for the workers).
//   3. A private PostgreSQL (BOUNCER_TEST_PG_URL for the workers), stopped and
//      removed by global-teardown.js. Set BOUNCER_TEST_PG_URL to use your own.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startPrivatePostgres } from './private-postgres.js';

const script = (name) => fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url));

/**
 * Runs a setup script with its progress and messages on our stderr; returns its
 * stdout. On failure the script has said why: no stack of ours on top.
 */
function runScript(name) {
  try {
    return execFileSync('bash', [script(name)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (err) {
    const message = `scripts/${name} failed (exit ${err.status ?? err.signal}); its message is above`;
    const error = new Error(message);
    error.stack = message;
    throw error;
  }
}

export default async function globalSetup() {
  runScript('test-prerequisites.sh');
  process.env.ENVOY_BIN = runScript('install-envoy.sh').trim();
  if (!process.env.BOUNCER_TEST_PG_URL) {
    const server = await startPrivatePostgres();
    process.env.BOUNCER_TEST_PG_URL = server.url;
    // Global setup and teardown share this process (and only this), see jest's globalSetup docs.
    globalThis.__bouncerTestPostgres = server;
  }
}

/**
 * The composition root's life cycle (src/serve): a start that fails part-way
 * closes what it had opened, shutdown closes everything once, the injected
 * clock is the one the process reads, and settings read only at start
 * (authz.transport) survive a reload that changes them, with a warning.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { loadConfig } from '../../src/config/load.js';
import { startBouncer } from '../../src/serve/start.js';
import { authzClient, checkRequest } from '../helpers/grpc-client.js';
import { freePort } from '../helpers/ports.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-serve-lifecycle-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A logger whose lines the test can read. */
function recordingLogger(): { logger: Logger; lines: Array<{ msg: string } & Record<string, unknown>> } {
  const lines: Array<{ msg: string } & Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as { msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines };
}

function listenOn(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const closeServer = (s: Server): Promise<void> => new Promise((resolve) => s.close(() => resolve()));

function writeConfig(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

const TENANTS = 'tenants:\n  - { name: open, hostnames: [www.open.test], mtls: { mode: "off" } }\n';

test('a start that fails part-way closes what it had opened: the ext_authz port is free again', async () => {
  const [authzPort, httpPort] = [await freePort(), await freePort()];
  const taken = await listenOn(httpPort);
  try {
    const file = writeConfig('taken.yaml', `listen: { authz: 127.0.0.1:${authzPort}, http: 127.0.0.1:${httpPort} }\n${TENANTS}`);
    await expect(startBouncer({ config: await loadConfig(file, {}), logger: pino({ level: 'silent' }), env: {}, watch: false })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    // ext_authz had bound its port before the login service failed; the cleanup stack closed it.
    await closeServer(await listenOn(authzPort));
  } finally {
    await closeServer(taken);
  }
});

test('close stops every server once, whatever the number of callers', async () => {
  const file = writeConfig('close.yaml', `listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }\n${TENANTS}`);
  const app = await startBouncer({ config: await loadConfig(file, {}), logger: pino({ level: 'silent' }), env: {}, watch: false });
  const client = authzClient(app.authzPort);
  expect((await client.check(checkRequest('www.open.test'))).status.code).toBe(0);
  client.close();
  const first = app.close(0);
  expect(app.close(0)).toBe(first);
  await first;
  await closeServer(await listenOn(app.authzPort));
  await closeServer(await listenOn(app.httpPort));
});

test('the injected clock is the one the process reads, and the environment is read once', async () => {
  const at = Date.UTC(2031, 4, 6, 7, 8, 9);
  const file = writeConfig('clock.yaml', `listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }\n${TENANTS}`);
  const env: NodeJS.ProcessEnv = { BOUNCER_LOG_LEVEL: 'warn' };
  const app = await startBouncer({ config: await loadConfig(file, env), logger: pino({ level: 'silent' }), env, now: () => at, watch: false });
  try {
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toContain(`bouncer_config_last_reload_success_timestamp_seconds ${at / 1000}`);
    // A change to the caller's environment after start does not reach a reload.
    env['BOUNCER_LOG_LEVEL'] = 'debug';
    expect(await app.reload()).toBe(true);
    expect(app.config().log.level).toBe('warn');
  } finally {
    await app.close(0);
  }
});

test('a reload that changes authz.transport keeps the running one and says so', async () => {
  const yaml = (transport: string): string => `listen: { authz: 127.0.0.1:0, http: 127.0.0.1:0 }\nauthz: { transport: ${transport} }\n${TENANTS}`;
  const file = writeConfig('transport.yaml', yaml('grpc-js'));
  const { logger, lines } = recordingLogger();
  const app = await startBouncer({ config: await loadConfig(file, {}), logger, env: {}, watch: false });
  const client = authzClient(app.authzPort);
  try {
    writeFileSync(file, yaml('native'));
    expect(await app.reload()).toBe(true);
    expect(app.config().authz.transport).toBe('grpc-js');
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'authz.transport changed; it takes effect on the next restart', running: 'grpc-js', configured: 'native' }));
    // Still answering, on the transport it started with.
    expect((await client.check(checkRequest('www.open.test'))).status.code).toBe(0);
  } finally {
    client.close();
    await app.close(0);
  }
});

// A private PostgreSQL server for one test run: a fresh cluster in a temporary
// folder, listening on an ephemeral loopback port with trust auth, started once
// by the global setup and shared by every jest worker through
// BOUNCER_TEST_PG_URL. Never the machine's own server on 5432: two runs side
// by side (or a developer's database) are never touched.
//
// Plain JavaScript because jest loads the global setup without transforming it.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Folder names under the temp dir; also how stale ones from killed runs are found. */
const DIR_PREFIX = 'bouncer-test-pg-';
/** A start that has not said "ready" by then has failed (initdb + start take ~1-2 s here, loaded). */
const START_TIMEOUT_MS = 60_000;
/** Fast shutdown (SIGINT) gets this long before SIGKILL. */
const STOP_TIMEOUT_MS = 10_000;
/** Stale folders without a live server are removed once older than this (a run may be in initdb). */
const STALE_AFTER_MS = 60 * 60 * 1000;

/**
 * Where initdb and postgres are: PG_BIN_DIR, else Debian's newest
 * /usr/lib/postgresql/<major>/bin, else whatever is on PATH. Undefined when
 * none is found (scripts/test-prerequisites.sh installs Debian's postgresql).
 */
export function findPostgresBinDir(env = process.env) {
  if (env.PG_BIN_DIR) return env.PG_BIN_DIR;
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const majors = readdirSync(debian)
      .filter((v) => /^\d+$/.test(v) && existsSync(join(debian, v, 'bin', 'initdb')) && existsSync(join(debian, v, 'bin', 'postgres')))
      .sort((a, b) => Number(b) - Number(a));
    if (majors[0]) return join(debian, majors[0], 'bin');
  }
  for (const dir of (env.PATH ?? '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  return undefined;
}

/**
 * initdb refuses to run as root (and postgres with it): as root, the cluster
 * belongs to the `postgres` account Debian's package creates, else `nobody`.
 */
function serverAccount() {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  for (const name of ['postgres', 'nobody']) {
    try {
      const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8' }).trim());
      if (uid > 0) return { name, uid, gid };
    } catch {
      // no such account; try the next
    }
  }
  throw new Error('running as root, and neither a `postgres` nor a `nobody` account exists to own the test cluster');
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Removes clusters left by runs that were killed before their teardown (their server is gone). */
function removeStaleClusters() {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    try {
      const pidFile = join(dir, 'data', 'postmaster.pid');
      const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : 0;
      if (pid > 0 && isAlive(pid)) continue;
      // Young folders stay even with a dead pid: initdb runs short-lived
      // single-user backends that each leave a pid file behind for a moment,
      // and another run must not take that for a killed server mid-initdb.
      if (Date.now() - statSync(dir).mtimeMs < STALE_AFTER_MS) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // another run removed it first, or it is not ours to read
    }
  }
}

function run(bin, args, options) {
  try {
    execFileSync(bin, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (err) {
    throw new Error(`${bin} ${args.join(' ')} failed: ${(err.stderr || err.stdout || err.message || '').trim()}`);
  }
}

/**
 * Starts postgres on `port`; resolves with the child once it logs that it
 * accepts connections, rejects with its output if it exits first.
 */
function startServer(binDir, data, port, spawnOptions) {
  const args = [
    '-D', data,
    '-p', String(port),
    '-h', '127.0.0.1',
    // TCP only: no socket file for other users of the machine to find.
    '-c', 'unix_socket_directories=',
    // A throwaway cluster: durability buys nothing and costs the suite time.
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    // Every test file opens pools of its own next to the stores under test.
    '-c', 'max_connections=300',
  ];
  const child = spawn(join(binDir, 'postgres'), args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`postgres did not start within ${START_TIMEOUT_MS} ms: ${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk) => {
      output += chunk.toString();
      if (output.includes('ready to accept connections')) {
        clearTimeout(timer);
        child.stdout.off('data', onData);
        child.stderr.off('data', onData);
        // Keep draining its log so a full pipe never blocks the server.
        child.stdout.resume();
        child.stderr.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`postgres exited (${code ?? signal}): ${output.trim()}`), { output }));
    });
  });
}

/**
 * A watchdog outside jest: if the test run dies without its teardown (killed,
 * crashed), it stops the server and removes the folder, so nothing outlives it.
 */
function startWatchdog(parentPid, serverPid, dir) {
  const code = `
    const [parent, server, dir] = [Number(process.argv[1]), Number(process.argv[2]), process.argv[3]];
    const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
    const tick = setInterval(() => {
      if (!alive(server)) { clearInterval(tick); return; }
      if (alive(parent)) return;
      clearInterval(tick);
      try { process.kill(server, 'SIGINT'); } catch {}
      const started = Date.now();
      const wait = setInterval(() => {
        if (alive(server) && Date.now() - started < ${STOP_TIMEOUT_MS}) return;
        clearInterval(wait);
        try { process.kill(server, 'SIGKILL'); } catch {}
        require('node:fs').rmSync(dir, { recursive: true, force: true });
      }, 100);
    }, 1000);`;
  const dog = spawn(process.execPath, ['-e', code, String(parentPid), String(serverPid), dir], { detached: true, stdio: 'ignore' });
  dog.unref();
}

/**
 * Creates and starts the cluster. Returns its URL (user `postgres`, database
 * `postgres`, trust auth) and `stop()`, which shuts it down and removes its folder.
 */
export async function startPrivatePostgres(env = process.env) {
  const binDir = findPostgresBinDir(env);
  if (!binDir) throw new Error('PostgreSQL server binaries (initdb, postgres) not found; run scripts/test-prerequisites.sh');
  removeStaleClusters();
  const account = serverAccount();
  const dir = mkdtempSync(join(tmpdir(), DIR_PREFIX));
  const data = join(dir, 'data');
  const spawnOptions = {
    cwd: dir,
    // The C locale needs nothing installed; LC_ALL from the caller may name a locale the machine lacks.
    env: { PATH: env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' },
    ...(account ? { uid: account.uid, gid: account.gid } : {}),
  };
  try {
    if (account) chownSync(dir, account.uid, account.gid);
    run(join(binDir, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], spawnOptions);
    // The port is free when chosen but may be taken before postgres binds it: try a few.
    let child;
    let port = 0;
    for (let attempt = 1; !child; attempt += 1) {
      port = await freePort();
      try {
        child = await startServer(binDir, data, port, spawnOptions);
      } catch (err) {
        if (attempt >= 3 || !/could not bind|Address already in use/i.test(err.output ?? '')) throw err;
      }
    }
    startWatchdog(process.pid, child.pid, dir);
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return {
      url,
      port,
      dir,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGINT');
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

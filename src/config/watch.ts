import { createHash } from 'node:crypto';
import { statSync } from 'node:fs';
import { WATCH_DEFAULTS } from './defaults.js';
import { MISSING_STAMP, currentStamp, stampOf } from './file-stamp.js';
import { policySourcesOf } from './fingerprint.js';
import { attemptConfigLoad } from './load.js';
import type { ConfigOverlay } from './overlay.js';
import type { ParseCache } from './trust.js';
import type { BouncerConfig } from './types.js';

/** A running config watcher. */
export interface ConfigWatcher {
  /**
   * Stops polling. Timers are unref'd anyway, so a forgotten watcher never keeps
   * the process alive. {@link reloadNow} keeps working after close (SIGHUP with
   * watching turned off relies on that).
   */
  close(): void;
  /**
   * Reloads now, whatever the files' stamps say. Resolves true when the files
   * form a valid config (in force now), false when they do not (the last good
   * config stays). Never overlaps another reload: a call during one waits for it
   * and then runs once more, however many calls came in meanwhile.
   */
  reloadNow(): Promise<boolean>;
}

/** Options of {@link watchConfig}. */
export interface WatchConfigOptions {
  path: string;
  env: NodeJS.ProcessEnv;
  /** The config in force, as `loadConfig` returned it. */
  initial: BouncerConfig;
  /** Poll period. Default {@link WATCH_DEFAULTS.intervalMs}. */
  intervalMs?: number;
  /**
   * Called with the new config after a successful reload that changed something,
   * or after the first successful reload following a failed one.
   */
  onReload(next: BouncerConfig): void;
  /** Called when a reload fails (usually a `ConfigError`); the previous config stays in force. */
  onError(err: unknown): void;
  /** Sections kept in the database, read at each reload (`store.postgres`). */
  overlay?: () => ConfigOverlay | undefined;
}

/**
 * Polls the config file and every file it names (CA bundles, CRLs, client
 * secret files, SAML metadata) and reloads
 * when any of them changes. Polling instead of fs.watch: editors save by rename
 * and Kubernetes swaps a ConfigMap by moving a symlink, and fs.watch loses track
 * of the file in both cases; a stat per file per second is cheap and never misses.
 *
 * A change is acted on after a short debounce so that a CA file and the config
 * naming it, written one after the other, land in one reload. A failed reload
 * keeps the last good config and is reported once; the files it read are watched
 * so that fixing any of them (or creating a missing CA file) retries.
 *
 * @example
 * const watcher = watchConfig({
 *   path: config.source, env: process.env, initial: config,
 *   onReload: (next) => apply(next),
 *   onError: (err) => logger.error({ err }, 'config reload failed; keeping the last good config'),
 * });
 * process.on('SIGHUP', () => void watcher.reloadNow());
 */
export function watchConfig(o: WatchConfigOptions): ConfigWatcher {
  const intervalMs = Math.max(1, o.intervalMs ?? WATCH_DEFAULTS.intervalMs);
  const debounceMs = Math.min(WATCH_DEFAULTS.debounceMs, intervalMs);
  let currentKey = fingerprintConfig(o.initial);
  // Taken synchronously: an edit made right after this call must count as a change.
  let stamps = snapshotSync([o.initial.source, ...o.initial.files]);
  let closed = false;
  let pollTimer: NodeJS.Timeout | undefined;
  let debounceTimer: NodeJS.Timeout | undefined;
  let running: Promise<boolean> | undefined;
  let queued: Promise<boolean> | undefined;
  let parsed: ParseCache | undefined;
  let failing = false;

  const report = (err: unknown): void => {
    try {
      o.onError(err);
    } catch {
      // A throwing error handler must not take the poll loop (or the process) down.
    }
  };

  const reloadOnce = async (): Promise<boolean> => {
    let attempt;
    try {
      const overlay = o.overlay?.();
      attempt = await attemptConfigLoad(o.path, o.env, { ...(parsed ? { previous: parsed } : {}), ...(overlay ? { overlay } : {}) });
    } catch (err) {
      report(err);
      return false;
    }
    // Watch exactly what this attempt read, at the versions it read.
    stamps = new Map(attempt.stamps);
    parsed = attempt.parsed;
    if (!attempt.ok) {
      failing = true;
      report(attempt.error);
      return false;
    }
    const key = fingerprintConfig(attempt.config);
    // After a failure, a good load is news even when it equals the config in force
    // (the edit was reverted): the caller flips its "last reload failed" state on it.
    if (key === currentKey && !failing) return true;
    failing = false;
    currentKey = key;
    try {
      o.onReload(attempt.config);
    } catch (err) {
      report(err);
      return false;
    }
    return true;
  };

  // One reload at a time; calls during one share a single follow-up run, which
  // starts after the current one so it sees the newest files.
  const reload = (): Promise<boolean> => {
    if (!running) {
      running = reloadOnce().finally(() => {
        running = undefined;
      });
      return running;
    }
    queued ??= running.then(() => {
      queued = undefined;
      return reload();
    });
    return queued;
  };

  const poll = async (): Promise<void> => {
    if (running || debounceTimer) return;
    const paths = [...stamps.keys()];
    const now = await Promise.all(paths.map(currentStamp));
    if (closed || running || debounceTimer) return;
    if (!paths.some((p, i) => stamps.get(p) !== now[i])) return;
    debounceTimer = setTimeout(() => {
      debounceTimer = undefined;
      void reload();
    }, debounceMs);
    debounceTimer.unref();
  };

  const schedule = (): void => {
    if (closed) return;
    pollTimer = setTimeout(() => {
      poll().then(schedule, (err: unknown) => {
        report(err);
        schedule();
      });
    }, intervalMs);
    pollTimer.unref();
  };
  schedule();

  return {
    close() {
      closed = true;
      clearTimeout(pollTimer);
      clearTimeout(debounceTimer);
      debounceTimer = undefined;
    },
    reloadNow() {
      clearTimeout(debounceTimer);
      debounceTimer = undefined;
      return reload();
    },
  };
}

function snapshotSync(paths: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of paths) {
    try {
      out.set(p, stampOf(statSync(p)));
    } catch {
      out.set(p, MISSING_STAMP);
    }
  }
  return out;
}

/**
 * What the running server would do differently under a config. Two loads of the
 * same files give the same fingerprint, so touching a file or re-saving it
 * unchanged does not count as a reload. Warnings are left out: a CA moving into
 * its expiry window changes no decision.
 */
function fingerprintConfig(c: BouncerConfig): string {
  const view = {
    listen: c.listen,
    authz: c.authz,
    log: c.log,
    files: c.files,
    tenants: c.tenants.map((t) => ({
      name: t.name,
      hostnames: t.hostnames,
      mode: t.mtls.mode,
      exemptPaths: t.mtls.exemptPaths,
      revocation: t.mtls.revocation,
      trust: t.mtls.trust && {
        roots: t.mtls.trust.roots.map((r) => r.fingerprint256),
        crls: t.mtls.trust.crls.map((crl) => createHash('sha256').update(crl.der).digest('hex')),
        staleCrl: t.mtls.trust.staleCrl,
        policy: t.mtls.trust.policy,
        // What the admin API and /readyz report about the tenant's trust data.
        problems: (t.mtls.trust.problems ?? []).map((p) => `${p.code} ${p.message}`),
      },
    })),
    // Secrets and metadata are part of it (a rotated client secret must reach the
    // connectors); the fingerprint is a hash, so they never leave this function.
    auth: c.auth ?? null,
    idps: c.idps,
    apps: c.apps.map((a, i) => ({ ...a, policies: policySourcesOf(c)[i] ?? null })),
    saasApps: (c.saasApps ?? []).map((a, i) => ({ ...a, policies: policySourcesOf(c)[c.apps.length + i] ?? null })),
    serviceTokens: c.serviceTokens,
    admin: c.admin ?? null,
  };
  return createHash('sha256').update(JSON.stringify(view)).digest('hex');
}

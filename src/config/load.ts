import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { BouncerError, ConfigError, type ConfigIssue } from '../core/errors.js';
import type { Tenant } from '../core/tenant.js';
import { CONFIG_ENV, LOG_LEVELS } from './defaults.js';
import { describeFsError, readStamped } from './file-stamp.js';
import { rememberPolicySources } from './fingerprint.js';
import { deepFreeze } from './freeze.js';
import { resolveIdentity, type IdentityResult } from './identity-resolve.js';
import { resolveSaasApps, type SaasResult } from './saas-resolve.js';
import { NodeReader, type Anchor } from './node-reader.js';
import { readConfigShape, type RawConfig, type RawTenant } from './schema.js';
import { resolveStore, type StoreConfig } from './store-schema.js';
import { loadTrustStores, type ParseCache, type TrustResult } from './trust.js';
import type { BouncerConfig } from './types.js';
import { parseListenAddress } from './values.js';
import { applyOverlay, relocateIssues, type ConfigOverlay } from './overlay.js';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** The clock for certificate and CRL validity checks, in ms since the epoch. Default: `Date.now()`. */
  now?: number;
  /** Sections kept in the database (`store.postgres`), merged in before validation. */
  overlay?: ConfigOverlay | undefined;
}

/**
 * One load attempt with what a watcher needs either way: the stamp of every
 * file that was read (or found missing), so it knows what to poll next.
 */
export type LoadAttempt = (
  | { readonly ok: true; readonly config: BouncerConfig }
  | { readonly ok: false; readonly error: BouncerError }
) & {
  readonly stamps: ReadonlyMap<string, string>;
  /** Parsed CA/CRL files of this attempt; pass as `previous` to the next one. */
  readonly parsed: ParseCache;
};

/** Options of {@link attemptConfigLoad}. */
export interface AttemptOptions extends LoadConfigOptions {
  /** The `parsed` of the previous attempt: files whose bytes did not change are not parsed again. */
  previous?: ParseCache;
}

/**
 * Reads, validates and freezes a bouncer config file. Every problem is collected
 * before failing, each located as `file:line:column` with a dotted field, so one
 * run shows everything to fix.
 *
 * @param path The YAML file; `ca`, `crl`, `client_secret_file`, `metadata_file` and `keys_dir` paths inside it are relative to its directory.
 * @param env Environment for `BOUNCER_LISTEN_AUTHZ`, `BOUNCER_LISTEN_HTTP`, `BOUNCER_LOG_LEVEL` and the `client_secret_env` variables. Default `process.env`.
 * @throws {ConfigError} `ERR_CONFIG_INVALID`, with `issues` listing every problem.
 * @throws {BouncerError} `ERR_CONFIG_READ` when the config file itself cannot be read.
 *
 * @example
 * const config = await loadConfig('/etc/bouncer/bouncer.yaml', process.env);
 * for (const w of config.warnings) logger.warn(w);
 */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, options: LoadConfigOptions = {}): Promise<BouncerConfig> {
  const attempt = await attemptConfigLoad(path, env, options);
  if (!attempt.ok) throw attempt.error;
  return attempt.config;
}

/**
 * {@link loadConfig} without the throw, for the watcher: the result also says
 * which files were involved, even when loading failed (a CA file that does not
 * exist yet must be watched so its arrival triggers the next attempt).
 */
export async function attemptConfigLoad(path: string, env: NodeJS.ProcessEnv = process.env, options: AttemptOptions = {}): Promise<LoadAttempt> {
  const source = resolve(path);
  const now = options.now ?? Date.now();
  const stamps = new Map<string, string>();
  // Until the trust files are reached, keep the previous parses for the next attempt.
  const parsed: ParseCache = options.previous ?? new Map();

  const read = await readStamped(source);
  stamps.set(source, read.stamp);
  if (!read.ok) {
    const error = new BouncerError('ERR_CONFIG_READ', `cannot read config file ${source}: ${describeFsError(read.error)}`, { cause: read.error });
    return { ok: false, error, stamps, parsed };
  }

  const text = read.data.toString('utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const reader = new NodeReader(source, lines, doc);
  if (reportYamlProblems(doc, reader, text.trimEnd().length)) return { ok: false, error: new ConfigError(reader.issues), stamps, parsed };
  if (options.overlay) applyOverlay(doc, options.overlay, reader);

  const raw = readConfigShape(doc.contents, reader);
  applyEnvOverrides(raw, env, reader);
  checkTenantsDistinct(raw.tenants, reader);
  const store = resolveStore(raw.store, env, reader);
  const warnings = [...raw.warnings];
  const trust = await loadTrustStores(raw.tenants, { baseDir: dirname(source), now, reader, warnings, stamps, previous: options.previous });
  const identityCtx = { baseDir: dirname(source), env, reader, warnings, stamps };
  const identity = await resolveIdentity(raw.identity, identityCtx);
  const saas = await resolveSaasApps(raw.identity, identity, identityCtx, now);

  if (reader.issues.length > 0) return { ok: false, error: new ConfigError(relocateIssues(inReadingOrder(reader.issues), options.overlay)), stamps, parsed: trust.parsed };
  const config = buildConfig(source, raw, store, trust, identity, saas, warnings);
  return { ok: true, config, stamps, parsed: trust.parsed };
}

/**
 * YAML syntax errors stop the load (the tree after one is guesswork); warnings
 * such as an unknown tag are issues too, since they mean the file does not say
 * what its author thinks. Returns true when the load must stop.
 */
function reportYamlProblems(doc: Document, reader: NodeReader, contentEnd: number): boolean {
  // Errors found at end of input (an unclosed bracket or quote) would point past
  // the last line; point just after the last character instead, where an editor shows it.
  const at = (offset: number): number => Math.min(offset, contentEnd);
  for (const e of doc.errors) reader.issueAtOffset(at(e.pos[0]), '(yaml)', `YAML syntax error: ${e.message}`);
  for (const w of doc.warnings) reader.issueAtOffset(at(w.pos[0]), '(yaml)', `YAML problem: ${w.message}`);
  return doc.errors.length > 0;
}

/**
 * Deployments template these variables, so they win over the file. They are
 * checked exactly like the file's values; an empty variable counts as unset.
 */
function applyEnvOverrides(raw: RawConfig, env: NodeJS.ProcessEnv, reader: NodeReader): void {
  const listen = [
    ['authz', CONFIG_ENV.listenAuthz],
    ['http', CONFIG_ENV.listenHttp],
  ] as const;
  for (const [which, name] of listen) {
    const value = env[name];
    if (value === undefined || value.trim() === '') continue;
    const parsed = parseListenAddress(value);
    if (parsed.ok) raw.listen[which] = parsed.value;
    else reader.issue(undefined, `env ${name}`, parsed.message);
  }
  const adminListen = env[CONFIG_ENV.listenAdmin];
  if (adminListen !== undefined && adminListen.trim() !== '') {
    const parsed = parseListenAddress(adminListen);
    if (!parsed.ok) reader.issue(undefined, `env ${CONFIG_ENV.listenAdmin}`, parsed.message);
    // Only moves an API the file turned on; the variable alone never opens one.
    else if (raw.admin) raw.admin = { ...raw.admin, listen: parsed.value };
  }
  const level = env[CONFIG_ENV.logLevel];
  if (level !== undefined && level.trim() !== '') {
    const known = (LOG_LEVELS as readonly string[]).includes(level);
    if (known) raw.log = { level: level as RawConfig['log']['level'] };
    else reader.issue(undefined, `env ${CONFIG_ENV.logLevel}`, `must be one of ${LOG_LEVELS.join(', ')}; got '${level}'`);
  }
}

/**
 * Tenant names must be unique (they key metrics and logs), and a hostname may
 * belong to one tenant only: otherwise which tenant's CA applies would depend on
 * file order. Both are reported at the second occurrence, naming the first.
 */
function checkTenantsDistinct(tenants: readonly RawTenant[], reader: NodeReader): void {
  const byName = new Map<string, RawTenant>();
  const byHost = new Map<string, RawTenant>();
  for (const t of tenants) {
    if (t.name) {
      const first = byName.get(t.name.value);
      if (first) {
        reader.issue(t.name.node, t.name.field, `tenant name '${t.name.value}' is already used by ${first.field}${lineNote(reader, first.name?.node)}; names must be unique`);
      } else byName.set(t.name.value, t);
    }
    for (const h of t.hostnames) {
      const owner = byHost.get(h.value);
      if (owner && owner !== t) {
        const firstNode = owner.hostnames.find((o) => o.value === h.value)?.node;
        reader.issue(
          h.node,
          h.field,
          `hostname '${h.value}' is claimed by both tenant '${label(owner)}'${lineNote(reader, firstNode)} and tenant '${label(t)}'; a hostname belongs to exactly one tenant`,
        );
      } else byHost.set(h.value, t);
    }
  }
}

function label(t: RawTenant): string {
  return t.name?.value ?? t.field;
}

function lineNote(reader: NodeReader, node: Anchor): string {
  const { line } = reader.position(node);
  return line !== undefined ? ` (line ${line})` : '';
}

/** File-level issues first (empty file, environment), then top to bottom as an editor shows them. */
function inReadingOrder(issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues
    .map((issue, i) => ({ issue, i }))
    .sort((a, b) => (a.issue.line ?? 0) - (b.issue.line ?? 0) || (a.issue.column ?? 0) - (b.issue.column ?? 0) || a.i - b.i)
    .map((x) => x.issue);
}

function buildConfig(source: string, raw: RawConfig, store: StoreConfig, trust: TrustResult, identity: IdentityResult, saas: SaasResult, warnings: readonly string[]): BouncerConfig {
  const tenants: Tenant[] = raw.tenants.map((t) => {
    const trustStore = trust.stores.get(t.index);
    // Without issues every tenant has a name, a mode and (unless off) a store; anything else is our bug.
    if (!t.name || !t.mode || trustStore === undefined || (t.mode !== 'off' && trustStore === null)) {
      throw new BouncerError('ERR_INTERNAL', `config loader: ${t.field} passed validation incomplete`);
    }
    return {
      name: t.name.value,
      hostnames: t.hostnames.map((h) => h.value),
      mtls: { mode: t.mode, trust: trustStore, exemptPaths: t.exemptPaths, ...(t.revocation && t.mode !== 'off' ? { revocation: t.revocation } : {}) },
    };
  });
  if (raw.identity.apps.length !== identity.apps.length || (identity.apps.length > 0 && !identity.auth)) {
    throw new BouncerError('ERR_INTERNAL', 'config loader: an app passed validation incomplete');
  }
  if (raw.identity.saasApps.length !== saas.saasApps.length || (raw.identity.auth?.samlIdp !== undefined && !saas.samlIdp)) {
    throw new BouncerError('ERR_INTERNAL', 'config loader: a saas app passed validation incomplete');
  }
  const config: BouncerConfig = deepFreeze({
    source,
    files: [...new Set([source, ...trust.files, ...identity.files, ...saas.files])],
    listen: raw.listen,
    authz: raw.authz,
    log: raw.log,
    store,
    tenants,
    auth: identity.auth && { ...identity.auth, samlIdp: saas.samlIdp },
    idps: identity.idps,
    apps: identity.apps,
    saasApps: saas.saasApps,
    serviceTokens: identity.serviceTokens,
    warnings: [...new Set(warnings)],
    ...(raw.admin ? { admin: raw.admin } : {}),
    ...(raw.hostnames ? { hostnames: raw.hostnames } : {}),
    ...(raw.xds ? { xds: raw.xds } : {}),
  });
  // SaaS apps' policies follow the apps' in one list; the watcher indexes it the same way.
  rememberPolicySources(config, [...identity.policySources, ...saas.policySources]);
  return config;
}

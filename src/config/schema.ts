import { isMap, isScalar, type Node } from 'yaml';
import type { MtlsMode } from '../core/tenant.js';
import { AUTHZ_TRANSPORTS, CONFIG_DEFAULTS, CONFIG_LIMITS, LOG_LEVELS } from './defaults.js';
import { ADMIN_CONFIG_KEYS, readAdminShape } from './admin-schema.js';
import { IDENTITY_KEYS } from './identity-keys.js';
import { readIdentityShape, type RawIdentity } from './identity-schema.js';
import { readXdsShape, XDS_CONFIG_KEYS } from './xds-schema.js';
import { readSaasAppsShape, SAAS_KEYS } from './saas-schema.js';
import { readStoreShape, STORE_KEYS, type RawStore } from './store-schema.js';
import { HOSTNAMES_KEYS, readHostnamesShape } from './hostnames-schema.js';
import { describe, joinField, type Entry, type NodeReader, type RefusedKeys, type Sourced } from './node-reader.js';
import type { BouncerConfig, HostPort } from './types.js';
import type { PolicyInputs } from '../core/cert-policy.js';
import type { RevocationPolicy } from '../core/revocation-policy.js';
import { checkExemptPath, checkTenantName, normalizeTenantHostname } from '../core/tenant-names.js';
import { readCertificatePolicies, POLICY_KEYS } from './policy-schema.js';
import { readRevocation, REVOCATION_KEYS } from './revocation-schema.js';
import { parseListenAddress } from './values.js';
import { parseCidr } from '../core/policy/cidr.js';

type AuthzLimitDefaults = typeof CONFIG_DEFAULTS.authz.limits;
/** The whole-number limits: every one but `trusted_sources`. */
type AuthzLimitName = { [K in keyof AuthzLimitDefaults]: AuthzLimitDefaults[K] extends number ? K : never }[keyof AuthzLimitDefaults];

/** `authz.limits` whole-number keys as written (snake_case) beside the loaded config's names. */
export const AUTHZ_LIMIT_KEYS: ReadonlyArray<readonly [string, AuthzLimitName]> = (Object.keys(CONFIG_DEFAULTS.authz.limits) as Array<keyof AuthzLimitDefaults>)
  .filter((name): name is AuthzLimitName => typeof CONFIG_DEFAULTS.authz.limits[name] === 'number')
  .map((name) => [name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), name]);

/**
 * The keys each section of the file accepts. The file is snake_case because other
 * tools (Helm charts, the demo, docs) write it; the loaded config is camelCase.
 */
export const CONFIG_KEYS = {
  root: ['listen', 'authz', 'log', 'tenants', 'auth', 'idps', 'apps', 'saas_apps', 'service_tokens', 'store', 'admin', 'hostnames', 'xds'],
  listen: ['authz', 'http'],
  authz: ['transport', 'xfcc', 'cache', 'limits'],
  limits: [...AUTHZ_LIMIT_KEYS.map(([file]) => file), 'trusted_sources'],
  xfcc: ['trusted_hop', 'max_elements'],
  cache: ['max_entries', 'ttl_seconds'],
  log: ['level'],
  tenant: ['name', 'hostnames', 'mtls'],
  mtls: ['mode', 'ca', 'crl', 'stale_crl', 'exempt_paths', 'revocation', 'certificate_policies'],
  revocation: REVOCATION_KEYS,
  certificate_policies: POLICY_KEYS,
  ...IDENTITY_KEYS,
  ...SAAS_KEYS,
  ...STORE_KEYS,
  ...ADMIN_CONFIG_KEYS,
  ...HOSTNAMES_KEYS,
  ...XDS_CONFIG_KEYS,
} as const;

/** Top-level sections a later version will read; named so the error says "not yet", not "typo". */
export const RESERVED_ROOT_KEYS: readonly string[] = [];

/** Top-level keys people write from other products' configs (or earlier drafts of ours), with where the setting lives. */
export const MOVED_ROOT_KEYS: RefusedKeys = {
  policies: 'policies belong to an app: write them under apps[].policies',
  sessions: 'session settings are under auth.session (duration, key_rotation_days, keys_dir) and apps[].session_duration',
};

export const MTLS_MODES: readonly MtlsMode[] = ['require', 'optional', 'off'];
export const STALE_CRL_POLICIES = ['deny', 'use'] as const;

/** A tenant as written, after shape and per-value checks but before cross-tenant and file checks. */
export interface RawTenant {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly name: Sourced<string> | undefined;
  /** Valid, normalised hostnames only; invalid ones were reported. */
  readonly hostnames: ReadonlyArray<Sourced<string>>;
  /** Undefined when the mode was invalid (already reported); later checks that depend on it are skipped. */
  readonly mode: MtlsMode | undefined;
  readonly modeNode: Node | null;
  readonly mtlsNode: Node | null;
  /** The `ca` path as written (relative to the config file's directory). */
  readonly ca: Sourced<string> | undefined;
  readonly crls: ReadonlyArray<Sourced<string>>;
  readonly staleCrl: 'deny' | 'use';
  readonly exemptPaths: readonly string[];
  /** `mtls.revocation`; undefined when absent or both modes are off. */
  readonly revocation: RevocationPolicy | undefined;
  /** `mtls.certificate_policies`; undefined when absent (RFC 5280's defaults). */
  readonly policies: PolicyInputs | undefined;
}

/** The whole file after shape checks: defaults filled in, files not read yet. */
export interface RawConfig {
  listen: { authz: HostPort; http: HostPort };
  authz: BouncerConfig['authz'];
  log: BouncerConfig['log'];
  tenants: RawTenant[];
  /** `store`, shape-checked; URLs resolved against the environment in `resolveStore`. */
  store: RawStore;
  /** `auth`, `idps`, `apps` and `service_tokens`, shape-checked; cross-checked and read in `resolveIdentity`. */
  identity: RawIdentity;
  /** Warnings found while reading the shape (such as a setting that has no effect). */
  warnings: string[];
  /** `admin`, when present and valid. */
  admin?: BouncerConfig['admin'];
  /** `hostnames`, when present and valid. */
  hostnames?: BouncerConfig['hostnames'];
  /** `xds`, when present and valid. */
  xds?: BouncerConfig['xds'];
}

/**
 * Reads the document's shape: known keys only, right types, values in range,
 * defaults for what is absent. Every problem is recorded on `reader`; the result
 * is meaningful only when none were.
 */
export function readConfigShape(root: Node | null, reader: NodeReader): RawConfig {
  const raw: RawConfig = {
    listen: { authz: { ...CONFIG_DEFAULTS.listen.authz }, http: { ...CONFIG_DEFAULTS.listen.http } },
    authz: {
      transport: CONFIG_DEFAULTS.authz.transport,
      xfcc: { ...CONFIG_DEFAULTS.authz.xfcc },
      cache: { ...CONFIG_DEFAULTS.authz.cache },
      limits: { ...CONFIG_DEFAULTS.authz.limits },
    },
    log: { level: CONFIG_DEFAULTS.log.level },
    tenants: [],
    store: { postgres: undefined, redis: undefined },
    identity: { auth: undefined, authKey: null, appsKey: null, idps: [], apps: [], serviceTokens: [], saasApps: [], saasAppsKey: null },
    warnings: [],
  };
  if (root === null) {
    reader.issue(undefined, 'tenants', 'the config file is empty; it needs at least a tenants list');
    return raw;
  }
  if (!isMap(root)) {
    reader.issue(root, '(root)', `the config must be a mapping of ${CONFIG_KEYS.root.join(', ')}; got ${describe(root)}`);
    return raw;
  }
  const top = reader.mapping(root, '', CONFIG_KEYS.root, RESERVED_ROOT_KEYS, MOVED_ROOT_KEYS);
  if (!top) return raw;

  const listen = top.get('listen');
  if (listen) readListen(listen.value, reader, raw);
  const authz = top.get('authz');
  if (authz) readAuthz(authz.value, reader, raw);
  const log = top.get('log');
  if (log) {
    const m = reader.mapping(log.value, 'log', CONFIG_KEYS.log);
    const level = m?.get('level');
    if (level) raw.log = { level: reader.oneOf(level.value, 'log.level', LOG_LEVELS) ?? raw.log.level };
  }

  raw.store = readStoreShape(top.get('store'), reader);
  raw.identity = readIdentityShape(top, reader, raw.warnings);
  const saas = readSaasAppsShape(top, reader, raw.warnings);
  raw.identity.saasApps = saas.apps;
  raw.identity.saasAppsKey = saas.key;
  raw.admin = readAdminShape(top, reader, raw.warnings);
  raw.hostnames = readHostnamesShape(top, reader);
  raw.xds = readXdsShape(top, reader);
  if (raw.xds?.authCertificate && !raw.identity.auth) {
    reader.issue(top.get('xds')?.value ?? null, 'xds.auth_certificate', 'serves the login service on auth.domain, but there is no auth section: add auth.domain or leave auth_certificate out');
  }

  const tenants = top.get('tenants');
  if (raw.store.postgres) {
    // Two sources of tenants would disagree about who owns a hostname; the database is the one that replicas share.
    if (tenants) reader.issue(tenants.key, 'tenants', 'tenants live in PostgreSQL when store.postgres is set: remove this list and add them with `bouncer tenant add` (the admin API)');
    return raw;
  }
  if (!tenants) {
    // An identity-only deployment has apps and no mTLS tenants.
    if (!top.has('apps') && !top.has('saas_apps')) reader.issue(root, 'tenants', 'tenants is required: list the tenants bouncer serves (or the apps, for identity-only access)');
    return raw;
  }
  const items = reader.list(tenants.value, 'tenants');
  if (items?.length === 0 && !top.has('apps') && !top.has('saas_apps')) raw.warnings.push('tenants is empty: every request will be denied as tenant_unknown');
  items?.forEach((item, i) => {
    const t = readTenant(item, i, reader, raw.warnings);
    if (t) raw.tenants.push(t);
  });
  return raw;
}

function readListen(node: Node | null, reader: NodeReader, raw: RawConfig): void {
  const m = reader.mapping(node, 'listen', CONFIG_KEYS.listen);
  if (!m) return;
  for (const which of ['authz', 'http'] as const) {
    const e = m.get(which);
    if (!e) continue;
    const field = `listen.${which}`;
    const text = reader.string(e.value, field);
    if (text === undefined) continue;
    const parsed = parseListenAddress(text);
    if (parsed.ok) raw.listen[which] = parsed.value;
    else reader.issue(e.value, field, parsed.message);
  }
}

function readAuthz(node: Node | null, reader: NodeReader, raw: RawConfig): void {
  const m = reader.mapping(node, 'authz', CONFIG_KEYS.authz);
  if (!m) return;
  const transport = m.get('transport');
  if (transport) raw.authz = { ...raw.authz, transport: reader.oneOf(transport.value, 'authz.transport', AUTHZ_TRANSPORTS) ?? raw.authz.transport };
  const xfccEntry = m.get('xfcc');
  if (xfccEntry) {
    const x = reader.mapping(xfccEntry.value, 'authz.xfcc', CONFIG_KEYS.xfcc);
    const hop = x?.get('trusted_hop');
    const max = x?.get('max_elements');
    const { min: lo, max: hi } = CONFIG_LIMITS.xfccMaxElements;
    raw.authz = {
      ...raw.authz,
      xfcc: {
        trustedHop: (hop && reader.boolean(hop.value, 'authz.xfcc.trusted_hop')) ?? raw.authz.xfcc.trustedHop,
        maxElements: (max && reader.integer(max.value, 'authz.xfcc.max_elements', lo, hi)) ?? raw.authz.xfcc.maxElements,
      },
    };
  }
  const cacheEntry = m.get('cache');
  if (cacheEntry) {
    const c = reader.mapping(cacheEntry.value, 'authz.cache', CONFIG_KEYS.cache);
    const entries = c?.get('max_entries');
    const ttl = c?.get('ttl_seconds');
    const { cacheMaxEntries: me, cacheTtlSeconds: ts } = CONFIG_LIMITS;
    raw.authz = {
      ...raw.authz,
      cache: {
        maxEntries: (entries && reader.integer(entries.value, 'authz.cache.max_entries', me.min, me.max)) ?? raw.authz.cache.maxEntries,
        ttlSeconds: (ttl && reader.integer(ttl.value, 'authz.cache.ttl_seconds', ts.min, ts.max)) ?? raw.authz.cache.ttlSeconds,
      },
    };
  }
  const limitsEntry = m.get('limits');
  if (limitsEntry) readAuthzLimits(limitsEntry.value, reader, raw);
}

/** `authz.limits`: each a whole number within its range, then the pairs that must agree. */
function readAuthzLimits(node: Node | null, reader: NodeReader, raw: RawConfig): void {
  const m = reader.mapping(node, 'authz.limits', CONFIG_KEYS.limits);
  if (!m) return;
  const { trustedSources: defaultTrusted, ...numbers } = raw.authz.limits;
  const limits: Record<AuthzLimitName, number> = numbers;
  const written = new Map<AuthzLimitName, Node | null>();
  for (const [file, name] of AUTHZ_LIMIT_KEYS) {
    const entry = m.get(file);
    if (!entry) continue;
    const { min, max } = CONFIG_LIMITS.authzLimits[name];
    const value = reader.integer(entry.value, `authz.limits.${file}`, min, max);
    if (value === undefined) continue;
    limits[name] = value;
    written.set(name, entry.value);
  }
  // A cap written below the per-source default, with no per-source limit written, takes the
  // per-source limit down with it: a config that loaded before this limit existed still loads,
  // and admits what it admitted.
  if (!written.has('maxConnectionsPerSource') && limits.maxConnectionsPerSource > limits.maxConnections) limits.maxConnectionsPerSource = limits.maxConnections;
  // Each pair: the smaller must not exceed the larger, or the larger limit could never be reached.
  const pairs: ReadonlyArray<readonly [AuthzLimitName, AuthzLimitName, string]> = [
    ['maxMessageBytes', 'maxBufferedBytesPerConnection', 'a message of the largest size could never be buffered'],
    ['maxBufferedBytesPerConnection', 'maxBufferedBytesTotal', 'one connection could never use its own budget'],
    ['maxRelayedStreamsPerConnection', 'maxRelayedStreamsTotal', 'one connection could never open its own share'],
    ['pressureKeepaliveMs', 'keepaliveTimeMs', 'pressure would make keepalive slower, not faster'],
    ['maxConnectionsPerSource', 'maxConnections', 'no source could ever reach its own limit'],
  ];
  const fileName = (name: AuthzLimitName): string => (AUTHZ_LIMIT_KEYS.find(([, n]) => n === name) as readonly [string, AuthzLimitName])[0];
  for (const [small, large, why] of pairs) {
    if (limits[small] <= limits[large]) continue;
    const at = written.get(small) ?? written.get(large) ?? node;
    const field = `authz.limits.${fileName(written.has(small) ? small : large)}`;
    reader.issue(at, field, `${fileName(small)} (${limits[small].toLocaleString('en-US')}) must not exceed ${fileName(large)} (${limits[large].toLocaleString('en-US')}): ${why}`);
  }
  const trusted = m.get('trusted_sources');
  raw.authz = { ...raw.authz, limits: { ...limits, trustedSources: trusted ? readTrustedSources(trusted.value, reader) : defaultTrusted } };
}

/**
 * `authz.limits.trusted_sources`: addresses or CIDR ranges, strict as the
 * `ip` policy selector reads them (no host bits after the prefix). A /0
 * would exempt every source of its family, which is the per-source limit
 * switched off by accident; raising the limit says so plainly instead.
 */
function readTrustedSources(node: Node | null, reader: NodeReader): readonly string[] {
  const field = 'authz.limits.trusted_sources';
  const items = reader.list(node, field);
  if (items === undefined) return [];
  const max = CONFIG_LIMITS.authzTrustedSourcesMax;
  if (items.length > max) {
    reader.issue(node, field, `trusted_sources lists ${items.length} ranges; at most ${max} are accepted (write the Envoy fleet as a few CIDR ranges)`);
    return [];
  }
  const out: string[] = [];
  items.forEach((item, i) => {
    const at = joinField(field, i);
    const text = reader.string(item, at);
    if (text === undefined) return;
    const parsed = parseCidr(text);
    if (!parsed.ok) reader.issue(item, at, `${parsed.message}; expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8`);
    else if (parsed.range.prefix === 0)
      reader.issue(item, at, `"${text}" would exempt every ${parsed.range.family === 4 ? 'IPv4' : 'IPv6'} source from max_connections_per_source; to turn the limit off, set it to max_connections instead`);
    else out.push(text);
  });
  return out;
}

function readTenant(node: Node | null, index: number, reader: NodeReader, warnings: string[]): RawTenant | undefined {
  const field = joinField('tenants', index);
  const m = reader.mapping(node, field, CONFIG_KEYS.tenant);
  if (!m) return undefined;
  const name = readTenantName(m.get('name'), node, field, reader);
  const hostnames = readHostnames(m.get('hostnames'), node, field, name?.value ?? field, reader, warnings);
  const mtlsEntry = m.get('mtls');
  return { index, field, node, name, hostnames, mtlsNode: mtlsEntry?.value ?? null, ...readMtls(mtlsEntry, `${field}.mtls`, reader) };
}

function readTenantName(entry: Entry | undefined, tenantNode: Node | null, field: string, reader: NodeReader): Sourced<string> | undefined {
  if (!entry) {
    reader.issue(tenantNode, `${field}.name`, 'name is required');
    return undefined;
  }
  const text = reader.string(entry.value, `${field}.name`);
  if (text === undefined) return undefined;
  const problem = checkTenantName(text);
  if (problem) {
    reader.issue(entry.value, `${field}.name`, problem);
    return undefined;
  }
  return { value: text, node: entry.value, field: `${field}.name` };
}

function readHostnames(
  entry: Entry | undefined,
  tenantNode: Node | null,
  field: string,
  tenant: string,
  reader: NodeReader,
  warnings: string[],
): Array<Sourced<string>> {
  const out: Array<Sourced<string>> = [];
  if (!entry) {
    reader.issue(tenantNode, `${field}.hostnames`, 'hostnames is required: list the DNS names this tenant is served on');
    return out;
  }
  const seen = new Set<string>();
  reader.list(entry.value, `${field}.hostnames`, { nonEmpty: true })?.forEach((item, j) => {
    const f = `${field}.hostnames[${j}]`;
    const text = reader.string(item, f);
    if (text === undefined) return;
    const host = normalizeTenantHostname(text);
    if (!host.ok) reader.issue(item, f, host.message);
    // Harmless, but usually a copy-paste slip worth pointing out.
    else if (seen.has(host.value)) warnings.push(`tenant ${tenant}: hostname ${host.value} is listed twice`);
    else {
      seen.add(host.value);
      out.push({ value: host.value, node: item, field: f });
    }
  });
  return out;
}

type MtlsFields = Pick<RawTenant, 'mode' | 'modeNode' | 'ca' | 'crls' | 'staleCrl' | 'exemptPaths' | 'revocation' | 'policies'>;

function readMtls(entry: Entry | undefined, f: string, reader: NodeReader): MtlsFields {
  const defaults: MtlsFields = { mode: CONFIG_DEFAULTS.mtls.mode, modeNode: null, ca: undefined, crls: [], staleCrl: CONFIG_DEFAULTS.mtls.staleCrl, exemptPaths: [], revocation: undefined, policies: undefined };
  if (!entry) return defaults;
  const m = reader.mapping(entry.value, f, CONFIG_KEYS.mtls);
  // Already reported; an unknown mode keeps checks that depend on it from piling on.
  if (!m) return { ...defaults, mode: undefined };

  const modeEntry = m.get('mode');
  const mode = modeEntry ? reader.oneOf(modeEntry.value, `${f}.mode`, MTLS_MODES) : CONFIG_DEFAULTS.mtls.mode;

  const caEntry = m.get('ca');
  const caText = caEntry ? reader.string(caEntry.value, `${f}.ca`) : undefined;
  const ca = caEntry && caText !== undefined ? { value: caText, node: caEntry.value, field: `${f}.ca` } : undefined;

  const crls: Array<Sourced<string>> = [];
  const crlEntry = m.get('crl');
  if (crlEntry) {
    // `crl: a.crl` is a list of one; only a written list gets indexed field names.
    const indexed = !isScalar(crlEntry.value);
    reader.list(crlEntry.value, `${f}.crl`, { single: true })?.forEach((item, j) => {
      const itemField = indexed ? `${f}.crl[${j}]` : `${f}.crl`;
      const text = reader.string(item, itemField);
      if (text !== undefined) crls.push({ value: text, node: item, field: itemField });
    });
  }

  const staleEntry = m.get('stale_crl');
  const staleCrl = (staleEntry && reader.oneOf(staleEntry.value, `${f}.stale_crl`, STALE_CRL_POLICIES)) ?? CONFIG_DEFAULTS.mtls.staleCrl;

  const exemptPaths: string[] = [];
  const exemptEntry = m.get('exempt_paths');
  const exemptItems = exemptEntry ? reader.list(exemptEntry.value, `${f}.exempt_paths`) : [];
  exemptItems?.forEach((item, j) => {
    const text = reader.string(item, `${f}.exempt_paths[${j}]`);
    if (text === undefined) return;
    const problem = checkExemptPath(text);
    if (problem) reader.issue(item, `${f}.exempt_paths[${j}]`, problem);
    else if (!exemptPaths.includes(text)) exemptPaths.push(text);
  });

  const revocation = readRevocation(m.get('revocation'), `${f}.revocation`, reader);
  const policies = readCertificatePolicies(m.get('certificate_policies'), `${f}.certificate_policies`, reader);
  return { mode, modeNode: modeEntry?.value ?? null, ca, crls, staleCrl, exemptPaths, revocation, policies };
}

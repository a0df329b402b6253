import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import type { ParsedCert } from '../core/cert-parse.js';
import { parseCrlBundle, verifyCrlSignature, type ParsedCrl } from '../core/crl.js';
import type { TrustStore } from '../core/tenant.js';
import { parseCaBundle, selectTrustAnchors, type ParsedBundle, type TrustProblem } from '../core/trust-anchor.js';
import { CONFIG_LIMITS } from './defaults.js';
import { describeFsError, readStamped, type StampedRead } from './file-stamp.js';
import type { Anchor, NodeReader } from './node-reader.js';
import type { RawTenant } from './schema.js';

const DAY_MS = 86_400_000;
/** Files read at once; 1,000 tenants must not exhaust file descriptors. */
const READ_CONCURRENCY = 64;

/**
 * A CA bundle after parsing and checking, shared by every tenant that names it.
 * Problems never fail the load: they cost the certificates (or the file) they
 * concern, for the tenants that name the file and no other.
 */
interface CaFile {
  /** The certificates usable as trust anchors now. */
  readonly usable: readonly ParsedCert[];
  /** Why the file, or certificates in it, were set aside. */
  readonly problems: readonly TrustProblem[];
  /** Usable certificates that end within the warning window. */
  readonly expiring: readonly ParsedCert[];
}

type CrlFile = { readonly ok: true; readonly crls: readonly ParsedCrl[] } | { readonly ok: false; readonly error: string };

/** What {@link loadTrustStores} needs from the load in progress. */
export interface TrustContext {
  /** Directory relative `ca` and `crl` paths are resolved against: the config file's. */
  readonly baseDir: string;
  readonly now: number;
  readonly reader: NodeReader;
  /** Receives operator warnings. */
  readonly warnings: string[];
  /** Receives each file read (absolute), with the stamp of the version read. */
  readonly stamps: Map<string, string>;
  /** Parses from the previous load, reused for files whose bytes did not change. */
  readonly previous?: ParseCache | undefined;
}

/**
 * Reads and checks every tenant's CA bundle and CRLs. Each file is read and
 * parsed once per load however many tenants share it, and reads run in parallel,
 * so 1,000 tenants with their own CA load in well under a second or two.
 *
 * Bad trust data is one tenant's problem, never the load's: an unreadable or
 * unparsable CA file, or a certificate that is expired, not yet valid, not a CA,
 * lacks keyCertSign or has a weak key, is set aside with a warning at the `ca`
 * line that named the file (`file:line:col: field: tenant …`), and a tenant left
 * without a usable root (or with an unusable CRL) is kept with no roots, so its
 * devices are denied `tenant_trust_unusable`. Only structural problems (a
 * missing `ca` where one is required) are issues that fail the load.
 */
export async function loadTrustStores(tenants: readonly RawTenant[], ctx: TrustContext): Promise<TrustResult> {
  const caPaths = new Set<string>();
  const crlPaths = new Set<string>();
  // In the order the config names them, each once: the `files` list users see.
  const files = new Set<string>();
  for (const t of tenants) {
    if (!checkMtlsFields(t, ctx)) continue;
    if (t.ca) {
      const p = absolute(ctx.baseDir, t.ca.value);
      caPaths.add(p);
      files.add(p);
    }
    for (const c of t.crls) {
      const p = absolute(ctx.baseDir, c.value);
      crlPaths.add(p);
      files.add(p);
    }
  }

  const reads = await readAll([...caPaths, ...crlPaths]);
  for (const [path, r] of reads) ctx.stamps.set(path, r.stamp);
  const parser = new CachedParser(ctx.previous);
  const caFiles = new Map<string, CaFile>();
  for (const path of caPaths) {
    caFiles.set(path, checkCaFile(reads.get(path), ctx.now, parser));
    await parser.breathe();
  }
  const crlFiles = new Map<string, CrlFile>();
  for (const path of crlPaths) {
    crlFiles.set(path, parseCrlFile(path, reads.get(path), parser));
    await parser.breathe();
  }

  const stores = new Map<number, TrustStore | null>();
  const expiringUsers = new Map<string, string[]>();
  // Problems are told once per CA file (thousands of tenants may share one), at the first tenant that names it.
  const problemUsers = new Map<string, { readonly at: string; readonly users: string[]; readonly unusable: boolean }>();
  for (const t of tenants) {
    if (t.mode === 'off') {
      stores.set(t.index, null);
      continue;
    }
    if (!t.ca) continue;
    const file = absolute(ctx.baseDir, t.ca.value);
    const ca = caFiles.get(file);
    if (!ca) continue;
    const who = tenantLabel(t);
    if (ca.expiring.length > 0) {
      const users = expiringUsers.get(file) ?? [];
      users.push(who);
      expiringUsers.set(file, users);
    }
    const crls = checkTenantCrls(t, ca.usable, crlFiles, ctx);
    const problems = [...ca.problems.map((p) => inFile(p, 'CA file', file)), ...crls.problems];
    if (problems.length > 0) {
      const unusable = ca.usable.length === 0 || crls.problems.length > 0;
      if (ca.problems.length > 0) {
        const seen = problemUsers.get(file);
        if (seen) seen.users.push(who);
        else problemUsers.set(file, { at: where(ctx.reader, t.ca.node, t.ca.field), users: [who], unusable: ca.usable.length === 0 });
      }
      for (const p of crls.problems) ctx.warnings.push(`${where(ctx.reader, p.node, p.field)}: tenant ${who}: ${p.message}; the tenant's devices are denied tenant_trust_unusable until it is fixed`);
      // A CRL that cannot be used would revoke nothing: the tenant fails closed rather than open.
      stores.set(t.index, { roots: unusable ? [] : ca.usable, crls: crls.crls, staleCrl: t.staleCrl, problems: problems.map(stripLocation), ...(t.policies ? { policy: t.policies } : {}) });
      continue;
    }
    stores.set(t.index, { roots: ca.usable, crls: crls.crls, staleCrl: t.staleCrl, ...(t.policies ? { policy: t.policies } : {}) });
  }
  for (const [file, { at, users, unusable }] of problemUsers) {
    const ca = caFiles.get(file);
    const effect = unusable
      ? 'no usable CA certificate is left, so their devices are denied tenant_trust_unusable until it is fixed'
      : `set aside; the file's other ${ca?.usable.length ?? 0} usable CA certificate(s) are still used`;
    for (const p of ca?.problems ?? []) ctx.warnings.push(`${at}: ${tenantsLabel(users)}: CA file ${file}: ${p.message}; ${effect}`);
  }
  for (const [file, users] of expiringUsers) {
    const ca = caFiles.get(file);
    for (const c of ca?.expiring ?? []) {
      const days = Math.max(0, Math.floor((c.notAfter - ctx.now) / DAY_MS));
      ctx.warnings.push(`${tenantsLabel(users)}: CA certificate "${c.subject}" in ${file} expires on ${isoTime(c.notAfter)} (in ${days} days)`);
    }
  }
  return { stores, files: [...files], parsed: parser.used };
}

/** Trust stores by tenant index (`null` for mode `off`), and every CA/CRL file named, absolute. */
export interface TrustResult {
  readonly stores: ReadonlyMap<number, TrustStore | null>;
  readonly files: readonly string[];
  /** The parses this load used, to hand to the next load as {@link TrustContext.previous}. */
  readonly parsed: ParseCache;
}

/**
 * Parsed CA bundles and CRLs keyed by a hash of the file's bytes. A watcher hands
 * the previous load's cache to the next one, so a reload re-parses only the files
 * that changed: parsing is most of a 1,000-tenant load.
 */
export type ParseCache = ReadonlyMap<string, ParsedBundle | readonly ParsedCrl[]>;

/** Parses through a {@link ParseCache}, remembering what this load used; yields to the event loop now and then. */
class CachedParser {
  readonly used = new Map<string, ParsedBundle | readonly ParsedCrl[]>();
  private sinceYield = 0;

  constructor(private readonly previous: ParseCache | undefined) {}

  bundle(data: Buffer): ParsedBundle {
    const key = `bundle:${createHash('sha256').update(data).digest('hex')}`;
    const hit = (this.used.get(key) ?? this.previous?.get(key)) as ParsedBundle | undefined;
    const bundle = hit ?? parseCaBundle(data.toString('utf8'));
    this.used.set(key, bundle);
    this.sinceYield += hit ? 0 : bundle.certs.length;
    return bundle;
  }

  crls(data: Buffer): readonly ParsedCrl[] {
    const key = `crl:${createHash('sha256').update(data).digest('hex')}`;
    const hit = (this.used.get(key) ?? this.previous?.get(key)) as readonly ParsedCrl[] | undefined;
    const crls = hit ?? parseCrlBundle(data);
    this.used.set(key, crls);
    this.sinceYield += hit ? 0 : crls.length;
    return crls;
  }

  /**
   * Parsing a certificate takes about a millisecond; a reload of 1,000 tenants
   * in one synchronous run would stall ext_authz checks for a second. Yielding
   * every few dozen parses keeps check latency flat during a reload.
   */
  async breathe(): Promise<void> {
    if (this.sinceYield < 32) return;
    this.sinceYield = 0;
    await new Promise<void>((done) => setImmediate(done));
  }
}

/**
 * Cross-field rules of one tenant's `mtls`. False when the tenant's files should
 * not be read (mode `off`: they are ignored, with a warning).
 */
function checkMtlsFields(t: RawTenant, ctx: TrustContext): boolean {
  const who = tenantLabel(t);
  if (t.mode === 'off') {
    if (t.ca) ctx.warnings.push(`tenant ${who}: mtls.ca is ignored because mtls.mode is off (client certificates are not checked)`);
    if (t.crls.length > 0) ctx.warnings.push(`tenant ${who}: mtls.crl is ignored because mtls.mode is off`);
    if (t.exemptPaths.length > 0) ctx.warnings.push(`tenant ${who}: mtls.exempt_paths has no effect because mtls.mode is off`);
    return false;
  }
  if (t.mode !== undefined && !t.ca) {
    const defaulted = t.modeNode === null ? ' (the default)' : '';
    ctx.reader.issue(
      t.mtlsNode ?? t.node,
      `${t.field}.mtls.ca`,
      `ca is required when mode is ${t.mode}${defaulted}: give a PEM file with the CA certificates that issue this tenant's client certificates, or set mode: "off" to not check client certificates`,
    );
  }
  if (!t.ca && t.crls.length > 0) return false;
  return true;
}

function checkCaFile(read: StampedRead | undefined, now: number, parser: CachedParser): CaFile {
  if (!read || !read.ok) {
    return { usable: [], problems: [{ code: 'ca_unreadable', message: `cannot be read: ${read ? describeFsError(read.error) : 'not read'}` }], expiring: [] };
  }
  const bundle = parser.bundle(read.data);
  const { usable, problems } = selectTrustAnchors(bundle.certs, { nowMs: now, minRsaBits: CONFIG_LIMITS.minRsaBits });
  const expiring = usable.filter((c) => c.notAfter - now < CONFIG_LIMITS.caExpiryWarningDays * DAY_MS);
  return { usable, problems: [...bundle.problems, ...problems], expiring };
}

/** A problem of a file, for the tenant's status: the message names the file. */
function inFile(p: TrustProblem, what: string, file: string): TrustProblem {
  return { ...p, message: `${what} ${file}: ${p.message}` };
}

function stripLocation(p: TrustProblem & { node?: unknown; field?: unknown }): TrustProblem {
  return { code: p.code, message: p.message, ...(p.subject !== undefined ? { subject: p.subject } : {}) };
}

/** `file:line:col: field`, where a warning points (as issues do), so editors and CI annotate the line. */
function where(reader: NodeReader, node: Anchor, field: string): string {
  const { line, column } = reader.position(node);
  return `${reader.file}${line !== undefined ? `:${line}${column !== undefined ? `:${column}` : ''}` : ''}: ${field}`;
}

function tenantsLabel(users: readonly string[]): string {
  return users.length === 1 ? `tenant ${users[0]}` : `tenants ${users.slice(0, 3).join(', ')}${users.length > 3 ? ` and ${(users.length - 3).toLocaleString('en-US')} more` : ''}`;
}

function parseCrlFile(path: string, read: StampedRead | undefined, parser: CachedParser): CrlFile {
  if (!read || !read.ok) return { ok: false, error: `cannot read CRL file ${path}: ${read ? describeFsError(read.error) : 'not read'}` };
  try {
    const crls = parser.crls(read.data);
    if (crls.length === 0) return { ok: false, error: `CRL file ${path} contains no CRL` };
    return { ok: true, crls };
  } catch (err) {
    return { ok: false, error: `CRL file ${path}: ${(err as Error).message}` };
  }
}

/** A CRL problem of one tenant, with where its file is named. */
type CrlProblem = TrustProblem & { readonly node: Anchor; readonly field: string };

/**
 * A CRL from one of the tenant's own CAs must verify against it: a forged or
 * mismatched list would otherwise silently revoke nothing (or everything). A CRL
 * from another issuer is allowed, because it may belong to an intermediate that
 * clients present, but it cannot be checked here, so the operator is told.
 * A CRL file that cannot be read or used is the tenant's problem alone: it makes
 * the tenant unusable (fail closed), never the load fail.
 */
function checkTenantCrls(t: RawTenant, roots: readonly ParsedCert[], files: ReadonlyMap<string, CrlFile>, ctx: TrustContext): { crls: ParsedCrl[]; problems: CrlProblem[] } {
  const who = tenantLabel(t);
  const out: ParsedCrl[] = [];
  const problems: CrlProblem[] = [];
  for (const entry of t.crls) {
    const path = absolute(ctx.baseDir, entry.value);
    const file = files.get(path);
    if (!file) continue;
    if (!file.ok) {
      problems.push({ code: 'crl_invalid', message: file.error, node: entry.node, field: entry.field });
      continue;
    }
    for (const crl of file.crls) {
      const issuers = roots.filter((r) => r.subject === crl.issuer);
      if (issuers.length > 0 && !issuers.some((r) => verifyCrlSignature(crl, r))) {
        problems.push({
          code: 'crl_invalid',
          message: `CRL file ${path}: the CRL issued by "${crl.issuer}" does not verify against the tenant's CA certificate of that name (signed by another key, an unsupported algorithm, or the CA lacks cRLSign)`,
          node: entry.node,
          field: entry.field,
        });
        continue;
      }
      if (issuers.length === 0) {
        ctx.warnings.push(
          `tenant ${who}: CRL in ${path} is issued by "${crl.issuer}", which is not one of the tenant's CA certificates; it is kept for an intermediate CA that clients present, but its signature cannot be checked at load time`,
        );
      }
      if (crl.nextUpdate !== undefined && crl.nextUpdate < ctx.now) {
        const effect = t.staleCrl === 'deny' ? 'certificates from that issuer are refused until it is refreshed' : 'it is still used as it is';
        ctx.warnings.push(`tenant ${who}: CRL in ${path} (issuer "${crl.issuer}") is stale: its nextUpdate was ${isoTime(crl.nextUpdate)}; with stale_crl: ${t.staleCrl}, ${effect}`);
      }
      if (crl.thisUpdate > ctx.now) {
        ctx.warnings.push(`tenant ${who}: CRL in ${path} (issuer "${crl.issuer}") has a thisUpdate in the future (${isoTime(crl.thisUpdate)}); check the clocks`);
      }
      if (!out.includes(crl)) out.push(crl);
    }
  }
  return { crls: out, problems };
}

/** Reads every path once, at most {@link READ_CONCURRENCY} at a time. */
async function readAll(paths: readonly string[]): Promise<Map<string, StampedRead>> {
  const out = new Map<string, StampedRead>();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const path = paths[next++] as string;
      out.set(path, await readStamped(path));
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, paths.length) }, worker));
  return out;
}

/** `ca` and `crl` are relative to the config file's directory, never to the working directory. */
export function absolute(baseDir: string, path: string): string {
  return isAbsolute(path) ? resolve(path) : resolve(baseDir, path);
}

function tenantLabel(t: RawTenant): string {
  return t.name?.value ?? t.field;
}

/** ISO 8601 without the milliseconds nobody needs in a certificate date. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

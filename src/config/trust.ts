import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { KEY_USAGE, parseCertificateBundle, type ParsedCert } from '../core/cert-parse.js';
import { parseCrlBundle, verifyCrlSignature, type ParsedCrl } from '../core/crl.js';
import type { TrustStore } from '../core/tenant.js';
import { CONFIG_LIMITS } from './defaults.js';
import { describeFsError, readStamped, type StampedRead } from './file-stamp.js';
import type { NodeReader } from './node-reader.js';
import type { RawTenant } from './schema.js';

const DAY_MS = 86_400_000;
/** Files read at once; 1,000 tenants must not exhaust file descriptors. */
const READ_CONCURRENCY = 64;

/** A CA bundle after parsing and checking, shared by every tenant that names it. */
interface CaFile {
  readonly certs: readonly ParsedCert[];
  /** Reasons the bundle cannot be used; any one fails the load. */
  readonly errors: readonly string[];
  /** Certificates that are valid now but end within the warning window. */
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
 * Problems are recorded on `ctx.reader` at the `ca`/`crl` line that named the file.
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
    caFiles.set(path, checkCaFile(path, reads.get(path), ctx.now, parser));
    await parser.breathe();
  }
  const crlFiles = new Map<string, CrlFile>();
  for (const path of crlPaths) {
    crlFiles.set(path, parseCrlFile(path, reads.get(path), parser));
    await parser.breathe();
  }

  const stores = new Map<number, TrustStore | null>();
  const expiringUsers = new Map<string, string[]>();
  for (const t of tenants) {
    if (t.mode === 'off') {
      stores.set(t.index, null);
      continue;
    }
    if (!t.ca) continue;
    const ca = caFiles.get(absolute(ctx.baseDir, t.ca.value));
    if (!ca) continue;
    for (const e of ca.errors) ctx.reader.issue(t.ca.node, t.ca.field, e);
    const who = tenantLabel(t);
    if (ca.expiring.length > 0) {
      // One warning per CA file, not per tenant: thousands of tenants may share one CA.
      const file = absolute(ctx.baseDir, t.ca.value);
      const users = expiringUsers.get(file) ?? [];
      users.push(who);
      expiringUsers.set(file, users);
    }
    const crls = checkTenantCrls(t, ca.certs, crlFiles, ctx);
    if (ca.errors.length === 0) stores.set(t.index, { roots: ca.certs, crls, staleCrl: t.staleCrl });
  }
  for (const [file, users] of expiringUsers) {
    const ca = caFiles.get(file);
    const who = users.length === 1 ? `tenant ${users[0]}` : `tenants ${users.slice(0, 3).join(', ')}${users.length > 3 ? ` and ${(users.length - 3).toLocaleString('en-US')} more` : ''}`;
    for (const c of ca?.expiring ?? []) {
      const days = Math.max(0, Math.floor((c.notAfter - ctx.now) / DAY_MS));
      ctx.warnings.push(`${who}: CA certificate "${c.subject}" in ${file} expires on ${isoTime(c.notAfter)} (in ${days} days)`);
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
export type ParseCache = ReadonlyMap<string, readonly ParsedCert[] | readonly ParsedCrl[]>;

/** Parses through a {@link ParseCache}, remembering what this load used; yields to the event loop now and then. */
class CachedParser {
  readonly used = new Map<string, readonly ParsedCert[] | readonly ParsedCrl[]>();
  private sinceYield = 0;

  constructor(private readonly previous: ParseCache | undefined) {}

  certs(data: Buffer, text: string): readonly ParsedCert[] {
    const key = `cert:${createHash('sha256').update(data).digest('hex')}`;
    const hit = (this.used.get(key) ?? this.previous?.get(key)) as readonly ParsedCert[] | undefined;
    const certs = hit ?? parseCertificateBundle(text);
    this.used.set(key, certs);
    this.sinceYield += hit ? 0 : certs.length;
    return certs;
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

function checkCaFile(path: string, read: StampedRead | undefined, now: number, parser: CachedParser): CaFile {
  if (!read || !read.ok) {
    return { certs: [], errors: [`cannot read CA file ${path}: ${read ? describeFsError(read.error) : 'not read'}`], expiring: [] };
  }
  const text = read.data.toString('utf8');
  if (!text.includes('-----BEGIN CERTIFICATE-----')) {
    return { certs: [], errors: [`CA file ${path} contains no certificate (expected PEM blocks starting with -----BEGIN CERTIFICATE-----)`], expiring: [] };
  }
  let parsed: readonly ParsedCert[];
  try {
    parsed = parser.certs(read.data, text);
  } catch (err) {
    return { certs: [], errors: [`CA file ${path}: ${(err as Error).message}`], expiring: [] };
  }
  // The same certificate twice in a bundle is harmless; keep one.
  const certs = parsed.filter((c, i) => parsed.findIndex((o) => o.fingerprint256 === c.fingerprint256) === i);
  const errors: string[] = [];
  const expiring: ParsedCert[] = [];
  for (const c of certs) {
    const problem = unusableAsTrustAnchor(c, now);
    if (problem !== undefined) errors.push(`CA file ${path}: certificate "${c.subject}" ${problem}`);
    else if (c.notAfter - now < CONFIG_LIMITS.caExpiryWarningDays * DAY_MS) expiring.push(c);
  }
  return { certs, errors, expiring };
}

/** Why a certificate cannot anchor a tenant's client certificate paths at `now`, or undefined. */
export function unusableAsTrustAnchor(c: ParsedCert, now: number): string | undefined {
  if (!c.isCa) {
    return 'is not a CA certificate (basicConstraints cA is absent or false); ca must hold the CA that issues client certificates, not a client certificate';
  }
  // RFC 5280 §4.2.1.3: when keyUsage is present, keyCertSign must be set for a key that signs certificates.
  if (c.keyUsage !== undefined && (c.keyUsage & KEY_USAGE.keyCertSign) === 0) {
    return 'has a keyUsage extension without keyCertSign, so it may not sign certificates';
  }
  if (c.notAfter < now) return `expired on ${isoTime(c.notAfter)}`;
  if (c.notBefore > now) return `is not valid until ${isoTime(c.notBefore)}`;
  if ((c.keyType === 'rsa' || c.keyType === 'rsa-pss') && c.keyBits < CONFIG_LIMITS.minRsaBits) {
    return `has a ${c.keyBits}-bit RSA key; at least ${CONFIG_LIMITS.minRsaBits} bits are required`;
  }
  return undefined;
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

/**
 * A CRL from one of the tenant's own CAs must verify against it: a forged or
 * mismatched list would otherwise silently revoke nothing (or everything). A CRL
 * from another issuer is allowed, because it may belong to an intermediate that
 * clients present, but it cannot be checked here, so the operator is told.
 */
function checkTenantCrls(t: RawTenant, roots: readonly ParsedCert[], files: ReadonlyMap<string, CrlFile>, ctx: TrustContext): ParsedCrl[] {
  const who = tenantLabel(t);
  const out: ParsedCrl[] = [];
  for (const entry of t.crls) {
    const path = absolute(ctx.baseDir, entry.value);
    const file = files.get(path);
    if (!file) continue;
    if (!file.ok) {
      ctx.reader.issue(entry.node, entry.field, file.error);
      continue;
    }
    for (const crl of file.crls) {
      const issuers = roots.filter((r) => r.subject === crl.issuer);
      if (issuers.length > 0 && !issuers.some((r) => verifyCrlSignature(crl, r))) {
        ctx.reader.issue(
          entry.node,
          entry.field,
          `CRL file ${path}: the CRL issued by "${crl.issuer}" does not verify against the tenant's CA certificate of that name (signed by another key, an unsupported algorithm, or the CA lacks cRLSign)`,
        );
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
  return out;
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

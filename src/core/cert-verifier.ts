import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BouncerError } from './errors.js';
import { parseCertificateBundle, parseCertificateDer, splitPemCertificates, type ParsedCert } from './cert-parse.js';
import { verifyClientChain, type ChainResult } from './cert-path.js';
import type { Tenant } from './tenant.js';
import { trustProblemsAt, trustStatusAt } from './trust-anchor.js';

/** A presented client certificate: the leaf PEM and any intermediates, as decoded text. */
export interface PresentedCert {
  readonly leafPem: string;
  /** PEM bundle of intermediates (may also contain the leaf, as Envoy's XFCC Chain does). */
  readonly chainPem: string | undefined;
}

/**
 * The chain verdict plus, on failure, the parsed leaf when it could be parsed, so
 * denials can still be audited with the presented certificate's fingerprint.
 */
export type CertVerdict = ChainResult & { readonly cached: boolean; readonly presentedLeaf?: ParsedCert };

type Computed = ChainResult & { readonly presentedLeaf?: ParsedCert };

export interface CertVerifierOptions {
  /** Bound on cached results. */
  maxEntries: number;
  /** Longest a result is reused, in ms; a success never outlives the chain's validity. */
  ttlMs: number;
  /** Failures are cached briefly so a client retrying a bad chain costs one map read. */
  failureTtlMs?: number;
  /** Bound, in characters, on the raw request fields kept for exact comparison (default {@link RECENT_FIELDS_BUDGET}). */
  recentFieldsBudget?: number;
}

export interface CertVerifier {
  verify(tenant: Tenant, presented: PresentedCert, nowMs: number): CertVerdict;
  /**
   * The request path: like {@link CertVerifier.verify}, but starting from the
   * raw request fields, so that reading them (XFCC parsing, URL decoding, the
   * peer/XFCC comparison) runs only when this exact combination is new.
   * Optional so that stand-ins in tests need only `verify`.
   */
  verifyRequest?(tenant: Tenant, raw: RawCertFields, nowMs: number, read: () => CertReading): RequestCertVerdict;
  readonly size: number;
}

/**
 * Every input a reading of the request's certificate depends on. A reading is
 * a pure function of these, which is what makes remembering it safe.
 */
export interface RawCertFields {
  readonly peerCertificate: string | undefined;
  /** The peer certificate as Envoy sends it (URL-encoded), when not yet decoded. */
  readonly peerCertificateEncoded?: string | undefined;
  readonly xfcc: string | undefined;
  readonly trustedHop: boolean;
  readonly maxElements: number;
}

/** What a request's certificate fields say, before any tenant's trust is consulted. */
export type CertReading =
  | { readonly kind: 'refused'; readonly reason: 'xfcc_malformed' | 'xfcc_unexpected_elements' | 'xfcc_mismatch' | 'xfcc_untrusted'; readonly detail: string }
  | { readonly kind: 'none' }
  | { readonly kind: 'presented'; readonly cert: PresentedCert };

export type RequestCertVerdict = Exclude<CertReading, { kind: 'presented' }> | { readonly kind: 'verdict'; readonly verdict: CertVerdict };

/** A remembered reading: a presented certificate is kept as its digest only (the verdict cache holds the rest). */
type Reading = Exclude<CertReading, { kind: 'presented' }> | { readonly kind: 'presented'; readonly digest: string };

interface Entry {
  readonly result: Computed;
  readonly expiresAt: number;
  /** The answer for a cache hit, built once rather than on every hit. */
  readonly hit: CertVerdict;
}

/** Distinct intermediates kept parsed; real tenants have a handful each. */
const MAX_PARSED_INTERMEDIATES = 1024;

/**
 * Length-prefixed concatenation, hashed: no two different inputs share a key
 * (the lengths make the concatenation unambiguous, SHA-256 makes a collision
 * infeasible), so a client cannot craft fields that borrow another's verdict.
 */
function digestOf(parts: readonly (string | undefined)[]): string {
  let head = '';
  let body = '';
  for (const p of parts) {
    head += `${p === undefined ? -1 : p.length}:`;
    if (p !== undefined) body += p;
  }
  return hash('sha256', head + body, 'base64');
}

/**
 * The key of a request's raw certificate fields. A SHA-256 of the fields: a
 * string key of the same kilobytes would make the map hash every character of
 * a fresh string, which measured slower than the digest.
 */
function rawKeyOf(raw: RawCertFields): string {
  return digestOf([raw.trustedHop ? '1' : '0', String(raw.maxElements), raw.peerCertificate, raw.peerCertificateEncoded, raw.xfcc]);
}

/** Characters taken from each end of each field for {@link fingerprintOf}. */
const FINGERPRINT_EDGE = 64;

const edges = (s: string | undefined): string =>
  s === undefined ? '-' : s.length <= 2 * FINGERPRINT_EDGE ? `${s.length}:${s}` : `${s.length}:${s.slice(0, FINGERPRINT_EDGE)}${s.slice(-FINGERPRINT_EDGE)}`;

/**
 * A short key for the raw fields, from their lengths and both ends: where a
 * certificate's serial number, its signature and XFCC's `Hash` sit, so
 * different devices differ in it. It is not unique, and need not be: an entry
 * found by it is used only when every field is equal to the request's.
 */
function fingerprintOf(raw: RawCertFields): string {
  return `${raw.trustedHop ? 1 : 0}${raw.maxElements}|${edges(raw.peerCertificate)}|${edges(raw.peerCertificateEncoded)}|${edges(raw.xfcc)}`;
}

function sameFields(a: RawCertFields, b: RawCertFields): boolean {
  return (
    a.trustedHop === b.trustedHop &&
    a.maxElements === b.maxElements &&
    a.peerCertificate === b.peerCertificate &&
    a.peerCertificateEncoded === b.peerCertificateEncoded &&
    a.xfcc === b.xfcc
  );
}

const fieldsSize = (raw: RawCertFields): number => 64 + (raw.peerCertificate?.length ?? 0) + (raw.peerCertificateEncoded?.length ?? 0) + (raw.xfcc?.length ?? 0);

/** A recent request's raw fields, kept whole so that a later request can be compared with them exactly. */
interface Recent {
  readonly raw: RawCertFields;
  readonly reading: Reading;
  /**
   * The verdict last found for these fields, and for which tenant: a device's
   * next request then skips building the verdict cache's key and looking it
   * up. A verdict stays true for its tenant until it expires, whether or not
   * the verdict cache has since dropped it for room.
   */
  last?: { readonly tenant: string; readonly entry: Entry };
}

/** Most characters of raw fields kept in {@link Recent} entries (each device's are a few kilobytes). */
export const RECENT_FIELDS_BUDGET = 32 * 1024 * 1024;

/**
 * Verifies client chains for a tenant and remembers the outcome per
 * (tenant, SHA-256 of what was presented). Parsing and signature checks run once
 * per distinct chain; a repeat request from a recent device costs a short
 * fingerprint of its raw certificate fields, an exact comparison and two map
 * reads, and one from a device seen longer ago a hash of those fields instead
 * of the comparison. Build a new
 * verifier when tenants' trust changes (config reload) so no stale result survives.
 */
export function createCertVerifier(options: CertVerifierOptions): CertVerifier {
  const failureTtl = options.failureTtlMs ?? Math.min(10_000, options.ttlMs);
  const cache = new LRUCache<string, Entry>({ max: options.maxEntries });
  // A parsed certificate keeps its public key once built (100+ µs with OpenSSL 3),
  // so an intermediate is parsed, and its key made, once rather than per device.
  const parsedIntermediates = new LRUCache<string, ParsedCert>({ max: MAX_PARSED_INTERMEDIATES });

  function compute(tenant: Tenant, presented: PresentedCert, nowMs: number): Computed {
    const trust = tenant.mtls.trust;
    if (!trust) return { ok: false, reason: 'client_cert_untrusted', detail: `tenant ${tenant.name} has no CA configured` };
    // No root usable at load, or every one has expired since: the tenant's trust
    // data is at fault, not the device, and the reason says so.
    if (trustStatusAt(trust, nowMs) === 'unusable') {
      const why = trustProblemsAt(trust, nowMs).map((p) => p.message).join('; ');
      return { ok: false, reason: 'tenant_trust_unusable', detail: `tenant ${tenant.name} has no usable CA certificate: ${why}` };
    }
    let leaf: ParsedCert;
    const intermediates: ParsedCert[] = [];
    try {
      const leaves = parseCertificateBundle(presented.leafPem);
      if (leaves.length !== 1) {
        return { ok: false, reason: 'client_cert_malformed', detail: `expected one leaf certificate, got ${leaves.length}` };
      }
      leaf = leaves[0] as ParsedCert;
      if (presented.chainPem) {
        const blocks = splitPemCertificates(presented.chainPem);
        if (blocks.length === 0) throw new BouncerError('ERR_CERT_PARSE', 'no PEM certificate found');
        // Envoy's Chain repeats the leaf; every other block is an intermediate,
        // shared by all devices of a CA, so parsed ones are kept.
        for (const der of blocks) {
          if (der.equals(leaf.der)) continue;
          const id = hash('sha256', der, 'base64');
          let cert = parsedIntermediates.get(id);
          if (!cert) {
            cert = parseCertificateDer(der);
            parsedIntermediates.set(id, cert);
          }
          intermediates.push(cert);
        }
      }
    } catch (err) {
      const msg = err instanceof BouncerError ? err.message : String(err);
      return { ok: false, reason: 'client_cert_malformed', detail: msg };
    }
    const result = verifyClientChain(leaf, intermediates, trust, nowMs);
    return result.ok ? result : { ...result, presentedLeaf: leaf };
  }

  const reads = new LRUCache<string, Reading>({ max: options.maxEntries });
  const recent = new LRUCache<string, Recent>({
    max: options.maxEntries,
    maxSize: options.recentFieldsBudget ?? RECENT_FIELDS_BUDGET,
    sizeCalculation: (entry) => fieldsSize(entry.raw),
  });

  /** The verdict for `digest` and whether it came from the cache, with the entry kept for it (if any). */
  function verifyDigest(tenant: Tenant, presented: PresentedCert, digest: string, nowMs: number): { verdict: CertVerdict; entry: Entry | undefined } {
    const key = `${tenant.name.length}:${tenant.name}${digest}`;
    const hit = cache.get(key);
    if (hit && hit.expiresAt > nowMs) return { verdict: hit.hit, entry: hit };
    const result = compute(tenant, presented, nowMs);
    const expiresAt = result.ok ? Math.min(result.validUntil, nowMs + options.ttlMs) : nowMs + failureTtl;
    let entry: Entry | undefined;
    if (expiresAt > nowMs) cache.set(key, (entry = { result, expiresAt, hit: { ...result, cached: true } }));
    return { verdict: { ...result, cached: false }, entry };
  }

  return {
    verify(tenant, presented, nowMs) {
      return verifyDigest(tenant, presented, digestOf([presented.leafPem, presented.chainPem]), nowMs).verdict;
    },
    verifyRequest(tenant, raw, nowMs, read) {
      // A device that sent these exact fields recently is found without hashing
      // them (a SHA-256 of the ~6 KB of certificate and XFCC text was the
      // largest single cost of a warm check); anything else by their digest.
      const fingerprint = fingerprintOf(raw);
      let seen = recent.get(fingerprint);
      let known: Reading | undefined;
      let rawKey: string | undefined;
      if (seen !== undefined && sameFields(seen.raw, raw)) {
        known = seen.reading;
        const last = seen.last;
        if (last !== undefined && last.tenant === tenant.name && last.entry.expiresAt > nowMs) return { kind: 'verdict', verdict: last.entry.hit };
      } else {
        seen = undefined;
        rawKey = rawKeyOf(raw);
        known = reads.get(rawKey);
        if (known !== undefined) recent.set(fingerprint, (seen = { raw, reading: known }));
      }
      if (known !== undefined) {
        if (known.kind !== 'presented') return known;
        const hit = cache.get(`${tenant.name.length}:${tenant.name}${known.digest}`);
        if (hit && hit.expiresAt > nowMs) {
          if (seen !== undefined) seen.last = { tenant: tenant.name, entry: hit };
          return { kind: 'verdict', verdict: hit.hit };
        }
      }
      // New fields, or a verdict that expired or was evicted: read them again in full.
      const reading = read();
      rawKey ??= rawKeyOf(raw);
      if (reading.kind !== 'presented') {
        reads.set(rawKey, reading);
        recent.set(fingerprint, { raw, reading });
        return reading;
      }
      const digest = digestOf([reading.cert.leafPem, reading.cert.chainPem]);
      const remembered: Reading = { kind: 'presented', digest };
      reads.set(rawKey, remembered);
      const { verdict, entry } = verifyDigest(tenant, reading.cert, digest, nowMs);
      recent.set(fingerprint, { raw, reading: remembered, ...(entry ? { last: { tenant: tenant.name, entry } } : {}) });
      return { kind: 'verdict', verdict };
    },
    get size() {
      return cache.size;
    },
  };
}

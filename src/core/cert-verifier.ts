import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { BouncerError } from './errors.js';
import { parseCertificateBundle, type ParsedCert } from './cert-parse.js';
import { verifyClientChain, type ChainResult } from './cert-path.js';
import type { Tenant } from './tenant.js';

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
}

export interface CertVerifier {
  verify(tenant: Tenant, presented: PresentedCert, nowMs: number): CertVerdict;
  readonly size: number;
}

interface Entry {
  readonly result: Computed;
  readonly expiresAt: number;
}

/**
 * Verifies client chains for a tenant and remembers the outcome per
 * (tenant, SHA-256 of what was presented). Parsing and signature checks run once
 * per distinct chain; repeat requests cost one hash and one map read. Build a new
 * verifier when tenants' trust changes (config reload) so no stale result survives.
 */
export function createCertVerifier(options: CertVerifierOptions): CertVerifier {
  const failureTtl = options.failureTtlMs ?? Math.min(10_000, options.ttlMs);
  const cache = new LRUCache<string, Entry>({ max: options.maxEntries });

  function compute(tenant: Tenant, presented: PresentedCert, nowMs: number): Computed {
    const trust = tenant.mtls.trust;
    if (!trust) return { ok: false, reason: 'client_cert_untrusted', detail: `tenant ${tenant.name} has no CA configured` };
    let leaf: ParsedCert;
    let intermediates: ParsedCert[] = [];
    try {
      const leaves = parseCertificateBundle(presented.leafPem);
      if (leaves.length !== 1) {
        return { ok: false, reason: 'client_cert_malformed', detail: `expected one leaf certificate, got ${leaves.length}` };
      }
      leaf = leaves[0] as ParsedCert;
      if (presented.chainPem) {
        intermediates = parseCertificateBundle(presented.chainPem).filter((c) => c.fingerprint256 !== leaf.fingerprint256);
      }
    } catch (err) {
      const msg = err instanceof BouncerError ? err.message : String(err);
      return { ok: false, reason: 'client_cert_malformed', detail: msg };
    }
    const result = verifyClientChain(leaf, intermediates, trust, nowMs);
    return result.ok ? result : { ...result, presentedLeaf: leaf };
  }

  return {
    verify(tenant, presented, nowMs) {
      const key = createHash('sha256')
        .update(tenant.name)
        .update('\0')
        .update(presented.leafPem)
        .update('\0')
        .update(presented.chainPem ?? '')
        .digest('base64');
      const hit = cache.get(key);
      if (hit && hit.expiresAt > nowMs) return { ...hit.result, cached: true };
      const result = compute(tenant, presented, nowMs);
      const expiresAt = result.ok ? Math.min(result.validUntil, nowMs + options.ttlMs) : nowMs + failureTtl;
      if (expiresAt > nowMs) cache.set(key, { result, expiresAt });
      return { ...result, cached: false };
    },
    get size() {
      return cache.size;
    },
  };
}

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { ParsedCert } from '../core/cert-parse.js';
import { normalizeSerialHex } from '../core/crl.js';
import type { RevocationAnswer, RevocationPolicy, RevocationView } from '../core/revocation-policy.js';
import { readRevocationSources } from '../core/revocation-sources.js';
import type { Tenant } from '../core/tenant.js';
import type { CrlFetcher } from './crl-fetcher.js';
import type { RevocationMetrics } from './metrics.js';
import type { OcspChecker } from './ocsp-checker.js';

const PASS: RevocationAnswer = { kind: 'pass' };

/** Soft-fails already counted, so a certificate without a CRL is counted once, not per request. */
const SOFT_FAILS_REMEMBERED = 10_000;

export interface RevocationViewDeps {
  readonly ocsp: OcspChecker;
  readonly crls?: CrlFetcher | undefined;
  readonly logger?: Logger | undefined;
  readonly metrics?: RevocationMetrics | undefined;
}

/**
 * The decision core's view of network revocation for the leaf certificate:
 * first its issuer's fetched CRL (src/revocation/crl-fetcher.ts), then OCSP
 * (src/revocation/ocsp-checker.ts). Synchronous, from memory: per request a
 * few map reads, never a fetch. Intermediates are covered by the tenant's
 * configured CRL files (`mtls.crl`), not by these.
 */
export function createRevocationView(deps: RevocationViewDeps): RevocationView {
  const counted = new LRUCache<string, true>({ max: SOFT_FAILS_REMEMBERED });

  function crlAnswer(tenant: Tenant, policy: RevocationPolicy, leaf: ParsedCert, issuer: ParsedCert, nowMs: number): RevocationAnswer {
    // A CRL whose issuingDistributionPoint the leaf does not name says nothing about it: as if none were fetched.
    const found = deps.crls?.lookup(tenant.name, issuer, nowMs, leaf);
    if (found) {
      if (found.crl.revokedSerials.has(normalizeSerialHex(leaf.serial))) {
        return { kind: 'deny', reason: 'client_cert_revoked', detail: `certificate ${leaf.subject} (serial ${leaf.serial}) is listed on the CRL from ${found.url}` };
      }
      if (found.stale && tenant.mtls.trust?.staleCrl !== 'use') {
        return { kind: 'deny', reason: 'client_cert_crl_stale', detail: `the CRL of ${issuer.subject} from ${found.url} is past its nextUpdate and could not be refreshed` };
      }
      return PASS;
    }
    const settled = deps.crls?.discover(tenant, issuer, policy.crlDistributionPoints ? readRevocationSources(leaf).crl : []);
    if (policy.crl === 'require') {
      return { kind: 'deny', reason: 'client_cert_crl_unavailable', detail: `no verified CRL of ${issuer.subject} has been fetched`, settled };
    }
    const key = `${tenant.name}\n${leaf.fingerprint256}`;
    if (!counted.has(key)) {
      counted.set(key, true);
      deps.metrics?.crlSoftFail.inc({ tenant: tenant.name, reason: 'no_crl' });
      deps.logger?.warn({ tenant: tenant.name, reason: 'no_crl', serial: leaf.serial, issuer: issuer.subject }, 'crl soft-fail: client certificate allowed without a fetched CRL');
    }
    return PASS;
  }

  return {
    check(tenant: Tenant, chain: readonly ParsedCert[], nowMs: number): RevocationAnswer {
      const policy = tenant.mtls.revocation;
      const leaf = chain[0];
      const issuer = chain[1];
      if (policy === undefined || leaf === undefined || issuer === undefined) return PASS;
      if (policy.crl !== 'off') {
        const answer = crlAnswer(tenant, policy, leaf, issuer, nowMs);
        if (answer.kind === 'deny') return answer;
      }
      if (policy.ocsp !== 'off') return deps.ocsp.answer(tenant, policy.ocsp, policy.ocspUrl, leaf, issuer, nowMs);
      return PASS;
    },
  };
}

import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { ParsedCert } from '../core/cert-parse.js';
import { normalizeSerialHex } from '../core/crl.js';
import type { RevocationAnswer, RevocationPolicy, RevocationView } from '../core/revocation-policy.js';
import { ALL_REASONS, reasonsCovered } from '../core/crl-scope.js';
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
 * The decision core's view of network revocation for the leaf certificate,
 * and with `mtls.revocation.intermediates` for every CA certificate below the
 * trust anchor: first the issuer's fetched CRL (src/revocation/crl-fetcher.ts),
 * then OCSP (src/revocation/ocsp-checker.ts). Synchronous, from memory: per
 * request a few map reads per certificate, never a fetch. Without
 * `intermediates`, CA certificates are covered by the tenant's configured CRL
 * files (`mtls.crl`) only.
 */
export function createRevocationView(deps: RevocationViewDeps): RevocationView {
  const counted = new LRUCache<string, true>({ max: SOFT_FAILS_REMEMBERED });

  function crlAnswer(tenant: Tenant, policy: RevocationPolicy, cert: ParsedCert, issuer: ParsedCert, nowMs: number): RevocationAnswer {
    // A CRL whose issuingDistributionPoint the certificate does not name says nothing about it: as if none were fetched.
    const found = deps.crls?.lookup(tenant.name, issuer, nowMs, cert);
    if (found?.crl.revokedSerials.has(normalizeSerialHex(cert.serial))) {
      return { kind: 'deny', reason: 'client_cert_revoked', detail: `certificate ${cert.subject} (serial ${cert.serial}) is listed on the CRL from ${found.url}` };
    }
    // A CRL limited to some revocation reasons cannot say "not revoked" alone.
    if (found && reasonsCovered(found.crl) === ALL_REASONS) {
      if (found.stale && tenant.mtls.trust?.staleCrl !== 'use') {
        return { kind: 'deny', reason: 'client_cert_crl_stale', detail: `the CRL of ${issuer.subject} from ${found.url} is past its nextUpdate and could not be refreshed` };
      }
      return PASS;
    }
    const settled = deps.crls?.discover(tenant, issuer, policy.crlDistributionPoints ? readRevocationSources(cert).crl : []);
    if (policy.crl === 'require') {
      return { kind: 'deny', reason: 'client_cert_crl_unavailable', detail: `no verified CRL of ${issuer.subject} covering ${cert.subject} has been fetched`, settled };
    }
    const key = `${tenant.name}\n${cert.fingerprint256}`;
    if (!counted.has(key)) {
      counted.set(key, true);
      deps.metrics?.crlSoftFail.inc({ tenant: tenant.name, reason: 'no_crl' });
      deps.logger?.warn({ tenant: tenant.name, reason: 'no_crl', serial: cert.serial, subject: cert.subject, issuer: issuer.subject }, 'crl soft-fail: certificate allowed without a fetched CRL');
    }
    return PASS;
  }

  /** The network revocation answer for `cert`, issued by `issuer`: its issuer's fetched CRL first, then OCSP. */
  function linkAnswer(tenant: Tenant, policy: RevocationPolicy, cert: ParsedCert, issuer: ParsedCert, ocspUrl: string | undefined, nowMs: number): RevocationAnswer {
    if (policy.crl !== 'off') {
      const answer = crlAnswer(tenant, policy, cert, issuer, nowMs);
      if (answer.kind === 'deny') return answer;
    }
    if (policy.ocsp !== 'off') return deps.ocsp.answer(tenant, policy.ocsp, ocspUrl, cert, issuer, nowMs);
    return PASS;
  }

  return {
    check(tenant: Tenant, chain: readonly ParsedCert[], nowMs: number): RevocationAnswer {
      const policy = tenant.mtls.revocation;
      const leaf = chain[0];
      const issuer = chain[1];
      if (policy === undefined || leaf === undefined || issuer === undefined) return PASS;
      const first = linkAnswer(tenant, policy, leaf, issuer, policy.ocspUrl, nowMs);
      if (first.kind === 'deny' || policy.intermediates !== true) return first;
      // Each CA certificate below the anchor, against its own issuer. The configured
      // ocsp_url serves the leaves; a CA certificate's responder is the one it names.
      for (let i = 1; i < chain.length - 1; i++) {
        const answer = linkAnswer(tenant, policy, chain[i] as ParsedCert, chain[i + 1] as ParsedCert, undefined, nowMs);
        if (answer.kind === 'deny') return answer;
      }
      return PASS;
    },
  };
}

import type { ParsedCert } from '../core/cert-parse.js';
import type { RevocationAnswer, RevocationView } from '../core/revocation-policy.js';
import type { Tenant } from '../core/tenant.js';
import type { OcspChecker } from './ocsp-checker.js';

const PASS: RevocationAnswer = { kind: 'pass' };

/**
 * The decision core's view of network revocation: the leaf's status from the
 * OCSP cache (src/revocation/ocsp-checker.ts). Only the leaf is asked about;
 * intermediates are covered by the tenant's configured CRLs. Synchronous, from
 * memory: a lookup keyed by tenant and certificate per request, nothing more.
 */
export function createRevocationView(deps: { readonly ocsp: OcspChecker }): RevocationView {
  return {
    check(tenant: Tenant, chain: readonly ParsedCert[], nowMs: number): RevocationAnswer {
      const policy = tenant.mtls.revocation;
      const leaf = chain[0];
      const issuer = chain[1];
      if (policy === undefined || leaf === undefined || issuer === undefined) return PASS;
      if (policy.ocsp !== 'off') return deps.ocsp.answer(tenant, policy.ocsp, policy.ocspUrl, leaf, issuer, nowMs);
      return PASS;
    },
  };
}

import { checkAlgorithms, checkIssuers, checkLeaf, checkValidity } from './cert-path-checks.js';
import { createContext, type Context } from './cert-path-context.js';
import { fail, type ChainOptions, type ChainResult, type Failure } from './cert-path-result.js';
import { checkRevocation } from './cert-path-revocation.js';
import { explainNoPath, findPaths, MAX_CHAIN_DEPTH } from './cert-path-search.js';
import { checkCertificatePolicies, DEFAULT_POLICY_INPUTS } from './cert-policy.js';
import { checkCriticalExtensions, checkEncoding, checkNameConstraints, checkProfile } from './cert-profile.js';
import type { ParsedCert } from './parsed-cert.js';
import type { TrustStore } from './tenant.js';

export type { ChainOptions, ChainResult } from './cert-path-result.js';
export { MAX_CHAIN_DEPTH } from './cert-path-search.js';

/** Bound on complete candidate paths that are fully validated before giving up. */
const MAX_PATHS_VALIDATED = 8;

/**
 * Validates one complete candidate path. The order decides which reason a
 * client sees when several things are wrong, from the most basic to the most
 * specific: validity window, then leaf purpose (CA leaf, EKU, key usage), then
 * issuer constraints (cA, keyCertSign, pathLen, EKU chaining), then critical
 * extensions, then algorithm and key strength, then revocation (the costliest,
 * needing CRL signature checks).
 */
function validatePath(ctx: Context, path: readonly ParsedCert[]): ChainResult {
  const early =
    checkValidity(path, ctx.nowMs) ??
    checkEncoding(path) ??
    checkLeaf(path, ctx.options) ??
    checkIssuers(path) ??
    checkProfile(path) ??
    checkCriticalExtensions(path) ??
    checkCertificatePolicies(path, ctx.trust.policy ?? DEFAULT_POLICY_INPUTS) ??
    checkNameConstraints(path) ??
    checkAlgorithms(path);
  if (early) return early;
  const revocation = checkRevocation(ctx, path);
  if ('ok' in revocation) return revocation;
  const certsValidUntil = Math.min(...path.map((c) => c.notAfter));
  return { ok: true, chain: path, validUntil: Math.min(certsValidUntil, revocation.crlValidUntil) };
}

/**
 * Validates a client certificate path per RFC 5280 §6.1 against one
 * tenant's trust store, at `nowMs`. Never throws: an unexpected error becomes
 * `client_cert_chain_invalid`.
 *
 * Order of checks (the first failure is reported):
 * 1. A leaf that is itself a trust anchor is a CA, not a client: `client_cert_is_ca`.
 * 2. Path building: from the leaf, follow issuer names to candidates among the
 *    presented intermediates and `trust.roots`, keeping a link only when its
 *    signature verifies (weak algorithms included, so weakness is reported by
 *    step 11 rather than as distrust). No path: `client_cert_untrusted`; a path
 *    longer than {@link MAX_CHAIN_DEPTH}: `client_cert_chain_invalid`.
 *    Any certificate of `trust.roots` ends a path (it may be a pinned
 *    intermediate); the anchor's own signature is not checked.
 * 3. Validity of every certificate: `client_cert_expired` / `client_cert_not_yet_valid`.
 * 4. Encoding, every certificate: a repeated extension (`client_cert_duplicate_extension`),
 *    one that does not decode (`client_cert_extension_malformed`), explicit EC
 *    curve parameters (`client_cert_ec_explicit_params`).
 * 5. Leaf: not a CA (`client_cert_is_ca`); EKU present with clientAuth
 *    (`client_cert_bad_eku`; anyExtendedKeyUsage alone is not enough; see
 *    {@link ChainOptions.allowLeafWithoutEku}); key usage, if present, allows
 *    signing (`client_cert_chain_invalid`).
 * 6. Issuers: cA, keyCertSign, pathLen (`client_cert_chain_invalid`); EKU
 *    chaining (`client_cert_bad_eku`).
 * 7. RFC 5280 profile rules, anchor included (see cert-profile.ts), each with its code.
 * 8. Critical extensions bouncer does not process, anchor included:
 *    `client_cert_critical_extension`.
 * 9. Certificate policies (RFC 5280 §6.1, see cert-policy.ts) with the tenant's
 *    inputs (`trust.policy`, RFC 5280's defaults when absent):
 *    `client_cert_policy_invalid`, `client_cert_policy_mismatch`,
 *    `client_cert_policy_too_complex`.
 * 10. Name constraints of every CA, anchor included: `client_cert_name_constraints`,
 *    `client_cert_name_constraints_invalid`, `client_cert_name_constraints_too_complex`.
 * 11. Signature algorithms of every relied-on link (`client_cert_weak_signature`,
 *    `client_cert_signature_unsupported`) and every key, anchor included (`client_cert_weak_key`).
 * 12. Revocation against `trust.crls`: `client_cert_revoked`, `client_cert_crl_stale`,
 *    or `client_cert_chain_invalid` when a configured CRL does not verify.
 *
 * When several paths exist (same-named CAs, cross-signing), each is validated
 * in turn and the first that passes wins; if none does, the failure of the
 * first one found is reported.
 *
 * On success, `validUntil` is the earliest notAfter in the path and, when
 * `staleCrl` is `deny`, the earliest nextUpdate of the CRLs relied on.
 *
 * @example
 * ```ts
 * const result = verifyClientChain(leaf, intermediates, tenant.mtls.trust, clock.now());
 * if (!result.ok) return deny(result.reason, result.detail);
 * ```
 */
export function verifyClientChain(
  leaf: ParsedCert,
  intermediates: readonly ParsedCert[],
  trust: TrustStore,
  nowMs: number,
  options: ChainOptions = {},
): ChainResult {
  try {
    if (trust.roots.some((r) => r.fingerprint256 === leaf.fingerprint256)) {
      return fail('client_cert_is_ca', `leaf ${leaf.subject} is one of the tenant's trusted CA certificates, not a client certificate`);
    }
    const ctx = createContext(leaf, intermediates, trust, nowMs, options);
    let firstFailure: Failure | undefined;
    let validated = 0;
    for (const path of findPaths(ctx, [leaf], ctx.pathBudget)) {
      const result = validatePath(ctx, path);
      if (result.ok) return result;
      firstFailure ??= result;
      validated += 1;
      if (validated >= MAX_PATHS_VALIDATED) break;
    }
    return firstFailure ?? explainNoPath(ctx);
  } catch (err) {
    return fail('client_cert_chain_invalid', `certificate path check failed unexpectedly: ${err instanceof Error ? err.message : String(err)}`);
  }
}

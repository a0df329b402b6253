import { KEY_USAGE, STRONG_SIGNATURE_OIDS } from './cert-oids.js';
import { checkAlgorithms, checkIssuers, checkValidity, signatureName } from './cert-path-checks.js';
import type { Context } from './cert-path-context.js';
import { fail, iso, type Failure } from './cert-path-result.js';
import { findPaths } from './cert-path-search.js';
import { checkCriticalExtensions, checkEncoding, checkNameConstraints, checkProfile, describe } from './cert-profile.js';
import { verifyCrlSignature, type ParsedCrl } from './crl.js';
import { coverAllReasons, crlCovers } from './crl-scope.js';
import type { ParsedCert } from './parsed-cert.js';

// Revocation by CRL (RFC 5280 §6.3), including the validated paths of CRL
// signers outside the client's path (§6.3.3 (f)).

/** Certificates of a CA's name, outside the validated path, tried as that CA's CRL signer. */
const MAX_CRL_SIGNER_CANDIDATES = 8;

function crlVerifies(ctx: Context, crl: ParsedCrl, issuer: ParsedCert): boolean {
  let perIssuer = ctx.crlCache.get(crl);
  if (!perIssuer) {
    perIssuer = new Map();
    ctx.crlCache.set(crl, perIssuer);
  }
  const cached = perIssuer.get(issuer.fingerprint256);
  if (cached !== undefined) return cached;
  const ok = verifyCrlSignature(crl, issuer);
  perIssuer.set(issuer.fingerprint256, ok);
  return ok;
}

const allowsCrlSign = (c: ParsedCert): boolean => c.keyUsage === undefined || (c.keyUsage & KEY_USAGE.cRLSign) !== 0;

/**
 * The checks a CRL signer's own path gets (RFC 5280 §6.3.3 (f): "obtain and
 * validate the certification path for the issuer of the complete CRL"): the
 * path checks of a client's path, without the client-certificate rules of the
 * leaf and without policy processing, and revocation of the signer itself.
 * Returns the instant until which the verdict holds, or a failure.
 */
function validateSignerPath(ctx: Context, path: readonly ParsedCert[]): Failure | { readonly validUntil: number } {
  const early =
    checkValidity(path, ctx.nowMs) ??
    checkEncoding(path) ??
    checkIssuers(path) ??
    checkProfile(path) ??
    checkCriticalExtensions(path) ??
    checkNameConstraints(path) ??
    checkAlgorithms(path);
  if (early) return early;
  const revocation = checkRevocation(ctx, path);
  if ('ok' in revocation) return revocation;
  return { validUntil: Math.min(revocation.crlValidUntil, ...path.map((c) => c.notAfter)) };
}

/**
 * Whether `signer`, a certificate outside the path being checked, has a
 * validated path to `anchor` (the anchor of the path its CRL serves), and
 * until when. Remembered per validation. A signer whose own status is being
 * decided is not used: a CRL key cannot vouch for itself.
 */
function signerValidUntil(ctx: Context, signer: ParsedCert, anchor: ParsedCert): number | false {
  const key = `${signer.fingerprint256}>${anchor.fingerprint256}`;
  const known = ctx.signerVerdicts.get(key);
  if (known !== undefined) return known;
  ctx.signersInProgress.add(signer.fingerprint256);
  let verdict: number | false = false;
  try {
    for (const path of findPaths(ctx, [signer], ctx.signerBudget)) {
      if ((path[path.length - 1] as ParsedCert).fingerprint256 !== anchor.fingerprint256) continue;
      const result = validateSignerPath(ctx, path);
      if (!('ok' in result)) {
        verdict = result.validUntil;
        break;
      }
    }
  } finally {
    ctx.signersInProgress.delete(signer.fingerprint256);
  }
  ctx.signerVerdicts.set(key, verdict);
  return verdict;
}

/**
 * A CRL of `issuer`'s name that no certificate of the path verifies may still
 * be that CA's: signed by another key of the CA (a separate CRL-signing key,
 * or its new key after a rollover) certified by a certificate the client
 * presented or the tenant trusts. It counts only when that certificate allows
 * cRLSign, verifies the CRL, and has its own validated path to the same trust
 * anchor (RFC 5280 §6.3.3 (f)). Returns until when that holds, or false.
 */
function verifiesWithOtherSigner(ctx: Context, crl: ParsedCrl, issuer: ParsedCert, path: readonly ParsedCert[]): number | false {
  const anchor = path[path.length - 1] as ParsedCert;
  const candidates = (ctx.bySubject.get(issuer.subjectName.key) ?? [])
    .filter((c) => !path.some((p) => p.fingerprint256 === c.fingerprint256) && !ctx.signersInProgress.has(c.fingerprint256))
    .slice(0, MAX_CRL_SIGNER_CANDIDATES);
  for (const signer of candidates) {
    if (!allowsCrlSign(signer) || !crlVerifies(ctx, crl, signer)) continue;
    const until = signerValidUntil(ctx, signer, anchor);
    if (until !== false) return until;
  }
  return false;
}

/**
 * Revocation (RFC 5280 §6.3), for every certificate below the anchor whose
 * issuer has at least one CRL configured; CRLs are optional per tenant, so an
 * issuer without one is not checked. Only CRLs that cover the certificate
 * count: an issuingDistributionPoint name must match the certificate's
 * cRLDistributionPoints ({@link crlCovers}); a certificate that no configured
 * CRL covers is treated as one whose issuer has none. A covering CRL counts
 * when it verifies with a key of that CA: a certificate of the CA's name on the
 * validated path (the issuing certificate, or another one higher up after a key
 * rollover), or one outside it with its own validated path to the same anchor
 * ({@link verifiesWithOtherSigner}); the signing certificate must allow
 * cRLSign. If none verifies the path fails: a CRL configured and unusable must
 * not quietly mean "not revoked". Stale or not-yet-valid CRLs are unusable
 * unless `staleCrl` is `use` (which only forgives a passed nextUpdate). A
 * serial listed in any usable CRL is revoked. Returns the earliest nextUpdate
 * relied on in `deny` mode, and the end of any CRL signer's own path.
 */
export function checkRevocation(ctx: Context, path: readonly ParsedCert[]): Failure | { readonly crlValidUntil: number } {
  const { trust, nowMs } = ctx;
  let crlValidUntil = Number.POSITIVE_INFINITY;
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i] as ParsedCert;
    const issuer = path[i + 1] as ParsedCert;
    const named = trust.crls.filter((crl) => crl.issuerKey === issuer.subjectName.key);
    const covering = named.filter((crl) => crlCovers(crl, cert));
    if (covering.length === 0) {
      if (ctx.options.requireCrl !== true) continue;
      if (named.length === 0) return fail('client_cert_crl_missing', `no CRL from ${issuer.subject} covers ${describe(path, i)}`);
      return fail(
        'client_cert_crl_not_in_scope',
        `no CRL from ${issuer.subject} covers ${describe(path, i)}: each is limited by its issuingDistributionPoint to other certificates (a distribution point the certificate does not name, or only user, CA or attribute certificates)`,
      );
    }
    const signers = path.slice(i + 1).filter((c) => c.subjectName.key === issuer.subjectName.key && allowsCrlSign(c));
    const verified: ParsedCrl[] = [];
    for (const crl of covering) {
      if (signers.some((signer) => crlVerifies(ctx, crl, signer))) {
        verified.push(crl);
        continue;
      }
      const until = verifiesWithOtherSigner(ctx, crl, issuer, path);
      if (until === false) continue;
      verified.push(crl);
      crlValidUntil = Math.min(crlValidUntil, until);
    }
    if (verified.length === 0) {
      const other = "another certificate of that CA that allows cRLSign and has a validated path to the same trust anchor";
      const detail =
        signers.length === 0
          ? `CRL for ${issuer.subject} cannot be used: that CA's key usage lacks cRLSign, and the CRL does not verify with ${other}`
          : `CRL for ${issuer.subject} does not verify with that CA's key on the path, nor with ${other}`;
      return fail('client_cert_chain_invalid', detail);
    }
    const weak = verified.find((crl) => !STRONG_SIGNATURE_OIDS.has(crl.signatureOid));
    if (weak) {
      return fail('client_cert_weak_signature', `CRL for ${issuer.subject} is signed with ${signatureName(weak.signatureOid)}`);
    }
    const usable = verified.filter(
      (crl) => crl.thisUpdate <= nowMs && (crl.nextUpdate === undefined || nowMs <= crl.nextUpdate || trust.staleCrl === 'use'),
    );
    if (usable.length === 0) {
      const future = verified.find((crl) => crl.thisUpdate > nowMs);
      const detail = future
        ? `CRL for ${issuer.subject} is not valid until ${iso(future.thisUpdate)}`
        : `CRL for ${issuer.subject} is stale: nextUpdate was ${iso(Math.max(...verified.map((crl) => crl.nextUpdate ?? 0)))}`;
      return fail('client_cert_crl_stale', detail);
    }
    // Serials compare as signed integers: 0x00ff (255) is not 0xff (-1).
    if (usable.some((crl) => crl.revokedSerialKeys.has(cert.serialKey))) {
      return fail('client_cert_revoked', `${describe(path, i)} (serial ${cert.serial}) is revoked by the CRL of ${issuer.subject}`);
    }
    // CRLs limited to some reasons say "not revoked" only together, for every reason.
    if (!coverAllReasons(usable)) {
      if (ctx.options.requireCrl !== true) continue;
      return fail('client_cert_crl_not_in_scope', `the CRLs from ${issuer.subject} that cover ${describe(path, i)} speak only for some revocation reasons (issuingDistributionPoint onlySomeReasons)`);
    }
    if (trust.staleCrl === 'deny') {
      for (const crl of usable) if (crl.nextUpdate !== undefined) crlValidUntil = Math.min(crlValidUntil, crl.nextUpdate);
    }
  }
  return { crlValidUntil };
}

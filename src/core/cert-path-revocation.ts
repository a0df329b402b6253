/** Revocation of the certificates on a candidate path, against the tenant's CRLs (RFC 5280 §6.3). */
import { KEY_USAGE, STRONG_SIGNATURE_OIDS } from './cert-oids.js';
import { signatureName } from './cert-path-checks.js';
import { fail, iso, type Failure } from './cert-path-result.js';
import type { Context } from './cert-path-search.js';
import { describe } from './cert-profile.js';
import { verifyCrlSignature, type ParsedCrl } from './crl.js';
import type { ParsedCert } from './parsed-cert.js';

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

/**
 * Revocation (RFC 5280 §6.3), for every certificate below the anchor whose
 * issuer has at least one CRL configured; CRLs are optional per tenant, so an
 * issuer without one is not checked. Among the CRLs named for the issuer, those
 * that do not verify with the actual issuer's key are ignored (they may belong
 * to a same-named CA, e.g. across a key rollover), but if none verifies the path
 * fails: a CRL configured and unusable must not quietly mean "not revoked".
 * Stale or not-yet-valid CRLs are unusable unless `staleCrl` is `use` (which
 * only forgives a passed nextUpdate). A serial listed in any usable CRL is
 * revoked. Returns the earliest nextUpdate relied on in `deny` mode.
 */
export function checkRevocation(ctx: Context, path: readonly ParsedCert[]): Failure | { readonly crlValidUntil: number } {
  const { trust, nowMs } = ctx;
  let crlValidUntil = Number.POSITIVE_INFINITY;
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i] as ParsedCert;
    const issuer = path[i + 1] as ParsedCert;
    const named = trust.crls.filter((crl) => crl.issuerKey === issuer.subjectName.key);
    if (named.length === 0) {
      if (ctx.options.requireCrl === true) return fail('client_cert_crl_missing', `no CRL from ${issuer.subject} covers ${describe(path, i)}`);
      continue;
    }
    // RFC 5280 §6.3.3 (f): a CRL is the CA's when signed by a key certified for
    // the CA's name on this validated path: the issuing certificate, or another
    // certificate of the same CA higher up (key rollover, self-issued).
    const signers = path.slice(i + 1).filter((c) => c.subjectName.key === issuer.subjectName.key);
    // The key must be allowed to sign CRLs.
    const crlSigners = signers.filter((c) => c.keyUsage === undefined || (c.keyUsage & KEY_USAGE.cRLSign) !== 0);
    if (crlSigners.length === 0) {
      return fail('client_cert_chain_invalid', `CRL for ${issuer.subject} cannot be used: that CA's key usage lacks cRLSign`);
    }
    const verified = named.filter((crl) => crlSigners.some((signer) => crlVerifies(ctx, crl, signer)));
    if (verified.length === 0) {
      return fail('client_cert_chain_invalid', `CRL for ${issuer.subject} does not verify with that CA's key`);
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
    if (trust.staleCrl === 'deny') {
      for (const crl of usable) if (crl.nextUpdate !== undefined) crlValidUntil = Math.min(crlValidUntil, crl.nextUpdate);
    }
  }
  return { crlValidUntil };
}

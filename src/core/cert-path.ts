import { EKU_ANY, EKU_CLIENT_AUTH, KEY_USAGE, STRONG_SIGNATURE_OIDS, UNSUPPORTED_SIGNATURE_NAMES, WEAK_SIGNATURE_NAMES } from './cert-oids.js';
import { checkCertificatePolicies, DEFAULT_POLICY_INPUTS } from './cert-policy.js';
import { checkCriticalExtensions, checkEncoding, checkNameConstraints, checkProfile, describe } from './cert-profile.js';
import { verifySignedBy } from './cert-signature.js';
import { verifyCrlSignature, type ParsedCrl } from './crl.js';
import { coverAllReasons, crlCovers } from './crl-scope.js';
import type { ParsedCert } from './parsed-cert.js';
import type { CertFailure } from './reasons.js';
import type { TrustStore } from './tenant.js';

/**
 * Outcome of {@link verifyClientChain}. On success `chain` runs from the leaf
 * (index 0) to the trust anchor (last) and `validUntil` is the instant (ms) after
 * which the verdict must be recomputed. On failure `reason` is a stable code and
 * `detail` a sentence for the audit log naming the certificate at fault.
 */
export type ChainResult =
  | { readonly ok: true; readonly chain: readonly ParsedCert[]; readonly validUntil: number }
  | { readonly ok: false; readonly reason: CertFailure; readonly detail: string };

type Failure = Extract<ChainResult, { ok: false }>;

/**
 * Longest accepted path, in certificates, counting the leaf and the trust anchor.
 * Real client PKIs use 2 to 4; the cap bounds the work an attacker can ask for.
 */
export const MAX_CHAIN_DEPTH = 8;

/**
 * Bound on candidate links tried while searching for a path (each may cost a
 * signature check). Several certificates sharing a name make the search branch;
 * this keeps the worst case small whatever the client presents.
 */
const MAX_LINKS_TRIED = 64;

/** Bound on complete candidate paths that are fully validated before giving up. */
const MAX_PATHS_VALIDATED = 8;

/**
 * Bound on candidate links tried, over one whole validation, while building the
 * paths of CRL signers outside the client's path (RFC 5280 §6.3.3 (f)); kept
 * apart from {@link MAX_LINKS_TRIED} so that CRL work cannot starve the search
 * for the client's own path.
 */
const MAX_CRL_SIGNER_LINKS = 32;

/** Certificates of a CA's name, outside the validated path, tried as that CA's CRL signer. */
const MAX_CRL_SIGNER_CANDIDATES = 8;

/** A budget of candidate links for one kind of path search. */
interface LinkBudget {
  readonly max: number;
  tried: number;
  exhausted: boolean;
}

/**
 * Choices a caller may make about the leaf. The production path passes none:
 * every default is the strict one.
 */
export interface ChainOptions {
  /**
   * Accept a leaf without an extendedKeyUsage extension (RFC 5280 §4.2.1.12:
   * no EKU means any purpose). Off by default, because Envoy does not enforce
   * clientAuth and a server certificate of the same CA must not log in as a
   * client. Only conformance suites written for generic path validation (NIST
   * PKITS, whose end-entity certificates carry no EKU) turn it on. A leaf whose
   * EKU is present and lacks clientAuth is refused either way.
   */
  readonly allowLeafWithoutEku?: boolean;
  /**
   * Refuse a certificate whose issuer has no CRL configured
   * (`client_cert_crl_missing`). Off by default: CRLs are optional per tenant.
   * Conformance runs (PKITS supplies a CRL for every CA) turn it on.
   */
  readonly requireCrl?: boolean;
}

function fail(reason: CertFailure, detail: string): Failure {
  return { ok: false, reason, detail };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * Per-call memory. Signature checks dominate the cost and the same link or CRL
 * recurs when several candidate paths share a prefix, so each is done once.
 */
interface Context {
  readonly trust: TrustStore;
  readonly options: ChainOptions;
  readonly nowMs: number;
  readonly rootFingerprints: ReadonlySet<string>;
  /** Candidate issuers by subject name: roots first (shortest path), then presented intermediates. */
  readonly bySubject: ReadonlyMap<string, readonly ParsedCert[]>;
  readonly linkCache: Map<string, boolean>;
  readonly crlCache: Map<ParsedCrl, Map<string, boolean>>;
  /** Links tried in the search for the client's path. */
  readonly pathBudget: LinkBudget;
  /** Links tried in the searches for CRL signers' paths. */
  readonly signerBudget: LinkBudget;
  /**
   * CRL signers outside the client's path, by `signer>anchor` fingerprints:
   * the instant until which the signer's own validated path holds, or false
   * when it has none.
   */
  readonly signerVerdicts: Map<string, number | false>;
  /** Certificates whose fitness as a CRL signer is being decided: none may vouch for its own status. */
  readonly signersInProgress: Set<string>;
  /** Diagnostics for when no path is found at all. */
  tooDeep: boolean;
  /** First link where a name matched but no same-named key verified the signature. */
  badSignature: { readonly child: ParsedCert } | undefined;
  /** The deepest partial path explored. */
  deepest: readonly ParsedCert[];
}

function createContext(leaf: ParsedCert, intermediates: readonly ParsedCert[], trust: TrustStore, nowMs: number, options: ChainOptions): Context {
  const rootFingerprints = new Set(trust.roots.map((r) => r.fingerprint256));
  const bySubject = new Map<string, ParsedCert[]>();
  const seen = new Set<string>([leaf.fingerprint256]);
  // Roots are indexed first, so a presented copy of a root is recognised as
  // that root (same fingerprint) and roots are tried before longer detours.
  for (const cert of [...trust.roots, ...intermediates]) {
    // A certificate object without a name (not made by the parser) cannot be an issuer.
    const key = (cert as Partial<ParsedCert>).subjectName?.key;
    if (seen.has(cert.fingerprint256) || key === undefined) continue;
    seen.add(cert.fingerprint256);
    const list = bySubject.get(key);
    if (list) list.push(cert);
    else bySubject.set(key, [cert]);
  }
  return {
    trust,
    options,
    nowMs,
    rootFingerprints,
    bySubject,
    linkCache: new Map(),
    crlCache: new Map(),
    pathBudget: { max: MAX_LINKS_TRIED, tried: 0, exhausted: false },
    signerBudget: { max: MAX_CRL_SIGNER_LINKS, tried: 0, exhausted: false },
    signerVerdicts: new Map(),
    signersInProgress: new Set(),
    tooDeep: false,
    badSignature: undefined,
    deepest: [leaf],
  };
}

/**
 * True when `issuer`'s key verifies `child`'s signature (see
 * {@link verifySignedBy}). Node's `checkIssued` only compares names and key
 * ids, so the signature itself is what we check.
 * Weak algorithms still verify here; weakness is reported later, so a SHA-1
 * link shows up as `client_cert_weak_signature`, not as untrusted.
 */
function isSignedBy(ctx: Context, child: ParsedCert, issuer: ParsedCert): boolean {
  const key = `${child.fingerprint256}>${issuer.fingerprint256}`;
  const cached = ctx.linkCache.get(key);
  if (cached !== undefined) return cached;
  let ok: boolean;
  try {
    ok = verifySignedBy(child, issuer);
  } catch {
    ok = false;
  }
  ctx.linkCache.set(key, ok);
  return ok;
}

/**
 * Depth-first search for paths from the leaf to any certificate in
 * `trust.roots`, following issuer name to subject name and keeping a link only
 * when the signature verifies. Yields each complete path so the caller can fall
 * back to another one (cross-signed or re-issued CAs) if validation fails.
 * Terminates: a certificate never appears twice in one path, depth is capped
 * and the number of links tried is bounded.
 */
function* findPaths(ctx: Context, path: readonly ParsedCert[], budget: LinkBudget): Generator<readonly ParsedCert[]> {
  // Diagnostics describe the client's path only, not searches for CRL signers.
  const diagnose = budget === ctx.pathBudget;
  if (diagnose && path.length > ctx.deepest.length) ctx.deepest = path;
  const current = path[path.length - 1] as ParsedCert;
  const candidates = ctx.bySubject.get(current.issuerName.key) ?? [];
  let nameMatched = false;
  let signatureMatched = false;
  for (const candidate of candidates) {
    if (path.some((c) => c.fingerprint256 === candidate.fingerprint256)) continue;
    nameMatched = true;
    if (path.length >= MAX_CHAIN_DEPTH) {
      if (diagnose) ctx.tooDeep = true;
      return;
    }
    if (budget.tried >= budget.max) {
      budget.exhausted = true;
      return;
    }
    budget.tried += 1;
    if (!isSignedBy(ctx, current, candidate)) continue;
    signatureMatched = true;
    const next = [...path, candidate];
    // Trust comes from reaching an anchor's key (the signature just checked),
    // never from a name: a look-alike root with the same subject fails above.
    if (ctx.rootFingerprints.has(candidate.fingerprint256)) yield next;
    else yield* findPaths(ctx, next, budget);
  }
  if (diagnose && nameMatched && !signatureMatched && ctx.badSignature === undefined) ctx.badSignature = { child: current };
}

function explainNoPath(ctx: Context): Failure {
  if (ctx.tooDeep) {
    return fail('client_cert_chain_invalid', `certificate path is longer than ${MAX_CHAIN_DEPTH} certificates`);
  }
  if (ctx.pathBudget.exhausted) {
    return fail('client_cert_chain_invalid', `gave up searching for a certificate path after ${MAX_LINKS_TRIED} candidate links`);
  }
  if (ctx.badSignature) {
    const child = ctx.badSignature.child;
    // A self-issued certificate that reached here claims an anchor's name
    // without being that anchor: the look-alike root case, worth naming.
    const what = child.selfIssued ? `self-issued certificate ${child.subject} is not a trusted root, and its` : `signature of ${child.subject}`;
    const verb = child.selfIssued ? 'signature does' : 'does';
    return fail('client_cert_untrusted', `${what} ${verb} not verify with any trusted or presented certificate named ${child.issuer}`);
  }
  const last = ctx.deepest[ctx.deepest.length - 1] as ParsedCert;
  return fail('client_cert_untrusted', `no path to a trusted root for issuer ${last.issuer}`);
}

// ---------------------------------------------------------------------------
// Checks on one candidate path. Each returns a Failure or undefined.

/** RFC 5280 §6.1.3 (a)(2): every certificate, anchor included, must be in its validity window. */
function checkValidity(path: readonly ParsedCert[], nowMs: number): Failure | undefined {
  for (let i = 0; i < path.length; i++) {
    const cert = path[i] as ParsedCert;
    if (nowMs < cert.notBefore) {
      return fail('client_cert_not_yet_valid', `${describe(path, i)} is not valid before ${iso(cert.notBefore)}`);
    }
    // notAfter is inclusive (RFC 5280 §4.1.2.5).
    if (nowMs > cert.notAfter) {
      return fail('client_cert_expired', `${describe(path, i)} expired at ${iso(cert.notAfter)}`);
    }
  }
  return undefined;
}

/**
 * The leaf must be an end entity fit for TLS client authentication. We require
 * the clientAuth EKU explicitly: Envoy does not enforce it (GHSA-837m-wjrv-vm5g),
 * and anyExtendedKeyUsage alone or a missing EKU would let server or code-signing
 * certificates from the same CA log in as clients.
 */
function checkLeaf(path: readonly ParsedCert[], options: ChainOptions): Failure | undefined {
  const leaf = path[0] as ParsedCert;
  if (leaf.isCa) return fail('client_cert_is_ca', `leaf ${leaf.subject} is a CA certificate (basicConstraints cA=true)`);
  if (leaf.extKeyUsage === undefined && options.allowLeafWithoutEku === true) {
    // Any purpose (RFC 5280 §4.2.1.12), accepted only when the caller asked for it.
  } else if (leaf.extKeyUsage === undefined) {
    return fail('client_cert_bad_eku', `leaf ${leaf.subject} has no extendedKeyUsage extension; clientAuth is required`);
  }
  else if (!leaf.extKeyUsage.includes(EKU_CLIENT_AUTH)) {
    return fail('client_cert_bad_eku', `leaf ${leaf.subject} extendedKeyUsage lacks clientAuth (has ${leaf.extKeyUsage.join(', ') || 'none'})`);
  }
  if (leaf.keyUsage !== undefined) {
    // TLS client authentication signs CertificateVerify; keyAgreement is the
    // (legacy) fixed-ECDH alternative for EC keys.
    const allowed = KEY_USAGE.digitalSignature | (leaf.keyType === 'ec' ? KEY_USAGE.keyAgreement : 0);
    if ((leaf.keyUsage & allowed) === 0) {
      return fail('client_cert_chain_invalid', `leaf ${leaf.subject} key usage lacks digitalSignature`);
    }
  }
  return undefined;
}

/**
 * Every certificate above the leaf issues certificates, so it must say so:
 * cA=true and, when keyUsage is present, keyCertSign (RFC 5280 §6.1.4 (k), (n)).
 * pathLenConstraint (§4.2.1.9, §6.1.4 (l)-(m)) counts the non-self-issued
 * intermediates below a CA, not the leaf. EKU is chained as Go and browsers do:
 * a CA restricted to other purposes cannot vouch for a client certificate.
 * These rules are applied to the trust anchor too, since a tenant may pin an
 * intermediate whose constraints were meant to hold.
 */
function checkIssuers(path: readonly ParsedCert[]): Failure | undefined {
  for (let i = 1; i < path.length; i++) {
    const ca = path[i] as ParsedCert;
    if (!ca.isCa) {
      return fail('client_cert_chain_invalid', `${describe(path, i)} is not a CA (basicConstraints cA is not set) but issued ${(path[i - 1] as ParsedCert).subject}`);
    }
    if (ca.keyUsage !== undefined && (ca.keyUsage & KEY_USAGE.keyCertSign) === 0) {
      return fail('client_cert_chain_invalid', `${describe(path, i)} key usage lacks keyCertSign`);
    }
    if (ca.pathLen !== undefined) {
      let below = 0;
      for (let j = 1; j < i; j++) if (!(path[j] as ParsedCert).selfIssued) below += 1;
      if (below > ca.pathLen) {
        return fail(
          'client_cert_chain_invalid',
          `${describe(path, i)} has pathLenConstraint ${ca.pathLen} but ${below} intermediate CA certificate(s) follow it`,
        );
      }
    }
    if (ca.extKeyUsage !== undefined && !ca.extKeyUsage.includes(EKU_CLIENT_AUTH) && !ca.extKeyUsage.includes(EKU_ANY)) {
      return fail('client_cert_bad_eku', `${describe(path, i)} extendedKeyUsage does not allow clientAuth (has ${ca.extKeyUsage.join(', ') || 'none'})`);
    }
  }
  return undefined;
}

/** Why a key is too weak to trust, or undefined when it is acceptable. */
function keyWeakness(cert: ParsedCert): string | undefined {
  switch (cert.keyType) {
    case 'rsa':
    case 'rsa-pss':
      return cert.keyBits >= 2048 ? undefined : `a ${cert.keyBits}-bit RSA key (2048 is the minimum)`;
    case 'ec':
      // cert-parse only sizes P-256/384/521; anything else reports 0 bits.
      return cert.keyBits >= 256 ? undefined : `an EC key on an unsupported curve (${cert.publicKey.asymmetricKeyDetails?.namedCurve ?? 'unknown'})`;
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `an unsupported key type (${cert.keyType})`;
  }
}

function signatureName(oid: string): string {
  return STRONG_SIGNATURE_OIDS.get(oid) ?? WEAK_SIGNATURE_NAMES.get(oid) ?? UNSUPPORTED_SIGNATURE_NAMES.get(oid) ?? oid;
}

/**
 * Every signature we relied on (each link below the anchor) must use an
 * algorithm from STRONG_SIGNATURE_OIDS; the anchor's self-signature is not
 * relied on, so its algorithm does not matter. Every key, anchor included, must
 * be strong, because each one's signature is what the path's trust rests on.
 */
function checkAlgorithms(path: readonly ParsedCert[]): Failure | undefined {
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i] as ParsedCert;
    if (STRONG_SIGNATURE_OIDS.has(cert.signatureOid)) continue;
    // Known-weak digests are weak; anything else (RSASSA-PSS, unknown OIDs) is not verified by bouncer at all.
    const reason = WEAK_SIGNATURE_NAMES.has(cert.signatureOid) ? 'client_cert_weak_signature' : 'client_cert_signature_unsupported';
    return fail(reason, `${describe(path, i)} is signed with ${signatureName(cert.signatureOid)}`);
  }
  for (let i = 0; i < path.length; i++) {
    const weakness = keyWeakness(path[i] as ParsedCert);
    if (weakness !== undefined) return fail('client_cert_weak_key', `${describe(path, i)} has ${weakness}`);
  }
  return undefined;
}

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
function checkRevocation(ctx: Context, path: readonly ParsedCert[]): Failure | { readonly crlValidUntil: number } {
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

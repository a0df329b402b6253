import { MAX_LINKS_TRIED, type Context, type LinkBudget } from './cert-path-context.js';
import { fail, type Failure } from './cert-path-result.js';
import { verifySignedBy } from './cert-signature.js';
import type { ParsedCert } from './parsed-cert.js';

// Path building: from a certificate up to a trust anchor, by issuer name and
// verified signature, within a link budget; and why no path was found.

/**
 * Longest accepted path, in certificates, counting the leaf and the trust anchor.
 * Real client PKIs use 2 to 4; the cap bounds the work an attacker can ask for.
 */
export const MAX_CHAIN_DEPTH = 8;

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
export function* findPaths(ctx: Context, path: readonly ParsedCert[], budget: LinkBudget): Generator<readonly ParsedCert[]> {
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

export function explainNoPath(ctx: Context): Failure {
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

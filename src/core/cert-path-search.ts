/**
 * Path building (RFC 5280 §6.1, the search before validation): from the leaf,
 * follow issuer names to candidates and keep a link only when its signature
 * verifies, within fixed bounds on depth and work.
 */
import { verifySignedBy } from './cert-signature.js';
import { fail, type ChainOptions, type Failure } from './cert-path-result.js';
import type { ParsedCrl } from './crl.js';
import type { ParsedCert } from './parsed-cert.js';
import type { TrustStore } from './tenant.js';

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

/**
 * Per-call memory. Signature checks dominate the cost and the same link or CRL
 * recurs when several candidate paths share a prefix, so each is done once.
 */
export interface Context {
  readonly trust: TrustStore;
  readonly options: ChainOptions;
  readonly nowMs: number;
  readonly rootFingerprints: ReadonlySet<string>;
  /** Candidate issuers by subject name: roots first (shortest path), then presented intermediates. */
  readonly bySubject: ReadonlyMap<string, readonly ParsedCert[]>;
  readonly linkCache: Map<string, boolean>;
  readonly crlCache: Map<ParsedCrl, Map<string, boolean>>;
  linksTried: number;
  /** Diagnostics for when no path is found at all. */
  tooDeep: boolean;
  budgetExhausted: boolean;
  /** First link where a name matched but no same-named key verified the signature. */
  badSignature: { readonly child: ParsedCert } | undefined;
  /** The deepest partial path explored. */
  deepest: readonly ParsedCert[];
}

export function createContext(leaf: ParsedCert, intermediates: readonly ParsedCert[], trust: TrustStore, nowMs: number, options: ChainOptions): Context {
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
    linksTried: 0,
    tooDeep: false,
    budgetExhausted: false,
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
export function* findPaths(ctx: Context, path: readonly ParsedCert[]): Generator<readonly ParsedCert[]> {
  if (path.length > ctx.deepest.length) ctx.deepest = path;
  const current = path[path.length - 1] as ParsedCert;
  const candidates = ctx.bySubject.get(current.issuerName.key) ?? [];
  let nameMatched = false;
  let signatureMatched = false;
  for (const candidate of candidates) {
    if (path.some((c) => c.fingerprint256 === candidate.fingerprint256)) continue;
    nameMatched = true;
    if (path.length >= MAX_CHAIN_DEPTH) {
      ctx.tooDeep = true;
      return;
    }
    if (ctx.linksTried >= MAX_LINKS_TRIED) {
      ctx.budgetExhausted = true;
      return;
    }
    ctx.linksTried += 1;
    if (!isSignedBy(ctx, current, candidate)) continue;
    signatureMatched = true;
    const next = [...path, candidate];
    // Trust comes from reaching an anchor's key (the signature just checked),
    // never from a name: a look-alike root with the same subject fails above.
    if (ctx.rootFingerprints.has(candidate.fingerprint256)) yield next;
    else yield* findPaths(ctx, next);
  }
  if (nameMatched && !signatureMatched && ctx.badSignature === undefined) ctx.badSignature = { child: current };
}

export function explainNoPath(ctx: Context): Failure {
  if (ctx.tooDeep) {
    return fail('client_cert_chain_invalid', `certificate path is longer than ${MAX_CHAIN_DEPTH} certificates`);
  }
  if (ctx.budgetExhausted) {
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

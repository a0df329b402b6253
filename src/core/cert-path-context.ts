import type { ChainOptions } from './cert-path-result.js';
import type { ParsedCrl } from './crl.js';
import type { ParsedCert } from './parsed-cert.js';
import type { TrustStore } from './tenant.js';

// The memory of one verifyClientChain call, shared by the search for the
// client's path and the searches for CRL signers' paths, and their budgets.

/**
 * Bound on candidate links tried while searching for a path (each may cost a
 * signature check). Several certificates sharing a name make the search branch;
 * this keeps the worst case small whatever the client presents.
 */
export const MAX_LINKS_TRIED = 64;

/**
 * Bound on candidate links tried, over one whole validation, while building the
 * paths of CRL signers outside the client's path (RFC 5280 §6.3.3 (f)); kept
 * apart from {@link MAX_LINKS_TRIED} so that CRL work cannot starve the search
 * for the client's own path.
 */
const MAX_CRL_SIGNER_LINKS = 32;

/** A budget of candidate links for one kind of path search. */
export interface LinkBudget {
  readonly max: number;
  tried: number;
  exhausted: boolean;
}

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
    pathBudget: { max: MAX_LINKS_TRIED, tried: 0, exhausted: false },
    signerBudget: { max: MAX_CRL_SIGNER_LINKS, tried: 0, exhausted: false },
    signerVerdicts: new Map(),
    signersInProgress: new Set(),
    tooDeep: false,
    badSignature: undefined,
    deepest: [leaf],
  };
}

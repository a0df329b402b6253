import { KEY_USAGE, STRONG_SIGNATURE_OIDS, type ParsedCert } from './cert-parse.js';
import { verifyCrlSignature, type ParsedCrl } from './crl.js';

/** A fetched CRL that verified, with what its successor is compared against. */
export interface AcceptedCrl {
  readonly crl: ParsedCrl;
  /** cRLNumber (RFC 5280 §5.2.3), exact: up to 20 octets, far beyond a double's 2^53. */
  readonly number: bigint;
  /** The certificate whose key verified it. */
  readonly issuer: ParsedCert;
}

/** Why a fetched CRL was not taken; each is a `result` label of bouncer_crl_fetches_total. */
export type CrlRefusal = 'no_issuer' | 'bad_signature' | 'weak_signature' | 'no_crl_sign' | 'number_regressed' | 'older' | 'not_yet_valid' | 'malformed';

export type CrlUpdate = { readonly ok: true; readonly accepted: AcceptedCrl } | { readonly ok: false; readonly refusal: CrlRefusal; readonly detail: string };

const refuse = (refusal: CrlRefusal, detail: string): CrlUpdate => ({ ok: false, refusal, detail });

/**
 * Decides whether a freshly fetched CRL replaces the one in use. It must be
 * signed (strong algorithm) by one of `issuers` whose name it carries and whose
 * keyUsage, if any, allows cRLSign; thisUpdate not in the future beyond
 * `skewMs`; and it must not go backwards: a lower cRLNumber or an older
 * thisUpdate than the current one is refused (RFC 5280 §5.2.3 numbers grow
 * monotonically), so a replayed old CRL cannot un-revoke a certificate.
 *
 * @example
 * ```ts
 * const next = judgeCrlUpdate(current, parsed, tenant.mtls.trust.roots, nowMs, 60_000);
 * if (next.ok) current = next.accepted;
 * ```
 */
export function judgeCrlUpdate(current: AcceptedCrl | undefined, crl: ParsedCrl, issuers: readonly ParsedCert[], nowMs: number, skewMs: number): CrlUpdate {
  const named = issuers.filter((c) => c.subject === crl.issuer);
  if (named.length === 0) return refuse('no_issuer', `CRL issuer "${crl.issuer}" is not a CA this tenant trusts or has seen in a client chain`);
  const issuer = named.find((c) => verifyCrlSignature(crl, c));
  if (!issuer) return refuse('bad_signature', `CRL of "${crl.issuer}" does not verify with that CA's key`);
  if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.cRLSign) === 0) return refuse('no_crl_sign', `CA "${issuer.subject}" key usage lacks cRLSign`);
  if (!STRONG_SIGNATURE_OIDS.has(crl.signatureOid)) return refuse('weak_signature', `CRL of "${crl.issuer}" is signed with ${crl.signatureOid}`);
  // parseCrlBundle refuses a CRL without a well-formed cRLNumber and keeps it as exact decimal text.
  const number = BigInt(crl.crlNumber);
  if (crl.thisUpdate > nowMs + skewMs) return refuse('not_yet_valid', `CRL thisUpdate ${new Date(crl.thisUpdate).toISOString()} is in the future`);
  if (current !== undefined && current.issuer.fingerprint256 === issuer.fingerprint256) {
    if (number < current.number) {
      return refuse('number_regressed', `cRLNumber ${number} is lower than the ${current.number} in use`);
    }
    if (crl.thisUpdate < current.crl.thisUpdate) return refuse('older', 'CRL thisUpdate is older than the CRL in use');
  }
  return { ok: true, accepted: { crl, number, issuer } };
}

/**
 * When to fetch a CRL next, in ms from `nowMs`: before its nextUpdate (at
 * three quarters of the time left), at least every `maxIntervalMs`, and never
 * sooner than `minIntervalMs` (a nextUpdate already past does not make a busy loop).
 */
export function planCrlRefresh(nowMs: number, nextUpdate: number | undefined, minIntervalMs: number, maxIntervalMs: number): number {
  const ahead = nextUpdate === undefined ? maxIntervalMs : Math.floor((nextUpdate - nowMs) * 0.75);
  return Math.max(minIntervalMs, Math.min(maxIntervalMs, ahead));
}

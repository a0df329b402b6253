/**
 * Trust-anchor usability: which certificates of a tenant's CA bundle may anchor
 * its client certificate paths. Every front door (the config file, the
 * PostgreSQL store, the admin API) judges bundles here, so they agree; a bundle
 * is judged certificate by certificate, so one expired root in a rotation
 * bundle costs that root only, and a tenant whose bundle holds no usable root
 * is marked unusable (its devices are denied `tenant_trust_unusable`) without
 * touching any other tenant.
 */
import { BouncerError } from './errors.js';
import { KEY_USAGE, parseCertificateDer, splitPemCertificates, type ParsedCert } from './cert-parse.js';
import type { TrustStore } from './tenant.js';
import type { TrustProblem } from './trust-problem.js';

/** A tenant's trust data, judged: `ok`, `degraded` (some roots or files unusable) or `unusable` (no root left). */
export type TrustStatus = 'ok' | 'degraded' | 'unusable';

export const TRUST_STATUSES: readonly TrustStatus[] = ['ok', 'degraded', 'unusable'];

export type { TrustProblem, TrustProblemCode } from './trust-problem.js';

/** What {@link checkTrustAnchor} needs besides the certificate. */
export interface AnchorRules {
  /** The clock: "expired" and "not yet valid" are judged at this instant (ms since the epoch). */
  readonly nowMs: number;
  /** Smallest RSA modulus accepted for a root; the config's `minRsaBits` (2048). */
  readonly minRsaBits: number;
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * Why `c` cannot anchor client certificate paths at `rules.nowMs`, or undefined
 * when it can.
 *
 * @example
 * const problem = checkTrustAnchor(root, { nowMs: clock.now(), minRsaBits: 2048 });
 * if (problem) warn(problem.message);
 */
export function checkTrustAnchor(c: ParsedCert, rules: AnchorRules): TrustProblem | undefined {
  const subject = c.subject;
  const cert = `certificate "${subject}"`;
  if (!c.isCa) {
    return {
      code: 'ca_not_a_ca',
      subject,
      message: `${cert} is not a CA certificate (basicConstraints cA is absent or false); the bundle must hold the CA that issues client certificates, not a client certificate`,
    };
  }
  // RFC 5280 §4.2.1.3: when keyUsage is present, keyCertSign must be set for a key that signs certificates.
  if (c.keyUsage !== undefined && (c.keyUsage & KEY_USAGE.keyCertSign) === 0) {
    return { code: 'ca_no_key_cert_sign', subject, message: `${cert} has a keyUsage extension without keyCertSign, so it may not sign certificates` };
  }
  // notAfter is inclusive (RFC 5280 §4.1.2.5), as in the path validator.
  if (c.notAfter < rules.nowMs) return { code: 'ca_expired', subject, message: `${cert} expired on ${iso(c.notAfter)}` };
  if (c.notBefore > rules.nowMs) return { code: 'ca_not_yet_valid', subject, message: `${cert} is not valid until ${iso(c.notBefore)}` };
  if ((c.keyType === 'rsa' || c.keyType === 'rsa-pss') && c.keyBits < rules.minRsaBits) {
    return { code: 'ca_weak_key', subject, message: `${cert} has a ${c.keyBits}-bit RSA key; at least ${rules.minRsaBits} bits are required` };
  }
  return undefined;
}

/** A CA bundle read block by block: what parsed, and what did not. */
export interface ParsedBundle {
  /** Distinct certificates, in bundle order (a repeated certificate is harmless and kept once). */
  readonly certs: readonly ParsedCert[];
  readonly problems: readonly TrustProblem[];
}

/**
 * Parses a PEM bundle one block at a time, so a damaged block costs that block
 * only. Text outside the blocks is ignored, as openssl does.
 *
 * @example
 * const { certs, problems } = parseCaBundle(pemText);
 */
export function parseCaBundle(pem: string): ParsedBundle {
  const matches = [...pem.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)];
  if (matches.length === 0) {
    return { certs: [], problems: [{ code: 'ca_no_certificate', message: 'contains no certificate (expected PEM blocks starting with -----BEGIN CERTIFICATE-----)' }] };
  }
  const certs: ParsedCert[] = [];
  const problems: TrustProblem[] = [];
  matches.forEach((m, i) => {
    try {
      const [der] = splitPemCertificates(m[0]);
      if (der === undefined) throw new BouncerError('ERR_CERT_PARSE', 'empty PEM block');
      const cert = parseCertificateDer(der);
      if (!certs.some((o) => o.fingerprint256 === cert.fingerprint256)) certs.push(cert);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      problems.push({ code: 'ca_unparsable', message: `certificate block ${i + 1} of ${matches.length} does not parse: ${why}` });
    }
  });
  return { certs, problems };
}

/** The roots a tenant may use, and why the others were set aside. */
export interface AnchorSelection {
  readonly usable: readonly ParsedCert[];
  readonly problems: readonly TrustProblem[];
}

/**
 * Keeps the certificates of `certs` that {@link checkTrustAnchor} accepts and
 * records a problem for each of the others.
 *
 * @example
 * const { usable, problems } = selectTrustAnchors(parseCaBundle(pem).certs, { nowMs, minRsaBits: 2048 });
 */
export function selectTrustAnchors(certs: readonly ParsedCert[], rules: AnchorRules): AnchorSelection {
  const usable: ParsedCert[] = [];
  const problems: TrustProblem[] = [];
  for (const c of certs) {
    const problem = checkTrustAnchor(c, rules);
    if (problem) problems.push(problem);
    else usable.push(c);
  }
  return { usable, problems };
}

/**
 * The status of a tenant's trust data at `nowMs`: `unusable` when no root is in
 * its validity window (none was usable at load, or all have expired since),
 * `degraded` when some roots or files were set aside or have expired since,
 * else `ok`. Mode `off` (no trust store) is `ok`: there is nothing to judge.
 */
export function trustStatusAt(trust: TrustStore | null, nowMs: number): TrustStatus {
  if (trust === null) return 'ok';
  const live = trust.roots.filter((r) => r.notBefore <= nowMs && nowMs <= r.notAfter).length;
  if (live === 0) return 'unusable';
  return live < trust.roots.length || (trust.problems?.length ?? 0) > 0 ? 'degraded' : 'ok';
}

/** Every problem of a tenant's trust data at `nowMs`: those recorded at load and roots that expired since. */
export function trustProblemsAt(trust: TrustStore | null, nowMs: number): TrustProblem[] {
  if (trust === null) return [];
  const out = [...(trust.problems ?? [])];
  for (const r of trust.roots) {
    if (r.notAfter < nowMs) out.push({ code: 'ca_expired', subject: r.subject, message: `certificate "${r.subject}" expired on ${iso(r.notAfter)}` });
    else if (r.notBefore > nowMs) out.push({ code: 'ca_not_yet_valid', subject: r.subject, message: `certificate "${r.subject}" is not valid until ${iso(r.notBefore)}` });
  }
  if (trust.roots.length === 0 && out.length === 0) out.push({ code: 'ca_no_certificate', message: 'no CA certificate is configured' });
  return out;
}

/** A tenant's trust status and the reasons behind it, as the admin API and logs show it. */
export interface TrustReport {
  readonly status: TrustStatus;
  readonly problems: readonly TrustProblem[];
}

/** {@link trustStatusAt} and {@link trustProblemsAt} together. */
export function reportTrust(trust: TrustStore | null, nowMs: number): TrustReport {
  return { status: trustStatusAt(trust, nowMs), problems: trust === null ? [] : trustProblemsAt(trust, nowMs) };
}

import { EXT } from './cert-extensions.js';
import { KEY_USAGE } from './cert-oids.js';
import type { GeneralName } from './general-names.js';
import { MAX_NAME_CONSTRAINT_CHECKS, subtreeCount, violation } from './name-constraints.js';
import type { ParsedCert } from './parsed-cert.js';
import type { CertFailure } from './reasons.js';

// RFC 5280 rules checked on one candidate path [leaf, ..., anchor], beyond
// the classic ones (validity, basic constraints, key usage, EKU) in
// cert-path-checks.ts. Each returns a failure with its own reason code, or undefined.

export interface PathFailure {
  readonly ok: false;
  readonly reason: CertFailure;
  readonly detail: string;
}

function fail(reason: CertFailure, detail: string): PathFailure {
  return { ok: false, reason, detail };
}

/** "leaf CN=a", "intermediate CN=b", "trust anchor CN=c": who is at fault. */
export function describe(path: readonly ParsedCert[], i: number): string {
  const cert = path[i] as ParsedCert;
  const role = i === 0 ? 'leaf' : i === path.length - 1 ? 'trust anchor' : 'intermediate';
  return `${role} ${cert.subject || '(empty subject)'}`;
}

/**
 * Extensions whose meaning bouncer enforces. The policy ones are processed by
 * cert-policy.ts (RFC 5280 §6.1 policy processing). Anything else critical
 * makes a certificate unusable (§4.2).
 */
const PROCESSED_EXTENSIONS: ReadonlySet<string> = new Set([
  EXT.basicConstraints,
  EXT.keyUsage,
  EXT.extKeyUsage,
  EXT.subjectAltName,
  EXT.nameConstraints,
  EXT.certificatePolicies,
  EXT.policyConstraints,
  EXT.policyMappings,
  EXT.inhibitAnyPolicy,
]);

/** Encoding (every certificate, anchor included): one extension of each kind, each decodable, named EC curves only. */
export function checkEncoding(path: readonly ParsedCert[]): PathFailure | undefined {
  for (let i = 0; i < path.length; i++) {
    const cert = path[i] as ParsedCert;
    const oids = cert.extensions.oids;
    const repeated = oids.find((oid, k) => oids.indexOf(oid) !== k);
    if (repeated !== undefined) return fail('client_cert_duplicate_extension', `${describe(path, i)} has extension ${repeated} more than once (RFC 5280 §4.2)`);
    const bad = cert.extensions.malformed[0];
    if (bad !== undefined) {
      const reason = bad === EXT.nameConstraints ? 'client_cert_name_constraints_invalid' : 'client_cert_extension_malformed';
      return fail(reason, `${describe(path, i)} has a malformed extension ${bad}`);
    }
    if (cert.ecExplicitParams) return fail('client_cert_ec_explicit_params', `${describe(path, i)} has an EC key with explicit curve parameters (RFC 5480 §2.1.1 requires a named curve)`);
  }
  return undefined;
}

/**
 * The RFC 5280 profile rules a verifier can hold issuers to (the set OpenSSL
 * checks with -x509_strict), for every certificate of the path.
 */
export function checkProfile(path: readonly ParsedCert[]): PathFailure | undefined {
  for (let i = 0; i < path.length; i++) {
    const cert = path[i] as ParsedCert;
    const ext = cert.extensions;
    const isAnchor = i === path.length - 1;
    const emptySubject = cert.subjectName.rdns.length === 0;
    // §4.2.1.1 and §4.2.1.2: both identifiers MUST be non-critical.
    if (ext.criticalOids.has(EXT.authorityKeyIdentifier) || ext.criticalOids.has(EXT.subjectKeyIdentifier)) {
      const which = ext.criticalOids.has(EXT.authorityKeyIdentifier) ? 'authorityKeyIdentifier' : 'subjectKeyIdentifier';
      return fail('client_cert_key_id_critical', `${describe(path, i)} marks ${which} critical (RFC 5280 §4.2.1.1-2 require non-critical)`);
    }
    if (cert.isCa) {
      // §4.1.2.6: a CA's subject MUST be non-empty; §4.2.1.9: basicConstraints MUST be critical on a CA that signs certificates.
      if (emptySubject) return fail('client_cert_ca_subject_empty', `${describe(path, i)} is a CA with an empty subject (RFC 5280 §4.1.2.6)`);
      if (!ext.criticalOids.has(EXT.basicConstraints)) return fail('client_cert_ca_basic_constraints_not_critical', `${describe(path, i)} is a CA whose basicConstraints is not critical (RFC 5280 §4.2.1.9)`);
      // §4.2.1.3: CAs MUST include keyUsage; §4.2.1.2: CAs MUST include subjectKeyIdentifier.
      if (cert.keyUsage === undefined) return fail('client_cert_ca_key_usage_missing', `${describe(path, i)} is a CA without keyUsage (RFC 5280 §4.2.1.3)`);
      if (cert.version === 2 && !ext.oids.includes(EXT.subjectKeyIdentifier)) return fail('client_cert_ski_missing', `${describe(path, i)} is a CA without subjectKeyIdentifier (RFC 5280 §4.2.1.2)`);
    } else {
      // §4.2.1.3: keyCertSign only with cA; §4.2.1.10: nameConstraints only in CA certificates.
      if (cert.keyUsage !== undefined && (cert.keyUsage & KEY_USAGE.keyCertSign) !== 0) {
        return fail('client_cert_key_cert_sign_not_ca', `${describe(path, i)} asserts keyCertSign without basicConstraints cA (RFC 5280 §4.2.1.3)`);
      }
      if (ext.oids.includes(EXT.nameConstraints)) return fail('client_cert_name_constraints_not_ca', `${describe(path, i)} has nameConstraints but is not a CA (RFC 5280 §4.2.1.10)`);
    }
    // §4.2.1.1: every certificate but a self-signed one carries authorityKeyIdentifier; the anchor is exempt.
    if (!isAnchor && cert.version === 2 && !ext.oids.includes(EXT.authorityKeyIdentifier)) {
      return fail('client_cert_aki_missing', `${describe(path, i)} has no authorityKeyIdentifier (RFC 5280 §4.2.1.1)`);
    }
    // §4.1.2.6 and §4.2.1.6: an empty subject needs a critical subjectAltName.
    if (emptySubject && (ext.altNames === undefined || !ext.criticalOids.has(EXT.subjectAltName))) {
      const why = ext.altNames === undefined ? 'and no subjectAltName' : 'and a non-critical subjectAltName';
      return fail('client_cert_empty_subject_san', `${describe(path, i)} has an empty subject ${why} (RFC 5280 §4.2.1.6 requires it critical)`);
    }
  }
  return undefined;
}

/** RFC 5280 §6.1.4 (o): every critical extension, anchor included, is processed or the path is refused. */
export function checkCriticalExtensions(path: readonly ParsedCert[]): PathFailure | undefined {
  for (let i = 0; i < path.length; i++) {
    const cert = path[i] as ParsedCert;
    for (const oid of cert.criticalExtensions) {
      if (!PROCESSED_EXTENSIONS.has(oid)) return fail('client_cert_critical_extension', `${describe(path, i)} has an unsupported critical extension ${oid}`);
    }
  }
  return undefined;
}

/** The names of a certificate that name constraints apply to (§4.2.1.10, §6.1.3 (b)-(c)). */
function constrainedNames(cert: ParsedCert): GeneralName[] {
  const names: GeneralName[] = [...(cert.extensions.altNames ?? [])];
  if (cert.subjectName.rdns.length > 0) names.push({ kind: 'dn', name: cert.subjectName });
  // emailAddress attributes in the subject are held to rfc822Name constraints, as OpenSSL and Go do.
  for (const email of cert.subjectName.emails) names.push({ kind: 'email', value: email });
  return names;
}

/**
 * Name constraints (RFC 5280 §6.1.3 (b)-(c), §6.1.4 (g)) from every CA of the
 * path, the anchor included (as OpenSSL and Go do when the anchor is a
 * certificate), applied to every certificate below it except self-issued
 * intermediates. Checking each name against each CA's constraints separately
 * is the intersection the RFC's state variables compute. The work is counted
 * first and bounded by {@link MAX_NAME_CONSTRAINT_CHECKS}.
 */
export function checkNameConstraints(path: readonly ParsedCert[]): PathFailure | undefined {
  let cost = 0;
  const names = new Map<number, GeneralName[]>();
  for (let i = path.length - 1; i >= 1; i--) {
    const nc = (path[i] as ParsedCert).extensions.nameConstraints;
    if (!nc) continue;
    if (nc.problem !== undefined) return fail('client_cert_name_constraints_invalid', `${describe(path, i)} has unusable nameConstraints: ${nc.problem}`);
    for (let j = i - 1; j >= 0; j--) {
      const cert = path[j] as ParsedCert;
      if (j > 0 && cert.selfIssued) continue;
      let list = names.get(j);
      if (!list) names.set(j, (list = constrainedNames(cert)));
      cost += list.length * subtreeCount(nc);
    }
  }
  if (cost > MAX_NAME_CONSTRAINT_CHECKS) {
    return fail('client_cert_name_constraints_too_complex', `checking the path's names against its name constraints takes ${cost} comparisons (limit ${MAX_NAME_CONSTRAINT_CHECKS})`);
  }
  for (let i = path.length - 1; i >= 1; i--) {
    const nc = (path[i] as ParsedCert).extensions.nameConstraints;
    if (!nc) continue;
    for (let j = i - 1; j >= 0; j--) {
      const list = names.get(j);
      if (!list) continue;
      for (const name of list) {
        const why = violation(name, nc);
        if (why !== undefined) return fail('client_cert_name_constraints', `${describe(path, j)}: ${why} (constrained by ${describe(path, i)})`);
      }
    }
  }
  return undefined;
}

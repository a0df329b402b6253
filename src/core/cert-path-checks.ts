import { EKU_ANY, EKU_CLIENT_AUTH, KEY_USAGE, STRONG_SIGNATURE_OIDS, UNSUPPORTED_SIGNATURE_NAMES, WEAK_SIGNATURE_NAMES } from './cert-oids.js';
import { fail, iso, type ChainOptions, type Failure } from './cert-path-result.js';
import { describe } from './cert-profile.js';
import type { ParsedCert } from './parsed-cert.js';

// Checks on one candidate path. Each returns a Failure or undefined.

/** RFC 5280 §6.1.3 (a)(2): every certificate, anchor included, must be in its validity window. */
export function checkValidity(path: readonly ParsedCert[], nowMs: number): Failure | undefined {
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
export function checkLeaf(path: readonly ParsedCert[], options: ChainOptions): Failure | undefined {
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
export function checkIssuers(path: readonly ParsedCert[]): Failure | undefined {
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

export function signatureName(oid: string): string {
  return STRONG_SIGNATURE_OIDS.get(oid) ?? WEAK_SIGNATURE_NAMES.get(oid) ?? UNSUPPORTED_SIGNATURE_NAMES.get(oid) ?? oid;
}

/**
 * Every signature we relied on (each link below the anchor) must use an
 * algorithm from STRONG_SIGNATURE_OIDS; the anchor's self-signature is not
 * relied on, so its algorithm does not matter. Every key, anchor included, must
 * be strong, because each one's signature is what the path's trust rests on.
 */
export function checkAlgorithms(path: readonly ParsedCert[]): Failure | undefined {
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

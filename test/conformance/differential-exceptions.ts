/**
 * Where bouncer and `openssl verify -x509_strict -purpose sslclient` disagree
 * on the differential corpus, and why bouncer's verdict is the one it should
 * give. The test fails on any disagreement not listed here, and on any listed
 * case that no longer disagrees.
 */
export interface DifferentialException {
  /** bouncer's verdict; OpenSSL's is the other one. */
  readonly bouncer: 'valid' | 'invalid';
  /** bouncer's reason code when it refuses. */
  readonly code?: string;
  readonly why: string;
}

export const DIFFERENTIAL_EXCEPTIONS: Readonly<Record<string, DifferentialException>> = {
  'policy: root requires explicit policy, chain without policies': {
    bouncer: 'invalid',
    code: 'client_cert_policy_mismatch',
    why: "The trust anchor is a certificate whose policyConstraints require an explicit policy; bouncer applies an anchor certificate's constraints as RFC 5937 §3 describes (as it does the anchor's name constraints), so a path without policies is refused. OpenSSL leaves the anchor out of policy processing.",
  },
  'nc dns constraint with leading period': {
    bouncer: 'invalid',
    code: 'client_cert_name_constraints_invalid',
    why: 'RFC 5280 §4.2.1.10 gives the leading-period form to URI and rfc822Name constraints only; a dNSName constraint is a DNS name in preferred name syntax (§4.2.1.6), so ".example.com" is malformed and the CA is refused rather than guessed at.',
  },
  'nc email constraint "@example.com"': {
    bouncer: 'invalid',
    code: 'client_cert_name_constraints_invalid',
    why: 'RFC 5280 §4.2.1.10 allows a mailbox, a host or a .domain as rfc822Name constraint; "@example.com" is none of them.',
  },
  'nc in an end-entity certificate': {
    bouncer: 'invalid',
    code: 'client_cert_name_constraints_not_ca',
    why: 'RFC 5280 §4.2.1.10: the name constraints extension MUST be used only in a CA certificate.',
  },
  'nc with 600 subtrees and 10 names': {
    bouncer: 'invalid',
    code: 'client_cert_name_constraints_too_complex',
    why: '6,000 name comparisons exceed MAX_NAME_CONSTRAINT_CHECKS (4,096): bouncer bounds the work a presented chain can cause on the request path; OpenSSL bounds it much higher.',
  },
  'leaf without extendedKeyUsage': {
    bouncer: 'invalid',
    code: 'client_cert_bad_eku',
    why: 'bouncer requires the clientAuth EKU on the leaf (Envoy does not enforce it, GHSA-837m-wjrv-vm5g); OpenSSL lets a leaf without EKU serve any purpose (RFC 5280 §4.2.1.12 allows either).',
  },
  'leaf signed with SHA-1': {
    bouncer: 'invalid',
    code: 'client_cert_weak_signature',
    why: 'SHA-1 signatures are refused (RFC 9155); RFC 5280 leaves the algorithm policy to the relying party, and OpenSSL 3.0 at its default security level still accepts SHA-1.',
  },
  'leaf signed with RSASSA-PSS': {
    bouncer: 'invalid',
    code: 'client_cert_signature_unsupported',
    why: 'bouncer does not verify RSASSA-PSS (its parameters are not read) and says so with its own reason instead of calling it weak.',
  },
  'at the leaf notAfter exactly': {
    bouncer: 'valid',
    why: 'RFC 5280 §4.1.2.5: the validity period runs from notBefore through notAfter, inclusive. OpenSSL treats notAfter itself as expired.',
  },
};

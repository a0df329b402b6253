import type { KeyObject, X509Certificate as NodeX509 } from 'node:crypto';
import type { ExtensionFacts } from './cert-extensions.js';
import type { DistinguishedName } from './dn.js';

export interface SubjectAltNames {
  dns: string[];
  uri: string[];
  email: string[];
  ip: string[];
}

/**
 * A certificate parsed once, with everything path validation and the identity
 * headers need. Parsing is the expensive part; callers cache these.
 */
export interface ParsedCert {
  readonly pem: string;
  readonly der: Buffer;
  readonly node: NodeX509;
  /** Lowercase hex SHA-256 of the DER, no separators. */
  readonly fingerprint256: string;
  readonly subject: string;
  readonly issuer: string;
  /** Lowercase hex serial number. */
  readonly serial: string;
  /** The serial as a signed INTEGER in canonical hex (`canonicalIntegerHex` in der.ts); what CRL entries are matched on. */
  readonly serialKey: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** basicConstraints cA; false when the extension is absent. */
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLen: number | undefined;
  /** Key usage bit set, or undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** Extended key usage OIDs, or undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined;
  readonly sans: SubjectAltNames;
  readonly signatureOid: string;
  readonly publicKey: KeyObject;
  /** 'rsa', 'ec', 'ed25519', 'ed448', 'rsa-pss', ... */
  readonly keyType: string;
  /** RSA modulus length in bits, or the EC curve's field size. */
  readonly keyBits: number;
  /** True when subject and issuer are the same name (a root candidate). */
  readonly selfIssued: boolean;
  /** OIDs of the extensions marked critical, for RFC 5280 §4.2's unknown-critical rule. */
  readonly criticalExtensions: readonly string[];
  /** Subject and issuer in comparable form (RFC 5280 §7.1); path building and CRL matching use these, not the strings. */
  readonly subjectName: DistinguishedName;
  readonly issuerName: DistinguishedName;
  /** 0 for v1, 1 for v2, 2 for v3. */
  readonly version: number;
  /** Extension facts read by one reader for both parse paths (name constraints, full SAN, policy constraints, repeats). */
  readonly extensions: ExtensionFacts;
  /** An EC key whose parameters are not a named curve (RFC 5480 §2.1.1 forbids them). */
  readonly ecExplicitParams: boolean;
}

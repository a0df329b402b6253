import { children, isWellFormed, readOid, readSmallUint, readTlv, type Tlv } from './der.js';
import { readGeneralName, readGeneralNames, type GeneralName } from './general-names.js';
import { readCrlDistributionPoints, type DistributionPoint } from './distribution-point.js';
import { readNameConstraints, type NameConstraints } from './name-constraints.js';

/** RFC 5280 §4.2 extension OIDs bouncer reads or recognises. */
export const EXT = {
  authorityKeyIdentifier: '2.5.29.35',
  cRLDistributionPoints: '2.5.29.31',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  certificatePolicies: '2.5.29.32',
  policyMappings: '2.5.29.33',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  policyConstraints: '2.5.29.36',
  extKeyUsage: '2.5.29.37',
  inhibitAnyPolicy: '2.5.29.54',
} as const;

/** One extension as encoded: `value` is the TLV inside extnValue's OCTET STRING, when that is well-formed DER. */
export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Tlv | undefined;
}

/**
 * The extensions field read structurally. Undefined when the list itself is
 * malformed (not a SEQUENCE of Extension, a BOOLEAN that is not DER). An
 * extension value that does not decode is kept with `value` undefined, so that
 * whoever needs it can refuse the certificate with a precise reason.
 */
export function readExtensionList(buf: Uint8Array, list: Tlv): RawExtension[] | undefined {
  const exts = list.tag === 0x30 ? children(buf, list) : undefined;
  // An empty list breaks SIZE (1..MAX) but means nothing; some generators write one.
  if (!exts) return undefined;
  const out: RawExtension[] = [];
  for (const ext of exts) {
    const f = ext.tag === 0x30 ? children(buf, ext) : undefined;
    if (!f || f.length < 2 || f.length > 3) return undefined;
    const oid = readOid(buf, f[0] as Tlv);
    if (oid === undefined) return undefined;
    let critical = false;
    if (f.length === 3) {
      const b = f[1] as Tlv;
      // An explicit FALSE is not DER (DEFAULT values are omitted) but common in old CAs, and harmless.
      if (b.tag !== 0x01 || b.end - b.content !== 1 || (buf[b.content] !== 0xff && buf[b.content] !== 0)) return undefined;
      critical = buf[b.content] === 0xff;
    }
    const octets = f[f.length - 1] as Tlv;
    if (octets.tag !== 0x04) return undefined;
    const inner = readTlv(buf, octets.content, octets.end);
    const ok = inner !== undefined && inner.end === octets.end && isWellFormed(buf, octets.content, octets.end);
    out.push({ oid, critical, value: ok ? inner : undefined });
  }
  return out;
}

/** One policyMappings pair: `issuer` (issuerDomainPolicy) is considered equivalent to `subject` (subjectDomainPolicy). */
export interface PolicyMapping {
  readonly issuer: string;
  readonly subject: string;
}

/** What certificate policy processing (RFC 5280 §6.1.3 (d)-(f), §6.1.4 (a)-(b), (h)-(j)) needs from a certificate. */
export interface PolicyFacts {
  /** certificatePolicies policy OIDs (anyPolicy included), or undefined when the extension is absent. Qualifiers are not kept: bouncer does not show them. */
  readonly policies: readonly string[] | undefined;
  /** policyMappings, or undefined when absent. */
  readonly mappings: readonly PolicyMapping[] | undefined;
  /** policyConstraints requireExplicitPolicy (skip certificates). */
  readonly requireExplicitPolicy: number | undefined;
  /** policyConstraints inhibitPolicyMapping (skip certificates). */
  readonly inhibitPolicyMapping: number | undefined;
  /** inhibitAnyPolicy (skip certificates). */
  readonly inhibitAnyPolicy: number | undefined;
}

export const NO_POLICY_FACTS: PolicyFacts = {
  policies: undefined,
  mappings: undefined,
  requireExplicitPolicy: undefined,
  inhibitPolicyMapping: undefined,
  inhibitAnyPolicy: undefined,
};

/**
 * Facts read from the extensions beyond what both parsers already expose:
 * the same reader serves the fast and the complete parse, so they cannot
 * disagree on them.
 */
export interface ExtensionFacts {
  /** Every extension OID, in order, repeats included (RFC 5280 §4.2: at most one of each). */
  readonly oids: readonly string[];
  readonly criticalOids: ReadonlySet<string>;
  /** OIDs whose value does not decode as its RFC 5280 syntax. */
  readonly malformed: readonly string[];
  /** subjectAltName in full, or undefined when absent. */
  readonly altNames: readonly GeneralName[] | undefined;
  readonly nameConstraints: NameConstraints | undefined;
  readonly policy: PolicyFacts;
  /** cRLDistributionPoints, or undefined when absent: which of its issuer's CRLs cover the certificate (RFC 5280 §6.3.3 (b)). */
  readonly crlDistributionPoints: readonly DistributionPoint[] | undefined;
}

export const NO_EXTENSIONS: ExtensionFacts = {
  oids: [],
  criticalOids: new Set(),
  malformed: [],
  altNames: undefined,
  nameConstraints: undefined,
  policy: NO_POLICY_FACTS,
  crlDistributionPoints: undefined,
};

/** PolicyConstraints ::= SEQUENCE { requireExplicitPolicy [0] SkipCerts OPTIONAL, inhibitPolicyMapping [1] SkipCerts OPTIONAL } */
function readPolicyConstraints(buf: Uint8Array, t: Tlv): { requireExplicitPolicy: number | undefined; inhibitPolicyMapping: number | undefined } | undefined {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  // §4.2.1.11: the sequence MUST NOT be empty.
  if (!items || items.length === 0 || items.length > 2) return undefined;
  let requireExplicitPolicy: number | undefined;
  let inhibitPolicyMapping: number | undefined;
  let last = -1;
  for (const item of items) {
    const n = item.tag === 0x80 ? 0 : item.tag === 0x81 ? 1 : -1;
    if (n <= last) return undefined;
    last = n;
    const v = readSmallUint(buf, { ...item, tag: 0x02 });
    if (v === undefined) return undefined;
    if (n === 0) requireExplicitPolicy = v;
    else inhibitPolicyMapping = v;
  }
  return { requireExplicitPolicy, inhibitPolicyMapping };
}

/** PolicyMappings ::= SEQUENCE SIZE (1..MAX) OF SEQUENCE { issuerDomainPolicy, subjectDomainPolicy }. */
function readPolicyMappings(buf: Uint8Array, t: Tlv): PolicyMapping[] | undefined {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!items || items.length === 0) return undefined;
  const out: PolicyMapping[] = [];
  for (const item of items) {
    const pair = item.tag === 0x30 ? children(buf, item) : undefined;
    if (!pair || pair.length !== 2) return undefined;
    const issuer = readOid(buf, pair[0] as Tlv);
    const subject = readOid(buf, pair[1] as Tlv);
    if (issuer === undefined || subject === undefined) return undefined;
    out.push({ issuer, subject });
  }
  return out;
}

/**
 * certificatePolicies ::= SEQUENCE SIZE (1..MAX) OF PolicyInformation { policyIdentifier, policyQualifiers SEQUENCE OF ... OPTIONAL }.
 * A policy OID listed twice is malformed (§4.2.1.4: "MUST NOT appear more than once").
 */
function readCertificatePolicies(buf: Uint8Array, t: Tlv): string[] | undefined {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!items || items.length === 0) return undefined;
  const out = new Set<string>();
  for (const item of items) {
    const fields = item.tag === 0x30 ? children(buf, item) : undefined;
    if (!fields || fields.length < 1 || fields.length > 2) return undefined;
    const oid = readOid(buf, fields[0] as Tlv);
    if (oid === undefined || out.has(oid)) return undefined;
    if (fields[1] !== undefined && (fields[1].tag !== 0x30 || fields[1].end === fields[1].content)) return undefined;
    out.add(oid);
  }
  return [...out];
}

/** AuthorityKeyIdentifier ::= SEQUENCE { [0] keyIdentifier, [1] authorityCertIssuer GeneralNames, [2] serial }, each optional, in order. */
function isAuthorityKeyId(buf: Uint8Array, t: Tlv): boolean {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!items) return false;
  let last = -1;
  for (const item of items) {
    const n = item.tag === 0x80 ? 0 : item.tag === 0xa1 ? 1 : item.tag === 0x82 ? 2 : -1;
    if (n <= last) return false;
    last = n;
    if (n === 1 && !readGeneralNames(buf, { ...item, tag: 0x30 })) return false;
    if (n === 2 && item.end === item.content) return false;
  }
  return true;
}

/** AuthorityInfoAccessSyntax ::= SEQUENCE SIZE (1..MAX) OF AccessDescription { accessMethod OID, accessLocation GeneralName }. */
function isAuthorityInfoAccess(buf: Uint8Array, t: Tlv): boolean {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!items || items.length === 0) return false;
  return items.every((item) => {
    const parts = item.tag === 0x30 ? children(buf, item) : undefined;
    return parts?.length === 2 && readOid(buf, parts[0] as Tlv) !== undefined && readGeneralName(buf, parts[1] as Tlv) !== undefined;
  });
}

/** Reads the facts of an extension list (see {@link readExtensionList}). */
export function readExtensionFacts(buf: Uint8Array, list: readonly RawExtension[]): ExtensionFacts {
  const malformed: string[] = [];
  let altNames: GeneralName[] | undefined;
  let nameConstraints: NameConstraints | undefined;
  let policies: string[] | undefined;
  let mappings: PolicyMapping[] | undefined;
  let requireExplicitPolicy: number | undefined;
  let inhibitPolicyMapping: number | undefined;
  let inhibitAnyPolicy: number | undefined;
  let crlDistributionPoints: DistributionPoint[] | undefined;
  for (const ext of list) {
    const v = ext.value;
    if (!v) {
      malformed.push(ext.oid);
      continue;
    }
    if (ext.oid === EXT.subjectAltName) {
      const names = readGeneralNames(buf, v);
      if (names) altNames = names;
      else malformed.push(ext.oid);
    } else if (ext.oid === EXT.nameConstraints) {
      const nc = readNameConstraints(buf, v);
      if (nc) nameConstraints = nc;
      else malformed.push(ext.oid);
    } else if (ext.oid === EXT.policyConstraints) {
      const pc = readPolicyConstraints(buf, v);
      if (pc) ({ requireExplicitPolicy, inhibitPolicyMapping } = pc);
      else malformed.push(ext.oid);
    } else if (ext.oid === EXT.policyMappings) {
      mappings = readPolicyMappings(buf, v);
      if (!mappings) malformed.push(ext.oid);
    } else if (ext.oid === EXT.certificatePolicies) {
      policies = readCertificatePolicies(buf, v);
      if (!policies) malformed.push(ext.oid);
    } else if (ext.oid === EXT.inhibitAnyPolicy) {
      // InhibitAnyPolicy ::= SkipCerts (INTEGER 0..MAX)
      inhibitAnyPolicy = readSmallUint(buf, v);
      if (inhibitAnyPolicy === undefined) malformed.push(ext.oid);
    } else if (ext.oid === EXT.authorityKeyIdentifier) {
      // Only presence and criticality matter to path validation; the syntax is checked so a garbled one is not counted as present.
      if (!isAuthorityKeyId(buf, v)) malformed.push(ext.oid);
    } else if (ext.oid === EXT.subjectKeyIdentifier) {
      if (v.tag !== 0x04) malformed.push(ext.oid);
    } else if (ext.oid === EXT.cRLDistributionPoints) {
      crlDistributionPoints = readCrlDistributionPoints(buf, v);
      if (!crlDistributionPoints) malformed.push(ext.oid);
    } else if (ext.oid === EXT.authorityInfoAccess) {
      if (!isAuthorityInfoAccess(buf, v)) malformed.push(ext.oid);
    }
  }
  return {
    oids: list.map((e) => e.oid),
    criticalOids: new Set(list.filter((e) => e.critical).map((e) => e.oid)),
    malformed,
    altNames,
    nameConstraints,
    policy:
      policies === undefined && mappings === undefined && requireExplicitPolicy === undefined && inhibitPolicyMapping === undefined && inhibitAnyPolicy === undefined
        ? NO_POLICY_FACTS
        : { policies, mappings, requireExplicitPolicy, inhibitPolicyMapping, inhibitAnyPolicy },
    crlDistributionPoints,
  };
}

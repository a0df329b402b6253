import { children, type Tlv } from './der.js';
import { appendRdn, readRelativeName, type DistinguishedName } from './dn.js';
import { readGeneralNames, type GeneralName } from './general-names.js';

// CRL distribution point names (RFC 5280 §4.2.1.13, §5.2.5), as a certificate's
// cRLDistributionPoints and a CRL's issuingDistributionPoint carry them: whether
// a CRL covers a certificate depends on one name of each matching (§6.3.3 (b)(2)(i)).

/** DistributionPointName ::= CHOICE { fullName [0] GeneralNames, nameRelativeToCRLIssuer [1] RelativeDistinguishedName } */
export type DistributionPointName =
  | { readonly kind: 'full'; readonly names: readonly GeneralName[] }
  /** One RDN in comparable form (see dn.ts), to be appended to the CRL issuer's name. */
  | { readonly kind: 'relative'; readonly rdn: string };

/** One DistributionPoint of a certificate's cRLDistributionPoints. */
export interface DistributionPoint {
  readonly name: DistributionPointName | undefined;
  /** cRLIssuer: the CRL is published by someone other than the certificate's issuer (an indirect CRL). */
  readonly crlIssuer: readonly GeneralName[] | undefined;
  readonly hasReasons: boolean;
}

/** Reads the `[0]` element that wraps a DistributionPointName (explicitly, as it is a CHOICE); undefined when malformed. */
export function readDistributionPointName(buf: Uint8Array, wrapper: Tlv): DistributionPointName | undefined {
  const inner = children(buf, wrapper);
  const name = inner?.length === 1 ? (inner[0] as Tlv) : undefined;
  if (name?.tag === 0xa0) {
    const names = readGeneralNames(buf, { ...name, tag: 0x30 });
    return names ? { kind: 'full', names } : undefined;
  }
  if (name?.tag === 0xa1) {
    const rdn = readRelativeName(buf, name);
    return rdn === undefined ? undefined : { kind: 'relative', rdn };
  }
  return undefined;
}

/** CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint; undefined when malformed. */
export function readCrlDistributionPoints(buf: Uint8Array, t: Tlv): DistributionPoint[] | undefined {
  const points = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!points || points.length === 0) return undefined;
  const out: DistributionPoint[] = [];
  for (const point of points) {
    const fields = point.tag === 0x30 ? children(buf, point) : undefined;
    if (!fields) return undefined;
    let last = -1;
    let name: DistributionPointName | undefined;
    let crlIssuer: GeneralName[] | undefined;
    let hasReasons = false;
    for (const f of fields) {
      const n = f.tag === 0xa0 ? 0 : f.tag === 0x81 ? 1 : f.tag === 0xa2 ? 2 : -1;
      if (n <= last) return undefined;
      last = n;
      if (n === 0) {
        name = readDistributionPointName(buf, f);
        if (!name) return undefined;
      } else if (n === 1) {
        hasReasons = true;
      } else {
        crlIssuer = readGeneralNames(buf, { ...f, tag: 0x30 });
        if (!crlIssuer) return undefined;
      }
    }
    out.push({ name, crlIssuer, hasReasons });
  }
  return out;
}

/** One GeneralName as a comparison key; undefined for forms bouncer does not compare (otherName, x400Address, ...). */
function generalNameKey(n: GeneralName): string | undefined {
  switch (n.kind) {
    case 'dn':
      return `dn:${n.name.key}`;
    case 'uri':
      return `uri:${n.value}`;
    case 'dns':
      return `dns:${n.value.toLowerCase()}`;
    case 'email':
      return `email:${n.value}`;
    case 'ip':
      return `ip:${Buffer.from(n.bytes).toString('hex')}`;
    default:
      return undefined;
  }
}

/**
 * The names a DistributionPointName stands for, as comparison keys: each
 * fullName, or `issuer` followed by the relative RDN (a directoryName).
 * URIs compare exactly; a difference in spelling only makes the CRL not
 * apply, which is the safe direction.
 */
export function distributionPointKeys(name: DistributionPointName, issuer: DistinguishedName): string[] {
  if (name.kind === 'relative') return [`dn:${appendRdn(issuer, name.rdn)}`];
  const keys: string[] = [];
  for (const n of name.names) {
    const key = generalNameKey(n);
    if (key !== undefined) keys.push(key);
  }
  return keys;
}

// DER builders for the extensions @peculiar/x509 has no class for, or writes
// only in valid forms: name constraints of every form, subject alternative
// names with any criticality, raw repeats. Used to make deliberately odd
// certificates for the path-validation and differential tests.
import 'reflect-metadata';
import { Extension, Name } from '@peculiar/x509';

/** One DER TLV with a definite length. */
export function tlv(tag: number, content: Uint8Array | readonly number[]): Buffer {
  const body = Buffer.from(content as Uint8Array);
  const len = body.length;
  const head =
    len < 0x80 ? [tag, len] : len < 0x100 ? [tag, 0x81, len] : len < 0x10000 ? [tag, 0x82, len >> 8, len & 0xff] : [tag, 0x83, len >> 16, (len >> 8) & 0xff, len & 0xff];
  return Buffer.concat([Buffer.from(head), body]);
}

/** A GeneralName (RFC 5280 §4.2.1.6), as [tag, DER]. */
export type GeneralNameDer = Buffer;

export const gn = {
  email: (v: string): GeneralNameDer => tlv(0x81, Buffer.from(v, 'latin1')),
  dns: (v: string): GeneralNameDer => tlv(0x82, Buffer.from(v, 'latin1')),
  uri: (v: string): GeneralNameDer => tlv(0x86, Buffer.from(v, 'latin1')),
  /** Dotted IPv4 or an address/mask pair "10.0.0.0/255.0.0.0"; or raw octets. */
  ip: (v: string | readonly number[]): GeneralNameDer => {
    if (typeof v !== 'string') return tlv(0x87, v);
    const bytes = v.split('/').flatMap((part) => (part.includes(':') ? ipv6(part) : part.split('.').map(Number)));
    return tlv(0x87, bytes);
  },
  dn: (v: string): GeneralNameDer => tlv(0xa4, Buffer.from(new Name(v).toArrayBuffer())),
};

function ipv6(s: string): number[] {
  const [head = '', tail = ''] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

/** subjectAltName with exactly these names. */
export function sanExtension(names: readonly GeneralNameDer[], critical = false): Extension {
  return new Extension('2.5.29.17', critical, tlv(0x30, Buffer.concat(names)));
}

/** nameConstraints; `undefined` omits a field. Each base may carry raw trailing fields (minimum/maximum). */
export function nameConstraintsExtension(o: { permitted?: readonly GeneralNameDer[]; excluded?: readonly GeneralNameDer[]; critical?: boolean; subtreeExtra?: Buffer }): Extension {
  const subtrees = (bases: readonly GeneralNameDer[]): Buffer => Buffer.concat(bases.map((b) => tlv(0x30, Buffer.concat([b, o.subtreeExtra ?? Buffer.alloc(0)]))));
  const parts: Buffer[] = [];
  if (o.permitted) parts.push(tlv(0xa0, subtrees(o.permitted)));
  if (o.excluded) parts.push(tlv(0xa1, subtrees(o.excluded)));
  return new Extension('2.5.29.30', o.critical ?? true, tlv(0x30, Buffer.concat(parts)));
}

/** An extension with an arbitrary OID and value. */
export function rawExtension(oid: string, critical: boolean, value: Buffer): Extension {
  return new Extension(oid, critical, value);
}

/** An OBJECT IDENTIFIER in DER. */
export function oidDer(text: string): Buffer {
  const arcs = text.split('.').map(BigInt);
  const values = [(arcs[0] as bigint) * 40n + (arcs[1] as bigint), ...arcs.slice(2)];
  const bytes: number[] = [];
  for (const v of values) {
    const chunk: number[] = [];
    let x = v;
    do {
      chunk.unshift(Number(x & 0x7fn));
      x >>= 7n;
    } while (x > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] as number) | 0x80;
    bytes.push(...chunk);
  }
  return tlv(0x06, bytes);
}

/** certificatePolicies with these policy OIDs, no qualifiers. */
export function certificatePolicies(oids: readonly string[], critical = false): Extension {
  return new Extension('2.5.29.32', critical, tlv(0x30, Buffer.concat(oids.map((o) => tlv(0x30, oidDer(o))))));
}

/** policyMappings: each pair is [issuerDomainPolicy, subjectDomainPolicy]. */
export function policyMappings(pairs: readonly (readonly [string, string])[], critical = true): Extension {
  return new Extension('2.5.29.33', critical, tlv(0x30, Buffer.concat(pairs.map(([a, b]) => tlv(0x30, Buffer.concat([oidDer(a), oidDer(b)]))))));
}

/** policyConstraints with the given SkipCerts (each below 128). */
export function policyConstraints(o: { requireExplicit?: number; inhibitMapping?: number }, critical = true): Extension {
  const parts = [...(o.requireExplicit === undefined ? [] : [tlv(0x80, [o.requireExplicit])]), ...(o.inhibitMapping === undefined ? [] : [tlv(0x81, [o.inhibitMapping])])];
  return new Extension('2.5.29.36', critical, tlv(0x30, Buffer.concat(parts)));
}

/** inhibitAnyPolicy with SkipCerts `n` (below 128). */
export function inhibitAnyPolicy(n: number): Extension {
  return new Extension('2.5.29.54', true, tlv(0x02, [n]));
}


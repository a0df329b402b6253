import { children, readOid, type Tlv } from './der.js';
import { readDistinguishedName, type DistinguishedName } from './dn.js';

/**
 * One GeneralName (RFC 5280 §4.2.1.6), as found in subjectAltName and in
 * nameConstraints subtrees. The forms name constraints are defined for are
 * read; the others are kept as their tag so a constraint on them can be
 * refused rather than ignored.
 */
export type GeneralName =
  | { readonly kind: 'email' | 'dns' | 'uri'; readonly value: string }
  /** 4 or 16 octets in a certificate; 8 or 32 (address then mask) in a constraint. */
  | { readonly kind: 'ip'; readonly bytes: Uint8Array }
  | { readonly kind: 'dn'; readonly name: DistinguishedName }
  | { readonly kind: 'other'; readonly tag: number; readonly form: string };

/** Names of the forms bouncer does not constrain, for details. */
const OTHER_FORMS: ReadonlyMap<number, string> = new Map([
  [0xa0, 'otherName'],
  [0xa3, 'x400Address'],
  [0xa5, 'ediPartyName'],
  [0x88, 'registeredID'],
]);

/** IA5String content: ASCII only (X.680 §41), else undefined. */
function readIa5(buf: Uint8Array, t: Tlv): string | undefined {
  for (let i = t.content; i < t.end; i++) if ((buf[i] as number) > 0x7f) return undefined;
  return Buffer.from(buf.subarray(t.content, t.end)).toString('latin1');
}

/** Reads one GeneralName; undefined when it is malformed. */
export function readGeneralName(buf: Uint8Array, t: Tlv): GeneralName | undefined {
  switch (t.tag) {
    case 0x81:
    case 0x82:
    case 0x86: {
      const value = readIa5(buf, t);
      if (value === undefined) return undefined;
      return { kind: t.tag === 0x81 ? 'email' : t.tag === 0x82 ? 'dns' : 'uri', value };
    }
    case 0x87:
      return { kind: 'ip', bytes: buf.slice(t.content, t.end) };
    case 0xa4: {
      // directoryName is [4] EXPLICIT Name (Name is a CHOICE, so the tag is explicit).
      const inner = children(buf, t);
      if (!inner || inner.length !== 1) return undefined;
      const name = readDistinguishedName(buf, inner[0] as Tlv);
      return name ? { kind: 'dn', name } : undefined;
    }
    case 0x88:
      if (readOid(buf, { ...t, tag: 0x06 }) === undefined) return undefined;
      return { kind: 'other', tag: t.tag, form: 'registeredID' };
    default: {
      const form = OTHER_FORMS.get(t.tag);
      return form === undefined ? undefined : { kind: 'other', tag: t.tag, form };
    }
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName; undefined when malformed or empty. */
export function readGeneralNames(buf: Uint8Array, t: Tlv): GeneralName[] | undefined {
  const items = t.tag === 0x30 ? children(buf, t) : undefined;
  if (!items || items.length === 0) return undefined;
  const out: GeneralName[] = [];
  for (const item of items) {
    const name = readGeneralName(buf, item);
    if (!name) return undefined;
    out.push(name);
  }
  return out;
}

/** A GeneralName for details: `dNSName example.com`. */
export function describeGeneralName(n: GeneralName): string {
  switch (n.kind) {
    case 'email':
      return `rfc822Name ${n.value}`;
    case 'dns':
      return `dNSName ${n.value}`;
    case 'uri':
      return `URI ${n.value}`;
    case 'ip':
      return `iPAddress ${formatIp(n.bytes)}`;
    case 'dn':
      return `directoryName ${n.name.key}`;
    default:
      return n.form;
  }
}

/** Dotted or colon form of an address, or address/mask for a constraint. */
export function formatIp(bytes: Uint8Array): string {
  const part = (b: Uint8Array): string =>
    b.length === 4
      ? Array.from(b).join('.')
      : b.length === 16
        ? Array.from({ length: 8 }, (_, i) => (((b[2 * i] as number) << 8) | (b[2 * i + 1] as number)).toString(16)).join(':')
        : Buffer.from(b).toString('hex');
  if (bytes.length === 8 || bytes.length === 32) {
    const half = bytes.length / 2;
    return `${part(bytes.subarray(0, half))}/${part(bytes.subarray(half))}`;
  }
  return part(bytes);
}

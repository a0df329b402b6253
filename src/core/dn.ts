import { children, readOid, type Tlv } from './der.js';

/**
 * A distinguished name read for comparison, not for display. RFC 5280 §7.1:
 * names match when their RDN sequences match, RDN by RDN (attribute order
 * inside a multi-valued RDN does not count), and PrintableString / UTF8String
 * values are compared after LDAP StringPrep (RFC 4518: case folding,
 * insignificant space), so "Good  CA" in PrintableString and "good ca" in
 * UTF8String name the same CA. Other string types compare by their bytes.
 */
export interface DistinguishedName {
  /** The whole name in comparable form: equal keys are equal names. */
  readonly key: string;
  /** Each RDN in comparable form, in order; a directoryName constraint is a prefix of these (§4.2.1.10). */
  readonly rdns: readonly string[];
  /** Values of emailAddress attributes (PKCS #9), which rfc822Name constraints reach (§4.2.1.10). */
  readonly emails: readonly string[];
}

const OID_EMAIL_ADDRESS = '1.2.840.113549.1.9.1';

/** String types whose values are compared as text; the others compare by tag and bytes. */
const TAG_PRINTABLE = 0x13;
const TAG_UTF8 = 0x0c;
const TAG_IA5 = 0x16;
const TAG_BMP = 0x1e;
const TAG_UNIVERSAL = 0x1c;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The value as text, or undefined when it is not a text type or does not decode. */
function decodeText(buf: Uint8Array, t: Tlv): string | undefined {
  const bytes = buf.subarray(t.content, t.end);
  try {
    switch (t.tag) {
      case TAG_PRINTABLE:
      case TAG_UTF8:
        return utf8.decode(bytes);
      case TAG_IA5:
        for (const b of bytes) if (b > 0x7f) return undefined;
        return Buffer.from(bytes).toString('latin1');
      case TAG_BMP: {
        if (bytes.length % 2 !== 0) return undefined;
        let s = '';
        for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
        return s;
      }
      case TAG_UNIVERSAL: {
        if (bytes.length % 4 !== 0) return undefined;
        let s = '';
        for (let i = 0; i < bytes.length; i += 4) {
          const cp = (((bytes[i] as number) << 24) | ((bytes[i + 1] as number) << 16) | ((bytes[i + 2] as number) << 8) | (bytes[i + 3] as number)) >>> 0;
          if (cp > 0x10ffff) return undefined;
          s += String.fromCodePoint(cp);
        }
        return s;
      }
      default:
        return undefined;
    }
  } catch {
    return undefined;
  }
}

/**
 * RFC 4518 in the parts that decide equality in practice: compatibility
 * normalisation (§2.3), case folding (§2.2), and insignificant space (§2.6.1):
 * leading and trailing spaces dropped, inner runs counted as one.
 */
export function prepareString(s: string): string {
  return s.normalize('NFKC').toLowerCase().normalize('NFKC').replace(/\s+/g, ' ').trim();
}

/** ASCII content of a PrintableString, UTF8String or IA5String, or undefined when it has other bytes. */
function asciiText(buf: Uint8Array, t: Tlv): string | undefined {
  if (t.tag !== TAG_PRINTABLE && t.tag !== TAG_UTF8 && t.tag !== TAG_IA5) return undefined;
  for (let i = t.content; i < t.end; i++) if ((buf[i] as number) > 0x7e) return undefined;
  return Buffer.from(buf.buffer, buf.byteOffset + t.content, t.end - t.content).toString('latin1');
}

function valueKey(buf: Uint8Array, t: Tlv): string {
  // Most values are plain ASCII: NFKC leaves them unchanged, so only case and spaces matter.
  const ascii = asciiText(buf, t);
  if (ascii !== undefined) {
    const lower = ascii.toLowerCase();
    return JSON.stringify(/\s\s|^\s|\s$|[\t\n\v\f\r]/.test(lower) ? lower.replace(/\s+/g, ' ').trim() : lower);
  }
  const text = decodeText(buf, t);
  if (text !== undefined) return JSON.stringify(prepareString(text));
  return `#${t.tag.toString(16)}:${Buffer.from(buf.subarray(t.content, t.end)).toString('hex')}`;
}

/** Reads a Name (RFC 5280 §4.1.2.4) for comparison; undefined when it is not a well-formed Name. */
export function readDistinguishedName(buf: Uint8Array, name: Tlv): DistinguishedName | undefined {
  if (name.tag !== 0x30) return undefined;
  const rdnTlvs = children(buf, name);
  if (!rdnTlvs) return undefined;
  const rdns: string[] = [];
  const emails: string[] = [];
  for (const rdn of rdnTlvs) {
    const key = readRdn(buf, rdn, emails);
    if (key === undefined) return undefined;
    rdns.push(key);
  }
  return { key: rdns.join(','), rdns, emails };
}

/** One RelativeDistinguishedName (a SET of attribute values) in comparable form; emailAddress values are added to `emails`. */
function readRdn(buf: Uint8Array, rdn: Tlv, emails: string[]): string | undefined {
  const atvs = rdn.tag === 0x31 ? children(buf, rdn) : undefined;
  if (!atvs || atvs.length === 0) return undefined;
  const keys: string[] = [];
  for (const atv of atvs) {
    const kv = atv.tag === 0x30 ? children(buf, atv) : undefined;
    if (!kv || kv.length !== 2) return undefined;
    const oid = readOid(buf, kv[0] as Tlv);
    if (oid === undefined) return undefined;
    const value = kv[1] as Tlv;
    keys.push(`${oid}=${valueKey(buf, value)}`);
    if (oid === OID_EMAIL_ADDRESS) {
      const text = asciiText(buf, value) ?? decodeText(buf, value);
      if (text !== undefined) emails.push(text);
    }
  }
  return keys.sort().join('+');
}

/**
 * A RelativeDistinguishedName whose tag is `tag` (it appears IMPLICIT-tagged in
 * DistributionPointName), in the comparable form of one entry of
 * `DistinguishedName.rdns`; undefined when malformed.
 */
export function readRelativeName(buf: Uint8Array, t: Tlv): string | undefined {
  return readRdn(buf, { ...t, tag: 0x31 }, []);
}

/** The key of `name` followed by one more RDN (RFC 5280 §4.2.1.13 nameRelativeToCRLIssuer). */
export function appendRdn(name: DistinguishedName, rdn: string): string {
  return name.rdns.length === 0 ? rdn : `${name.key},${rdn}`;
}

/** True when `prefix`'s RDNs begin `name`'s (a directoryName subtree, RFC 5280 §4.2.1.10). */
export function isWithinDirectory(name: DistinguishedName, prefix: DistinguishedName): boolean {
  if (prefix.rdns.length > name.rdns.length) return false;
  for (let i = 0; i < prefix.rdns.length; i++) if (prefix.rdns[i] !== name.rdns[i]) return false;
  return true;
}

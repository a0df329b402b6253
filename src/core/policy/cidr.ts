/**
 * IP addresses and CIDR ranges for the `ip` policy selector.
 *
 * Written by hand (no dependency) because the rules we need are narrow and
 * security-relevant: strict parsing (no octal-looking octets, no zone ids, no
 * host bits set in a range) and IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`,
 * RFC 4291 §2.5.5.2) treated as the IPv4 address they carry, so a dual-stack
 * listener cannot be used to step around an IPv4 rule.
 */

/** A parsed address: the family and its value as an unsigned integer. */
export interface IpAddress {
  readonly family: 4 | 6;
  /** 32-bit (v4) or 128-bit (v6) value. */
  readonly value: bigint;
}

/** A parsed range; `base` has no bits set below the prefix. */
export interface CidrRange {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
  /** The range as the user wrote it, for messages. */
  readonly source: string;
}

/** Result of {@link parseCidr}: a range, or why the text is not one. */
export type CidrResult = { ok: true; range: CidrRange } | { ok: false; message: string };

const BITS = { 4: 32, 6: 128 } as const;
/** Top 96 bits of ::ffff:0:0/96, the IPv4-mapped block (RFC 4291 §2.5.5.2). */
const V4_MAPPED_PREFIX = 0xffffn;

/**
 * Parses an IPv4 or IPv6 address; returns undefined for anything else.
 * IPv4-mapped IPv6 addresses come back as family 4.
 *
 * @example parseIp('::ffff:10.0.0.1') // { family: 4, value: 0x0a000001n }
 */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const v6 = parseIpv6(text);
    if (v6 === undefined) return undefined;
    if (v6 >> 32n === V4_MAPPED_PREFIX) return { family: 4, value: v6 & 0xffffffffn };
    return { family: 6, value: v6 };
  }
  const v4 = parseIpv4(text);
  return v4 === undefined ? undefined : { family: 4, value: v4 };
}

/**
 * Parses `addr/prefix` or a single address (a /32 or /128 range).
 * A range written in IPv4-mapped IPv6 form with a prefix of at least 96 is
 * turned into the IPv4 range it denotes, matching how addresses are parsed.
 *
 * @example parseCidr('10.0.0.0/8') // { ok: true, range: { family: 4, base: 0x0a000000n, prefix: 8, ... } }
 */
export function parseCidr(text: string): CidrResult {
  if (typeof text !== 'string' || text.length === 0) return { ok: false, message: 'expected an IP address or CIDR range, got an empty string' };
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const prefixText = slash === -1 ? undefined : text.slice(slash + 1);

  // Parse the raw address without unmapping, so a mapped range's prefix can be
  // translated against the 128-bit form it was written in.
  let family: 4 | 6;
  let value: bigint;
  if (addrText.includes(':')) {
    const v6 = parseIpv6(addrText);
    if (v6 === undefined) return { ok: false, message: `"${text}" is not a valid IPv6 address or range` };
    family = 6;
    value = v6;
  } else {
    const v4 = parseIpv4(addrText);
    if (v4 === undefined) return { ok: false, message: `"${text}" is not a valid IPv4 address or range` };
    family = 4;
    value = v4;
  }

  const bits = BITS[family];
  let prefix: number = bits;
  if (prefixText !== undefined) {
    // Decimal only, no sign, no leading zeros: "/08" or "/+8" are typos, not ranges.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
      return { ok: false, message: `"${text}": prefix length must be a number from 0 to ${bits}` };
    }
    prefix = Number(prefixText);
    if (prefix > bits) return { ok: false, message: `"${text}": prefix length must be a number from 0 to ${bits}` };
  }

  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) {
    const base = value & ~hostMask & ((1n << BigInt(bits)) - 1n);
    const suggestion = `${formatIp({ family, value: base })}/${prefix}`;
    return { ok: false, message: `"${text}" has bits set after the prefix; did you mean "${suggestion}"?` };
  }

  if (family === 6 && prefix >= 96 && value >> 32n === V4_MAPPED_PREFIX) {
    return { ok: true, range: { family: 4, base: value & 0xffffffffn, prefix: prefix - 96, source: text } };
  }
  return { ok: true, range: { family, base: value, prefix, source: text } };
}

/**
 * Whether `addr` lies in `range`. Families never mix: an IPv4 range never
 * contains an IPv6 address (mapped addresses were already turned into IPv4).
 */
export function cidrContains(range: CidrRange, addr: IpAddress): boolean {
  if (range.family !== addr.family) return false;
  const shift = BigInt(BITS[range.family] - range.prefix);
  return addr.value >> shift === range.base >> shift;
}

/** Formats an address in dotted-quad or full (uncompressed) hex form, for messages. */
export function formatIp(addr: IpAddress): string {
  if (addr.family === 4) {
    return [24n, 16n, 8n, 0n].map((s) => String((addr.value >> s) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((addr.value >> BigInt(i * 16)) & 0xffffn).toString(16));
  return groups.join(':');
}

/** Strict dotted quad: four decimal octets 0-255, no leading zeros (which some parsers read as octal). */
function parseIpv4(text: string): bigint | undefined {
  // A character loop rather than split and a regex per octet: the source
  // address of every request that meets an ip selector is parsed here.
  let value = 0;
  let octet = 0;
  let digits = 0;
  let octets = 0;
  for (let i = 0; i <= text.length; i++) {
    // The end of the text closes the last octet as a dot would.
    const c = i < text.length ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || octets === 4) return undefined;
      value = value * 256 + octet;
      octets++;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return undefined;
      octet = octet * 10 + (c - 0x30);
      digits++;
      if (octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return octets === 4 ? BigInt(value) : undefined;
}

/**
 * RFC 4291 §2.2 text forms: eight groups of 1-4 hex digits, at most one `::`,
 * optionally ending in a dotted quad. Zone ids (`%eth0`) are refused: they
 * name an interface, not an address a policy could mean.
 */
function parseIpv6(text: string): bigint | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const doubleColon = text.indexOf('::');
  if (doubleColon !== -1 && text.indexOf('::', doubleColon + 1) !== -1) return undefined;

  const parseSide = (side: string, allowV4Tail: boolean): number[] | undefined => {
    if (side === '') return [];
    const out: number[] = [];
    const pieces = side.split(':');
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i] as string;
      if (allowV4Tail && i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
      out.push(parseInt(piece, 16));
    }
    return out;
  };

  let groups: number[];
  if (doubleColon === -1) {
    const all = parseSide(text, true);
    if (all === undefined || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = parseSide(text.slice(0, doubleColon), false);
    const tail = parseSide(text.slice(doubleColon + 2), true);
    // `::` stands for at least one zero group (RFC 5952 §4.2.2 forbids it for none).
    if (head === undefined || tail === undefined || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

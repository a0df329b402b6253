/**
 * Connections per source on the ext_authz port (`authz.limits.max_connections_per_source`).
 *
 * A source is a remote address: IPv4 as it is (an IPv4-mapped IPv6 address,
 * which a dual-stack listener reports, counts as the IPv4 address it carries),
 * IPv6 by its leading `sourceIpv6PrefixBits` bits, because a host commonly
 * holds a whole /64 and could otherwise open every connection from an
 * address of its own. Sources in `trustedSources` (the Envoy fleet, a
 * node-local proxy) are not counted at all.
 *
 * The bookkeeping is a count per source with an open connection, removed
 * when its last connection closes: never more entries than open connections,
 * so never more than `maxConnections`, whatever the number of sources seen.
 */
import { BouncerError } from '../core/errors.js';
import { cidrContains, formatIp, parseCidr, parseIp, type CidrRange, type IpAddress } from '../core/policy/cidr.js';

/** What {@link SourceLimiter.admit} decided. `key` is the source as counted; undefined for a trusted one, which is not counted. */
export type Admission = { readonly admitted: true; readonly key: string | undefined } | { readonly admitted: false; readonly key: string };

/** An address as counted: its IPv6 prefix (`2001:db8:0:0:0:0:0:0/64`), or the IPv4 address. */
function keyOf(addr: IpAddress, ipv6PrefixBits: number): string {
  if (addr.family === 4 || ipv6PrefixBits >= 128) return formatIp(addr);
  const hostBits = BigInt(128 - ipv6PrefixBits);
  return `${formatIp({ family: 6, value: (addr.value >> hostBits) << hostBits })}/${ipv6PrefixBits}`;
}

/** A socket's remote address parsed; a zone id (`fe80::1%eth0`) names an interface, not part of the address. */
function parseRemote(address: string): IpAddress | undefined {
  const zone = address.indexOf('%');
  return parseIp(zone === -1 ? address : address.slice(0, zone));
}

/**
 * The source `address` is counted as. Text that is not an address (never
 * seen from a TCP socket) is its own source, so it is still counted.
 */
export function sourceKey(address: string, ipv6PrefixBits: number): string {
  const addr = parseRemote(address);
  return addr === undefined ? address : keyOf(addr, ipv6PrefixBits);
}

export class SourceLimiter {
  private readonly open = new Map<string, number>();
  private readonly trusted: readonly CidrRange[];

  /** @throws BouncerError ERR_CONFIG_INVALID when a trusted source is not an address or CIDR range (the config loader checks them first). */
  constructor(
    private readonly limit: number,
    private readonly ipv6PrefixBits: number,
    trustedSources: readonly string[] = [],
  ) {
    this.trusted = trustedSources.map((text) => {
      const parsed = parseCidr(text);
      if (!parsed.ok) throw new BouncerError('ERR_CONFIG_INVALID', `authz.limits.trusted_sources: ${parsed.message}`);
      return parsed.range;
    });
  }

  /** Counts a new connection from `address` unless its source already holds the limit; give the key back with {@link release} when it closes. */
  admit(address: string): Admission {
    const addr = parseRemote(address);
    if (addr !== undefined && this.trusted.some((range) => cidrContains(range, addr))) return { admitted: true, key: undefined };
    const key = addr === undefined ? address : keyOf(addr, this.ipv6PrefixBits);
    const count = this.open.get(key) ?? 0;
    if (count >= this.limit) return { admitted: false, key };
    this.open.set(key, count + 1);
    return { admitted: true, key };
  }

  /** One connection of `key` closed; the source is forgotten with its last one. */
  release(key: string): void {
    const count = this.open.get(key);
    if (count === undefined) return;
    if (count <= 1) this.open.delete(key);
    else this.open.set(key, count - 1);
  }

  /** Connections `key` holds open now. */
  connections(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /** Sources with a connection open now: what the bookkeeping holds. */
  get sources(): number {
    return this.open.size;
  }
}

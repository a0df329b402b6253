/**
 * The check before an ACME order: does the hostname resolve to bouncer's
 * public addresses? A customer who has not changed their DNS yet would fail
 * the CA's validation anyway and spend the CA's failed-validation allowance;
 * this says `dns_not_pointing_here` first, with the addresses found.
 */
import { Resolver } from 'node:dns/promises';

export interface DnsCheckSettings {
  /** The addresses (A and AAAA) the hostname must resolve to, all of them among these. */
  readonly expectedAddresses: readonly string[];
  /** Resolvers to ask (`ip` or `ip:port`); the system's when absent. */
  readonly servers?: readonly string[] | undefined;
}

export type DnsCheckResult = { readonly ok: true } | { readonly ok: false; readonly detail: string };

export type DnsCheck = (hostname: string) => Promise<DnsCheckResult>;

export function createDnsCheck(settings: DnsCheckSettings): DnsCheck {
  const resolver = new Resolver({ timeout: 3_000, tries: 2 });
  if (settings.servers && settings.servers.length > 0) resolver.setServers([...settings.servers]);
  const expected = new Set(settings.expectedAddresses.map((a) => a.toLowerCase()));
  const lookup = async (hostname: string, kind: 'A' | 'AAAA'): Promise<string[]> => {
    try {
      return kind === 'A' ? await resolver.resolve4(hostname) : await resolver.resolve6(hostname);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
      throw err;
    }
  };
  return async (hostname) => {
    let found: string[];
    try {
      found = [...(await lookup(hostname, 'A')), ...(await lookup(hostname, 'AAAA'))];
    } catch (err) {
      return { ok: false, detail: `DNS lookup of ${hostname} failed: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    if (found.length === 0) return { ok: false, detail: `${hostname} has no A or AAAA record` };
    const elsewhere = found.filter((a) => !expected.has(a.toLowerCase()));
    if (elsewhere.length > 0) return { ok: false, detail: `${hostname} resolves to ${found.join(', ')}; point it at ${[...expected].join(', ')}` };
    return { ok: true };
  };
}

import { children, readSmallUint, type Tlv } from './der.js';
import { isWithinDirectory } from './dn.js';
import { describeGeneralName, readGeneralName, type GeneralName } from './general-names.js';

/**
 * The nameConstraints extension (RFC 5280 §4.2.1.10) of one CA certificate.
 * `permitted` / `excluded` are undefined when the field is absent. `problem`
 * says why the extension cannot be applied as written (a subtree with a
 * minimum or maximum, a malformed base name); such a CA is refused.
 */
export interface NameConstraints {
  readonly permitted: readonly GeneralName[] | undefined;
  readonly excluded: readonly GeneralName[] | undefined;
  readonly problem: string | undefined;
}

/**
 * Bound on name-versus-subtree comparisons for one path. Real PKIs have a
 * handful of subtrees and names; a crafted chain with thousands of each would
 * otherwise cost seconds of CPU per request. Over the bound the path is
 * refused (`client_cert_name_constraints_too_complex`). Go's verifier uses
 * 250,000 for the same purpose; 4,096 is ample for client certificates and
 * keeps the worst case near a millisecond.
 */
export const MAX_NAME_CONSTRAINT_CHECKS = 4096;

/** GeneralSubtrees ::= SEQUENCE SIZE (1..MAX) OF GeneralSubtree */
function readSubtrees(buf: Uint8Array, t: Tlv, problems: string[]): GeneralName[] | undefined {
  const items = children(buf, t);
  if (!items || items.length === 0) return undefined;
  const out: GeneralName[] = [];
  for (const item of items) {
    const parts = item.tag === 0x30 ? children(buf, item) : undefined;
    if (!parts || parts.length === 0) return undefined;
    const base = readGeneralName(buf, parts[0] as Tlv);
    if (!base) return undefined;
    // GeneralSubtree { base, minimum [0] DEFAULT 0, maximum [1] OPTIONAL }: RFC 5280
    // says minimum MUST be zero and maximum MUST be absent; DER omits a zero minimum.
    for (const extra of parts.slice(1)) {
      if ((extra.tag !== 0x80 && extra.tag !== 0x81) || readSmallUint(buf, { ...extra, tag: 0x02 }) === undefined) return undefined;
      problems.push(`a subtree for ${describeGeneralName(base)} has a ${extra.tag === 0x80 ? 'minimum' : 'maximum'}, which RFC 5280 §4.2.1.10 forbids`);
    }
    const problem = subtreeProblem(base);
    if (problem !== undefined) problems.push(problem);
    out.push(base);
  }
  return out;
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] OPTIONAL, excludedSubtrees [1] OPTIONAL }; undefined when malformed. */
export function readNameConstraints(buf: Uint8Array, t: Tlv): NameConstraints | undefined {
  const fields = t.tag === 0x30 ? children(buf, t) : undefined;
  // §4.2.1.10: "Conforming CAs MUST NOT issue certificates where name constraints is an empty sequence."
  if (!fields || fields.length === 0 || fields.length > 2) return undefined;
  const problems: string[] = [];
  let permitted: GeneralName[] | undefined;
  let excluded: GeneralName[] | undefined;
  let last = -1;
  for (const f of fields) {
    const n = f.tag === 0xa0 ? 0 : f.tag === 0xa1 ? 1 : -1;
    if (n <= last) return undefined;
    last = n;
    const subtrees = readSubtrees(buf, f, problems);
    if (!subtrees) return undefined;
    if (n === 0) permitted = subtrees;
    else excluded = subtrees;
  }
  return { permitted, excluded, problem: problems[0] };
}

// ---------------------------------------------------------------------------
// Syntax of the base names (what a constraint may say).

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

/** A DNS name in preferred name syntax (RFC 1034 §3.5, RFC 5280 §4.2.1.6), without wildcards. */
function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.split('.').every((l) => LABEL.test(l));
}

/** A mailbox local part as RFC 5280 §4.2.1.6 allows it (RFC 5321 Dot-string or quoted string). */
function isLocalPart(s: string): boolean {
  return /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(s) || /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"$/.test(s);
}

/** Why a subtree base cannot be a constraint, or undefined when it can. */
function subtreeProblem(base: GeneralName): string | undefined {
  switch (base.kind) {
    case 'dns':
      // The empty name is a valid constraint (every name: zero labels added, §4.2.1.10).
      // A leading period or a wildcard is not a DNS name; RFC 5280 defines them for URI and e-mail only.
      if (base.value === '' || isHostname(base.value)) return undefined;
      return `dNSName constraint "${base.value}" is not a DNS name (no wildcards or leading period; RFC 5280 §4.2.1.10)`;
    case 'email': {
      const v = base.value;
      const at = v.lastIndexOf('@');
      if (at === -1) {
        const host = v.startsWith('.') ? v.slice(1) : v;
        return isHostname(host) ? undefined : `rfc822Name constraint "${v}" is neither a mailbox, a host nor a .domain`;
      }
      return isLocalPart(v.slice(0, at)) && isHostname(v.slice(at + 1)) ? undefined : `rfc822Name constraint "${v}" is not a valid mailbox`;
    }
    case 'uri': {
      const host = base.value.startsWith('.') ? base.value.slice(1) : base.value;
      return isHostname(host) ? undefined : `URI constraint "${base.value}" is not a host or .domain (RFC 5280 §4.2.1.10)`;
    }
    case 'ip': {
      const b = base.bytes;
      if (b.length !== 8 && b.length !== 32) return `iPAddress constraint has ${b.length} octets; an address and mask are 8 (IPv4) or 32 (IPv6)`;
      const mask = b.subarray(b.length / 2);
      // The mask must be a CIDR prefix: ones, then zeros.
      let zero = false;
      for (const octet of mask) {
        for (let bit = 7; bit >= 0; bit--) {
          const one = (octet >> bit) & 1;
          if (one && zero) return `iPAddress constraint ${describeGeneralName(base)} has a mask that is not a prefix`;
          if (!one) zero = true;
        }
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------
// Matching a certificate's name against a base (RFC 5280 §4.2.1.10).

/** "www.example.com" is within "example.com" (labels added on the left), case-insensitively. */
function dnsWithin(name: string, base: string): boolean {
  if (base === '') return true;
  const n = name.toLowerCase().replace(/\.$/, '');
  const b = base.toLowerCase();
  return n === b || n.endsWith(`.${b}`);
}

/** A host against a URI or e-mail domain constraint: ".example.com" means subdomains only; "example.com" that host only. */
function hostWithin(host: string, base: string): boolean {
  const h = host.toLowerCase();
  const b = base.toLowerCase();
  return b.startsWith('.') ? h.endsWith(b) && h.length > b.length : h === b;
}

/** Splits a mailbox into local part and domain, or undefined when it is not one. */
function splitMailbox(mailbox: string): { local: string; domain: string } | undefined {
  const at = mailbox.lastIndexOf('@');
  if (at <= 0 || at === mailbox.length - 1) return undefined;
  const local = mailbox.slice(0, at);
  const domain = mailbox.slice(at + 1);
  return isLocalPart(local) && isHostname(domain) ? { local, domain } : undefined;
}

function emailWithin(mailbox: string, base: string): boolean | undefined {
  const m = splitMailbox(mailbox);
  if (!m) return undefined;
  if (base.includes('@')) {
    const b = splitMailbox(base);
    // The local part is case-sensitive, the domain is not (RFC 5280 §7.5).
    return b !== undefined && b.local === m.local && b.domain.toLowerCase() === m.domain.toLowerCase();
  }
  return hostWithin(m.domain, base);
}

/** The host of an absolute URI with an authority (RFC 3986 §3.2.2); undefined when it has none or it is an IP literal. */
function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]*)(?::\d*)?(?:[/?#]|$)/.exec(uri);
  const host = m?.[1];
  if (!host || !isHostname(host) || /^[0-9.]+$/.test(host)) return undefined;
  return host;
}

function ipWithin(address: Uint8Array, base: Uint8Array): boolean {
  if (base.length !== address.length * 2) return false;
  for (let i = 0; i < address.length; i++) {
    const mask = base[address.length + i] as number;
    if (((address[i] as number) & mask) !== ((base[i] as number) & mask)) return false;
  }
  return true;
}

/**
 * Whether `name` falls within `base`: true, false, or undefined when the name
 * cannot be judged against that form (a URI without a host, a malformed
 * mailbox or address), which is a refusal whether the subtree permits or excludes.
 */
function within(name: GeneralName, base: GeneralName): boolean | undefined {
  if (name.kind === 'dns' && base.kind === 'dns') return isHostname(name.value.replace(/^\*\./, 'x.').replace(/\.$/, '')) ? dnsWithin(name.value, base.value) : undefined;
  if (name.kind === 'email' && base.kind === 'email') return emailWithin(name.value, base.value);
  if (name.kind === 'uri' && base.kind === 'uri') {
    const host = uriHost(name.value);
    return host === undefined ? undefined : hostWithin(host, base.value);
  }
  if (name.kind === 'ip' && base.kind === 'ip') return name.bytes.length === 4 || name.bytes.length === 16 ? ipWithin(name.bytes, base.bytes) : undefined;
  if (name.kind === 'dn' && base.kind === 'dn') return isWithinDirectory(name.name, base.name);
  return false;
}

/** Two names are of the same form (for IP: the same address family). */
function sameForm(name: GeneralName, base: GeneralName): boolean {
  if (name.kind !== base.kind) return false;
  if (name.kind === 'other' && base.kind === 'other') return name.tag === base.tag;
  if (name.kind === 'ip' && base.kind === 'ip') return base.bytes.length === name.bytes.length * 2;
  return true;
}

/** Why `name` violates `nc`, or undefined when it satisfies it. */
export function violation(name: GeneralName, nc: NameConstraints): string | undefined {
  if (nc.excluded) {
    for (const base of nc.excluded) {
      if (!sameForm(name, base) && !(name.kind === 'ip' && base.kind === 'ip')) continue;
      if (name.kind === 'other') return `${describeGeneralName(name)} names are constrained, and bouncer does not evaluate that form`;
      const r = within(name, base);
      if (r === undefined) return `${describeGeneralName(name)} cannot be checked against excluded ${describeGeneralName(base)}`;
      if (r) return `${describeGeneralName(name)} is in excluded subtree ${describeGeneralName(base)}`;
    }
  }
  if (nc.permitted) {
    const sameKind = nc.permitted.filter((b) => b.kind === name.kind && (b.kind !== 'other' || name.kind !== 'other' || b.tag === name.tag));
    if (sameKind.length === 0) return undefined;
    if (name.kind === 'other') return `${describeGeneralName(name)} names are constrained, and bouncer does not evaluate that form`;
    let undecidable = false;
    for (const base of sameKind) {
      if (!sameForm(name, base)) continue;
      const r = within(name, base);
      if (r === true) return undefined;
      if (r === undefined) undecidable = true;
    }
    return undecidable
      ? `${describeGeneralName(name)} cannot be checked against the permitted subtrees`
      : `${describeGeneralName(name)} is not in any permitted ${name.kind === 'dn' ? 'directoryName' : describeGeneralName(sameKind[0] as GeneralName).split(' ')[0]} subtree`;
  }
  return undefined;
}

/** How many subtrees `nc` has: the cost of checking one name against it. */
export function subtreeCount(nc: NameConstraints): number {
  return (nc.permitted?.length ?? 0) + (nc.excluded?.length ?? 0);
}

/**
 * What a customer hostname may be. Stricter than a tenant's routing hostname
 * (core/tenant-names.ts): it goes into a certificate, so it must be a name a
 * public CA would sign: LDH labels only (no underscores, CA/B Forum BR 7.1.4.2),
 * internationalised names in their A-label (punycode) form, a wildcard only as
 * the whole leftmost label.
 */
import { domainToASCII } from 'node:url';
import { no, ok, type Checked } from '../core/checked.js';
import { normalizeTenantHostname } from '../core/tenant-names.js';

export interface CustomHostnameName {
  /** Lower-case A-label form, as SNI carries it and the certificate names it. */
  readonly hostname: string;
  readonly wildcard: boolean;
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Normalises and checks a customer hostname. Unicode input (`bücher.example`)
 * is converted to its A-label (`xn--bcher-kva.example`); an `xn--` label that
 * does not decode to a valid U-label is refused.
 *
 * @example
 * checkCustomHostname('Pay.Bücher.Example.') // ok: { hostname: 'pay.xn--bcher-kva.example', wildcard: false }
 */
export function checkCustomHostname(text: string): Checked<CustomHostnameName> {
  const trimmed = text.trim();
  if (trimmed === '') return no('hostname must not be empty');
  const wildcard = trimmed.startsWith('*.');
  const rest = wildcard ? trimmed.slice(2) : trimmed;
  if (rest.includes('*')) return no(`'${text}': a wildcard must be the whole leftmost label, as in '*.shop.example'`);
  // WHATWG's domainToASCII applies UTS #46 (IDNA) processing: case folding, A-label
  // conversion, and an empty answer for names IDNA refuses (bad punycode, forbidden code points).
  const ascii = /^[\x21-\x7e]*$/.test(rest) && !/(^|\.)xn--/i.test(rest) ? rest.toLowerCase() : domainToASCII(rest);
  if (ascii === '') return no(`'${text}' is not a valid internationalised domain name (IDNA refuses it)`);
  const base = normalizeTenantHostname(wildcard ? `*.${ascii}` : ascii);
  if (!base.ok) return base;
  const host = base.value;
  const labels = (wildcard ? host.slice(2) : host).split('.');
  if (labels.length < 2) return no(`'${text}' is a single label; a certificate needs a fully qualified name such as 'pay.shop.example'`);
  for (const label of labels) {
    if (!LDH_LABEL.test(label)) return no(`'${text}': '${label}' is not a letter-digit-hyphen label (certificates allow no '_')`);
    if (/^..--/.test(label) && !label.startsWith('xn--')) return no(`'${text}': '${label}' has '--' in the third and fourth places, reserved for IDNA ('xn--')`);
  }
  return ok({ hostname: host, wildcard });
}

/**
 * Whether a certificate name (a DNS SAN) covers `hostname`: exactly, or as a
 * wildcard over exactly one leftmost label (RFC 6125 §6.4.3). A wildcard
 * hostname is covered only by the same wildcard.
 */
export function nameCovers(certName: string, hostname: string): boolean {
  const name = certName.toLowerCase().replace(/\.$/, '');
  if (name === hostname) return true;
  if (!name.startsWith('*.') || hostname.startsWith('*.')) return false;
  const dot = hostname.indexOf('.');
  return dot > 0 && hostname.slice(dot + 1) === name.slice(2);
}

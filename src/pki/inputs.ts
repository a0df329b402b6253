import { isIP } from 'node:net';
import { BouncerError } from '../core/errors.js';

/**
 * Input checks for certificate issuing. Each throws `ERR_PKI_INPUT` naming the offending
 * value, so a typo in a CLI flag is reported before any key is generated.
 */

const DAY_MS = 86_400_000;

/**
 * How far default notBefore dates are set in the past, so a certificate issued on one host
 * is already valid on a verifier whose clock is slightly behind (step-ca does the same).
 */
export const BACKDATE_MS = 5 * 60_000;

/**
 * Overshoot past the issuer's notAfter that is forgiven (and clamped away) when validity comes
 * from `validDays`. Issuing a CA and a leaf with the same `validDays` a moment apart puts the
 * leaf's end a few milliseconds or seconds after the CA's; that is clock noise, not intent.
 * Anything longer is a real mistake and an error.
 */
export const ISSUER_OVERSHOOT_TOLERANCE_MS = 60 * 60_000;

/** RFC 5280 appendix A.1: ub-common-name and ub-organization-name are both 64. */
const UB_NAME = 64;

function fail(message: string): never {
  throw new BouncerError('ERR_PKI_INPUT', message);
}

/**
 * A subject attribute must be non-blank text within the X.520 upper bound.
 *
 * @example
 * checkNameAttribute(o.commonName, 'commonName', true);
 */
export function checkNameAttribute(value: string | undefined, field: string, required: boolean): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'string' || value.trim() === '') fail(`${field} must not be empty`);
  if ([...value].length > UB_NAME) fail(`${field} is longer than ${UB_NAME} characters: "${value}"`);
  if (/[\u0000-\u001f\u007f]/.test(value)) fail(`${field} contains control characters`);
}

/**
 * DNS names must follow RFC 5280 §4.2.1.6 "preferred name syntax": letters, digits and
 * hyphens in labels of 1–63 characters, at most 253 in all, no trailing dot. A wildcard is
 * only meaningful as the whole leftmost label of a server name (RFC 6125 §6.4.3).
 *
 * @example
 * checkDnsName('*.tenants.example', true); // passes
 * checkDnsName('bad_name.example', false); // throws ERR_PKI_INPUT
 */
export function checkDnsName(name: string, allowWildcard: boolean): void {
  if (typeof name !== 'string' || name.length === 0) fail('DNS name must not be empty');
  if (name.length > 253) fail(`DNS name "${name}" is longer than 253 characters`);
  const labels = name.split('.');
  labels.forEach((label, i) => {
    if (label === '*' && i === 0 && labels.length > 2 && allowWildcard) return;
    if (label === '*') {
      fail(allowWildcard ? `wildcard DNS name "${name}" needs at least two labels after "*."` : `DNS name "${name}": wildcards are only allowed in server certificates`);
    }
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) fail(`invalid DNS name "${name}": label "${label}" is not letters, digits and inner hyphens (max 63)`);
  });
}

/**
 * URI SANs must be absolute URIs with a scheme (RFC 5280 §4.2.1.6); SPIFFE IDs qualify.
 *
 * @example
 * checkUri('spiffe://acme.test/device/laptop-1');
 */
export function checkUri(uri: string): void {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return fail(`invalid URI "${uri}": not an absolute URI`);
  }
  if (/\s/.test(uri)) fail(`invalid URI "${uri}": contains whitespace`);
  if (parsed.protocol.length < 2) fail(`invalid URI "${uri}": missing scheme`);
}

/**
 * RFC 5280 §4.2.1.6 rfc822Name: a mailbox local@domain, without display name or angle brackets.
 *
 * @example
 * checkEmail('alice@acme.test');
 */
export function checkEmail(email: string): void {
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  if (at <= 0 || !/^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+$/.test(local)) fail(`invalid email address "${email}"`);
  checkDnsName(email.slice(at + 1), false);
}

/**
 * iPAddress SANs are IPv4 or IPv6 literals.
 *
 * @example
 * checkIp('::1');
 */
export function checkIp(ip: string): void {
  if (isIP(ip) === 0) fail(`invalid IP address "${ip}"`);
}

/**
 * Extended key usage entries are dotted OIDs.
 *
 * @example
 * checkOid('1.3.6.1.5.5.7.3.2'); // clientAuth
 */
export function checkOid(oid: string): void {
  if (!/^[0-2](?:\.(?:0|[1-9]\d*))+$/.test(oid)) fail(`invalid extended key usage OID "${oid}"`);
}

/**
 * Normalises a hex serial (colons and spaces allowed, as openssl prints them) to lowercase
 * hex without leading zero bytes. RFC 5280 §4.1.2.2: positive, non-zero, at most 20 octets.
 *
 * @example
 * normalizeSerial('00:AB:01'); // 'ab01'
 */
export function normalizeSerial(serial: string): string {
  const hex = serial.replace(/[:\s]/g, '').toLowerCase();
  if (!/^[0-9a-f]+$/.test(hex)) fail(`serial number "${serial}" is not hexadecimal`);
  const stripped = (hex.length % 2 ? `0${hex}` : hex).replace(/^(?:00)+/, '');
  if (stripped === '') fail('serial number must not be zero');
  // A leading byte ≥ 0x80 gets a 0x00 pad in DER; the padded form must still fit in 20 octets.
  const octets = stripped.length / 2 + (Number.parseInt(stripped.slice(0, 2), 16) >= 0x80 ? 1 : 0);
  if (octets > 20) fail(`serial number "${serial}" is longer than 20 octets`);
  return stripped;
}

/**
 * A path length constraint is a non-negative integer.
 *
 * @example
 * checkPathLen(0);
 */
export function checkPathLen(pathLen: number | undefined): void {
  if (pathLen !== undefined && (!Number.isInteger(pathLen) || pathLen < 0)) fail(`pathLen must be a non-negative integer, got ${pathLen}`);
}

function checkDate(d: Date | undefined, field: string): void {
  if (d !== undefined && (!(d instanceof Date) || Number.isNaN(d.getTime()))) fail(`${field} is not a valid date`);
}

/** What {@link resolveValidity} needs to know. */
export interface ValidityInput {
  notBefore?: Date;
  notAfter?: Date;
  validDays?: number;
  defaultDays: number;
  now: Date;
  /** The issuer's notAfter, for anything that is not self-signed. */
  issuerNotAfter?: Date;
  issuerName?: string;
}

/**
 * Works out a certificate's validity window. Explicit dates win over `validDays` (tests make
 * expired and not-yet-valid certificates that way) and are never second-guessed. A computed
 * end date that runs past the issuer's end is refused: RFC 5280 allows it, but verifiers
 * reject the leaf once the CA expires, so the extra time would be a silent lie.
 *
 * @example
 * const { notBefore, notAfter } = resolveValidity({ validDays: 30, defaultDays: 365, now: new Date(), issuerNotAfter });
 */
export function resolveValidity(v: ValidityInput): { notBefore: Date; notAfter: Date } {
  checkDate(v.notBefore, 'notBefore');
  checkDate(v.notAfter, 'notAfter');
  if (v.validDays !== undefined && (typeof v.validDays !== 'number' || !Number.isFinite(v.validDays) || v.validDays <= 0)) {
    fail(`validDays must be a positive number, got ${String(v.validDays)}`);
  }
  const days = v.validDays ?? v.defaultDays;
  const notBefore = v.notBefore ?? new Date(v.now.getTime() - BACKDATE_MS);
  let notAfter = v.notAfter ?? new Date((v.notBefore ?? v.now).getTime() + days * DAY_MS);
  // X.509 times have whole seconds (RFC 5280 §4.1.2.5.1); compare what will be encoded.
  const nb = Math.floor(notBefore.getTime() / 1000) * 1000;
  const na = Math.floor(notAfter.getTime() / 1000) * 1000;
  if (na <= nb) fail(`notAfter (${new Date(na).toISOString()}) must be after notBefore (${new Date(nb).toISOString()})`);
  if (v.notAfter === undefined && v.issuerNotAfter !== undefined) {
    const limit = v.issuerNotAfter.getTime();
    if (na > limit + ISSUER_OVERSHOOT_TOLERANCE_MS) {
      const maxDays = Math.floor((limit + ISSUER_OVERSHOOT_TOLERANCE_MS - (v.notBefore ?? v.now).getTime()) / DAY_MS);
      fail(
        `requested validity ends ${new Date(na).toISOString()}, after the issuer${v.issuerName ? ` "${v.issuerName}"` : ''} expires ` +
          `(${v.issuerNotAfter.toISOString()}); ask for at most ${Math.max(0, maxDays)} days`,
      );
    }
    if (na > limit) {
      notAfter = new Date(limit);
      if (limit <= nb) fail(`the issuer${v.issuerName ? ` "${v.issuerName}"` : ''} expires (${v.issuerNotAfter.toISOString()}) before this certificate would start`);
    }
  }
  return { notBefore, notAfter };
}

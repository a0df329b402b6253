import { isIP } from 'node:net';
import { no, ok, type Checked } from '../core/checked.js';
import { normalizeHost } from '../core/tenant-index.js';

/** A listen address, host without brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type { Checked } from '../core/checked.js';

/**
 * Parses a listen address: `host:port` or `[ipv6]:port`, port 0..65535 (0 asks the
 * OS for a free port, which tests use). The host is returned without brackets.
 *
 * @example
 * parseListenAddress('[::1]:9001') // { ok: true, value: { host: '::1', port: 9001 } }
 */
export function parseListenAddress(text: string): Checked<HostPort> {
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const m = /^\[([^\]]*)\]:(.*)$/.exec(s);
    if (!m) return no(`'${text}' is not HOST:PORT; an IPv6 address goes in brackets with the port after them, like [::1]:9001`);
    host = m[1] ?? '';
    portText = m[2] ?? '';
    if (isIP(host) !== 6) return no(`'${host}' in brackets is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return no(`'${text}' has no port; write HOST:PORT, like 127.0.0.1:9001`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) return no(`'${text}' looks like an IPv6 address without brackets; write [${host}]:${portText}`);
    if (host === '') return no(`'${text}' has no host; write 0.0.0.0:${portText} to listen on every interface, or 127.0.0.1:${portText} for loopback only`);
    if (isIP(host) === 0 && normalizeHost(host) !== host.toLowerCase()) return no(`'${host}' is neither an IP address nor a hostname`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) return no(`port '${portText}' must be a number from 0 to 65535`);
  return ok({ host, port: Number(portText) });
}

const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const UNIT_SECONDS = [86_400, 3_600, 60, 1] as const;

/**
 * Parses a duration: whole seconds (`3600`, `"3600"`) or units from days down
 * to seconds, each at most once and in that order (`8h`, `30m`, `90s`, `1d`,
 * `1h30m`). Months and years are left out on purpose: their length varies, and
 * nothing bouncer times should last that long.
 *
 * @example
 * parseDuration('1h30m', 1, 86_400) // { ok: true, value: 5400 }
 */
export function parseDuration(value: string | number, min: number, max: number): Checked<number> {
  const range = `from ${formatDuration(min)} to ${formatDuration(max)}`;
  let seconds: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) return no(`a duration in plain seconds must be a whole number; got ${value}`);
    seconds = value;
  } else {
    const text = value.trim();
    if (/^\d+$/.test(text)) seconds = Number(text);
    else {
      const m = text === '' ? null : DURATION.exec(text);
      if (!m) return no(`'${value}' is not a duration: write whole seconds or units d, h, m, s in that order, such as 8h, 30m, 90s, 1d or 1h30m`);
      seconds = UNIT_SECONDS.reduce((sum, unit, i) => sum + Number(m[i + 1] ?? 0) * unit, 0);
    }
  }
  if (seconds < min || seconds > max) return no(`must be ${range}; got ${formatDuration(seconds)}`);
  return ok(seconds);
}

/** `5400` → `1h30m`; used in messages and docs, the inverse of {@link parseDuration}. */
export function formatDuration(seconds: number): string {
  if (seconds <= 0 || !Number.isInteger(seconds)) return `${seconds}s`;
  let rest = seconds;
  let out = '';
  for (const [unit, name] of [[86_400, 'd'], [3_600, 'h'], [60, 'm'], [1, 's']] as const) {
    const n = Math.floor(rest / unit);
    if (n > 0) out += `${n}${name}`;
    rest -= n * unit;
  }
  return out;
}

const IDENTIFIER = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * IdP and service token ids end up in URLs (`/callback/<id>`), session claims,
 * policies and log fields, so they are kept to plain lowercase words.
 */
export function checkIdentifier(what: string, id: string): string | undefined {
  if (IDENTIFIER.test(id)) return undefined;
  return `${what} must be 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit; got '${id}'`;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks the URL of something bouncer talks to on behalf of users (an OIDC
 * issuer, GitHub's endpoints). It must be https: tokens and client secrets travel
 * over it. Plain http is accepted only for loopback, where tests run their IdPs.
 * User info, queries and fragments are refused: an issuer is compared byte for
 * byte with the `iss` claim (OpenID Connect Discovery 1.0 §3 forbids both).
 *
 * The text is returned as written, not normalised, for the same reason.
 */
export function checkServiceUrl(text: string): Checked<string> {
  const s = text.trim();
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return no(`'${text}' is not an absolute URL; write it in full, like https://idp.example.com`);
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname)) return no(`'${text}' must use https; plain http is accepted only for localhost, 127.0.0.1 and [::1] (tests)`);
  } else if (url.protocol !== 'https:') {
    return no(`'${text}' must be an https URL; got the scheme '${url.protocol.slice(0, -1)}'`);
  }
  if (url.username !== '' || url.password !== '') return no(`'${url.protocol}//${url.host}…' must not carry a user name or password`);
  if (url.search !== '' || s.includes('?')) return no(`'${text}' must not have a query ('?')`);
  if (url.hash !== '' || s.includes('#')) return no(`'${text}' must not have a fragment ('#')`);
  return ok(s);
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;

/** An HTTP header name (RFC 9110 §5.1 token), lowercased as Envoy presents headers; pseudo-headers are refused. */
export function normalizeHeaderName(text: string): Checked<string> {
  const name = text.trim().toLowerCase();
  if (name.startsWith(':')) return no(`'${text}' is an HTTP/2 pseudo-header; name a regular request header`);
  if (!HEADER_NAME.test(name)) return no(`'${text}' is not a valid HTTP header name`);
  return ok(name);
}

/** True when `pattern` (an exact name or a `*.` wildcard covering one label) matches `host`. */
export function hostnameCovers(pattern: string, host: string): boolean {
  if (pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A URL browsers are sent to (launcher links, SAML ACS URLs, OIDC redirect URIs):
 * absolute https, plain http only on loopback (tests), no user info and no fragment
 * (RFC 6749 §3.1.2 forbids fragments in redirect URIs). Returns the problem, if any.
 */
export function checkBrowserUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be an absolute URL such as https://app.example/; got '${text}'`;
  }
  if (url.protocol === 'http:' ? !LOOPBACK.has(url.hostname) : url.protocol !== 'https:') {
    return `must use https (plain http only for localhost, 127.0.0.1 and [::1]); got '${text}'`;
  }
  if (url.username !== '' || url.password !== '') return `must not carry a user name or password`;
  if (url.hash !== '' || text.includes('#')) return `must not have a fragment ('#'); got '${text}'`;
  return undefined;
}

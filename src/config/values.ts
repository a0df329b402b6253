import { isIP } from 'node:net';
import { normalizeHost } from '../core/tenant-index.js';

/** A listen address, host without brackets. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A checked value, or the human-readable reason it was refused. */
export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const no = <T>(message: string): Checked<T> => ({ ok: false, message });

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

const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** Tenant names appear in metrics labels, log fields and file names, so they are kept plain. */
export function checkTenantName(name: string): string | undefined {
  if (TENANT_NAME.test(name)) return undefined;
  return `name must be 1 to 63 characters of a-z, 0-9, '-' and '_', starting with a letter or digit; got '${name}'`;
}

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Normalises a tenant hostname (lowercase, trailing dot dropped) and checks it is
 * a DNS name that {@link normalizeHost} would produce from a request, so it can
 * actually match. A wildcard is only ever the whole leftmost label with at least
 * two labels after it (`*.acme.example`), and covers exactly one extra label, as
 * in TLS (RFC 6125 §6.4.3). Underscores are allowed because request hosts with
 * them are matched too.
 *
 * @example
 * normalizeTenantHostname('Pay.Acme.Example.') // { ok: true, value: 'pay.acme.example' }
 */
export function normalizeTenantHostname(text: string): Checked<string> {
  const raw = text.trim();
  const bare = raw.startsWith('[') && raw.endsWith(']') ? raw.slice(1, -1) : raw;
  if (isIP(bare) !== 0) {
    return no(`'${text}' is an IP address; tenants are selected by DNS name (the TLS SNI and Host), and clients send no SNI for IP addresses`);
  }
  if (/:\d*$/.test(raw)) return no(`'${text}' includes a port; list the hostname only (the port does not select a tenant)`);
  let host = raw.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host === '') return no('hostname must not be empty');
  if (host.length > 253) return no(`'${text}' is longer than 253 characters, the DNS limit`);
  const labels = host.split('.');
  const wildcard = labels[0] === '*';
  if (host.includes('*') && (!wildcard || labels.filter((l) => l.includes('*')).length > 1)) {
    return no(`'${text}': a wildcard must be the whole leftmost label, as in '*.acme.example'`);
  }
  const rest = wildcard ? labels.slice(1) : labels;
  if (wildcard && rest.length < 2) {
    return no(`'${text}': a wildcard needs at least two labels after it ('*.acme.example', not '*.example'), so it cannot cover a whole top-level domain`);
  }
  for (const label of rest) {
    if (label === '') return no(`'${text}' has an empty label (two dots in a row, or a leading dot)`);
    if (label.length > 63) return no(`'${text}' has a label longer than 63 characters`);
    if (!LABEL.test(label)) {
      return no(`'${text}' is not a valid DNS name: labels are letters, digits, '-' and '_', and do not start or end with '-'`);
    }
  }
  // An all-numeric last label is never a real TLD (RFC 3696 §2) and would make
  // IP-like names such as 10.1.2 look valid.
  if (/^\d+$/.test(rest[rest.length - 1] ?? '')) return no(`'${text}' ends in a numeric label, which no DNS name does; IP addresses are not allowed`);
  const probe = wildcard ? `x.${rest.join('.')}` : host;
  if (normalizeHost(probe) !== probe) return no(`'${text}' is not a hostname a request could carry`);
  return ok(host);
}

/**
 * Checks an mTLS-exempt request path. Exact paths, or a prefix ending in `/*`.
 * Anything that request normalisation could rewrite (`..`, percent escapes) or that
 * is not part of the path (`?`) is refused, so an exemption can never be stretched
 * to cover more than it says.
 */
export function checkExemptPath(path: string): string | undefined {
  if (!path.startsWith('/')) return `'${path}' must start with '/'`;
  if (path.includes('?') || path.includes('#')) return `'${path}' must be a path only, without '?' query or '#' fragment`;
  if (path.includes('%')) return `'${path}' must not contain '%' escapes; write the decoded path`;
  if (path.split('/').some((seg) => seg === '..' || seg === '.')) return `'${path}' must not contain '.' or '..' segments`;
  if (path.includes('..')) return `'${path}' must not contain '..'`;
  if (/[\s\u0000-\u001f\u007f]/.test(path)) return `'${path}' must not contain spaces or control characters`;
  const star = path.indexOf('*');
  if (star >= 0 && !(path.endsWith('/*') && star === path.length - 1)) {
    return `'${path}': '*' is only allowed as a trailing '/*' (a prefix match), as in '/public/*'`;
  }
  return undefined;
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

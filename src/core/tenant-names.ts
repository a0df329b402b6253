/**
 * What a tenant may be called and what it may exempt: names, hostnames and
 * mTLS-exempt paths. Pure checks shared by the config loader and the tenant
 * stores (the admin API's writes), so a tenant is held to the same rules
 * wherever it comes from.
 */
import { no, ok, type Checked } from './checked.js';
import { parseIp } from './policy/cidr.js';
import { normalizeHost } from './tenant-index.js';

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
  if (parseIp(bare) !== undefined) {
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

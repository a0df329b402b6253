/**
 * The one return-URL validator. Every place bouncer sends a browser back after
 * a sign-in (the login service for apps and SaaS apps, the handoff on the app
 * host, the SAML IdP, the OIDC provider and the launcher) checks the URL here
 * and builds its `Location` from the {@link ReturnTarget} this returns, never
 * from the raw string.
 *
 * The check is a browser's reading, not a string's: the URL is parsed as the
 * WHATWG URL Standard parses it (Node's `URL` is that parser, as Chromium's
 * is), dot segments are resolved, and the result is refused unless its origin
 * is one of the app's. A path that a browser would read as another origin once
 * it sits in a `Location` (`//evil`, `/..//evil`, `/%2e%2e//evil`) is refused
 * too, and the `Location` is absolute in any case, so a path can never be read
 * as a network-path reference (RFC 3986 §4.2).
 */

/** Why a return URL was refused; stable, safe to show and to log. */
export type ReturnUrlProblem =
  | 'return_url_missing'
  | 'return_url_too_long'
  | 'return_url_bad_characters'
  | 'return_url_not_https'
  | 'return_url_unparseable'
  | 'return_url_userinfo'
  | 'return_url_host_not_allowed'
  | 'return_url_path_unsafe';

/** A return URL that passed {@link validateReturnUrl}, in the parts a `Location` is built from. */
export interface ReturnTarget {
  /** `https://<host>[:<port>]` as the WHATWG serializer writes it (lowercase host, default port dropped), without a trailing dot. */
  readonly origin: string;
  /** The host name alone, lowercase, without a trailing dot. */
  readonly hostname: string;
  /** Normalised path and query: starts with exactly one `/`, no dot segments, no fragment. */
  readonly path: string;
  /** `origin + path`: the only form of the URL bouncer puts in a `Location` or a token. */
  readonly href: string;
}

/** Outcome of {@link validateReturnUrl}. */
export type ReturnUrlResult = { readonly ok: true; readonly target: ReturnTarget } | { readonly ok: false; readonly problem: ReturnUrlProblem };

/** Longer return URLs are refused: they end up in a signed token, a cookie-bound transaction and a Location header. */
export const MAX_RETURN_URL_LENGTH = 2048;

// Anything a parser might silently drop, fold or reinterpret: C0 controls and
// space (the URL Standard strips leading/trailing C0+space and removes tab and
// newline anywhere), backslash (read as `/` in special schemes), DEL, and the
// C1 controls and Unicode spaces some parsers trim.
const FORBIDDEN_CHARACTERS = /[\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff\\]/;

// The raw string must literally begin with an absolute https URL with an
// authority. This alone rejects `//evil`, `/\evil`, `https:evil`, `https:/evil`,
// `%2F%2Fevil`, `javascript:...` and relative paths, before any parser runs.
const ABSOLUTE_HTTPS = /^https:\/\/[^/?#]/i;

// Percent-encoded path separators, dots and controls, once or twice encoded.
// A browser leaves them encoded, but servers and frameworks behind the app
// decode them and may then redirect on the decoded path; nothing legitimate
// needs them in a return path.
const ENCODED_SEPARATOR = /%(?:25)?(?:2f|5c|2e|[01][0-9a-f]|7f)/i;

/**
 * Accept `raw` only when a browser would read it as an `https:` URL, without
 * userinfo, whose host is one of `allowedHosts` (case-insensitive; any port) and
 * whose normalised path starts with a single `/`. An allowed entry `*.acme.test`
 * covers exactly one extra label, as app hostnames do.
 *
 * @example
 * ```ts
 * validateReturnUrl('https://wiki.acme.test/page?x=1', ['wiki.acme.test']);
 * // { ok: true, target: { origin: 'https://wiki.acme.test', path: '/page?x=1', href: 'https://wiki.acme.test/page?x=1', ... } }
 * validateReturnUrl('https://wiki.acme.test//evil.test/', ['wiki.acme.test']); // { ok: false, problem: 'return_url_path_unsafe' }
 * ```
 */
export function validateReturnUrl(raw: string | undefined, allowedHosts: readonly string[]): ReturnUrlResult {
  if (raw === undefined || raw === '') return refuse('return_url_missing');
  if (raw.length > MAX_RETURN_URL_LENGTH) return refuse('return_url_too_long');
  if (FORBIDDEN_CHARACTERS.test(raw)) return refuse('return_url_bad_characters');
  if (!ABSOLUTE_HTTPS.test(raw)) return refuse('return_url_not_https');
  // The authority as written: userinfo and percent-encoding have no place in it.
  const authority = raw.slice(8).split(/[/?#]/, 1)[0]!;
  if (authority.includes('@')) return refuse('return_url_userinfo');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('return_url_unparseable');
  }
  // Belt and braces: the textual checks imply these, but the parsed value is what gets used.
  if (url.protocol !== 'https:') return refuse('return_url_not_https');
  if (url.username !== '' || url.password !== '') return refuse('return_url_userinfo');
  if (authority.includes('%')) return refuse('return_url_unparseable');
  const hostname = url.hostname.toLowerCase().replace(/\.$/, '');
  if (!allowedHosts.some((h) => hostMatches(h.toLowerCase().replace(/\.$/, ''), hostname))) return refuse('return_url_host_not_allowed');
  const pathname = url.pathname;
  // After dot segments are resolved, a path that a browser would take for an
  // authority (`//host`) or that carries encoded separators is refused.
  if (!pathname.startsWith('/') || pathname.startsWith('//') || ENCODED_SEPARATOR.test(pathname)) return refuse('return_url_path_unsafe');
  const path = `${pathname}${url.search}`;
  // Serialised as the URL Standard does, but without a trailing dot: `wiki.acme.test.` is the
  // same host to DNS and to bouncer's host index, and one origin for it keeps its cookies together.
  const origin = `https://${hostname}${url.port !== '' ? `:${url.port}` : ''}`;
  const href = `${origin}${path}`;
  if (href.length > MAX_RETURN_URL_LENGTH) return refuse('return_url_too_long');
  return { ok: true, target: { origin, hostname, path, href } };
}

/**
 * A path on the login service's own origin, checked the same way (for SaaS
 * apps, whose return URL names the auth domain): the `Location` is then
 * `ownOrigin + path`.
 *
 * @example
 * ```ts
 * locationOnOrigin('https://auth.acme.test:8443', target); // 'https://auth.acme.test:8443/saml/idp/x/sso?pending=…'
 * ```
 */
export function locationOnOrigin(ownOrigin: string, target: ReturnTarget): string {
  return `${ownOrigin.replace(/\/+$/, '')}${target.path}`;
}

function refuse(problem: ReturnUrlProblem): ReturnUrlResult {
  return { ok: false, problem };
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}

/**
 * Validation of the `rd` (return-to) parameter of `/login`. An open redirect on
 * the login service would hand a freshly minted handoff token to whatever host
 * the attacker names, so this is an allow-list check on a fully parsed URL,
 * preceded by a strict textual check that rejects the strings browsers and URL
 * parsers disagree about.
 */

/** Why a return URL was refused; stable, safe to show and to log. */
export type ReturnUrlProblem =
  | 'return_url_missing'
  | 'return_url_too_long'
  | 'return_url_bad_characters'
  | 'return_url_not_https'
  | 'return_url_unparseable'
  | 'return_url_userinfo'
  | 'return_url_host_not_allowed';

/** Outcome of {@link validateReturnUrl}. */
export type ReturnUrlResult = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly problem: ReturnUrlProblem };

/** Longer return URLs are refused: they end up in a signed token and a Location header. */
export const MAX_RETURN_URL_LENGTH = 2048;

// Anything a parser might silently drop, fold or reinterpret: ASCII controls,
// whitespace (URL parsers strip tabs/newlines inside URLs), backslash (browsers
// read `\` as `/` in special schemes) and DEL. Non-ASCII is left to the URL
// parser, which punycodes hosts; the host allow-list then decides.
const FORBIDDEN_CHARACTERS = /[\u0000-\u0020\u007f\\]/;

// The raw string must literally begin with an absolute https URL with an
// authority. This alone rejects `//evil`, `/\evil`, `https:evil`, `https:/evil`,
// `%2F%2Fevil`, `javascript:...` and relative paths, before any parser runs.
const ABSOLUTE_HTTPS = /^https:\/\/[^/?#]/i;

/**
 * Accept `raw` only when it is an absolute `https:` URL without userinfo whose
 * host is one of `allowedHosts` (case-insensitive; any port). An allowed entry
 * `*.acme.test` covers exactly one extra label, as app hostnames do.
 *
 * @example
 * ```ts
 * validateReturnUrl('https://wiki.acme.test/page?x=1', ['wiki.acme.test']); // { ok: true, url }
 * validateReturnUrl('//evil.test/', ['wiki.acme.test']);                    // { ok: false, problem: 'return_url_not_https' }
 * ```
 */
export function validateReturnUrl(raw: string | undefined, allowedHosts: readonly string[]): ReturnUrlResult {
  if (raw === undefined || raw === '') return { ok: false, problem: 'return_url_missing' };
  if (raw.length > MAX_RETURN_URL_LENGTH) return { ok: false, problem: 'return_url_too_long' };
  if (FORBIDDEN_CHARACTERS.test(raw)) return { ok: false, problem: 'return_url_bad_characters' };
  if (!ABSOLUTE_HTTPS.test(raw)) return { ok: false, problem: 'return_url_not_https' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, problem: 'return_url_unparseable' };
  }
  // Belt and braces: the textual check already implies this, but the parsed value is what gets used.
  if (url.protocol !== 'https:') return { ok: false, problem: 'return_url_not_https' };
  // `https://wiki.acme.test@evil.test/` has host evil.test, and a userinfo on an
  // allowed host is never something bouncer produces; refuse both forms.
  if (url.username !== '' || url.password !== '' || raw.slice(8).split(/[/?#]/, 1)[0]!.includes('@')) {
    return { ok: false, problem: 'return_url_userinfo' };
  }
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (!allowedHosts.some((h) => hostMatches(h.toLowerCase().replace(/\.$/, ''), host))) {
    return { ok: false, problem: 'return_url_host_not_allowed' };
  }
  return { ok: true, url };
}

function hostMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}

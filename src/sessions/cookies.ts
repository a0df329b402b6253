/**
 * Session cookies. Both use the `__Host-` prefix (RFC 6265bis §4.1.3.2):
 * Secure, Path=/ and no Domain, so a sibling subdomain can neither set nor
 * overwrite them (no cookie tossing), plus HttpOnly and SameSite=Lax.
 */

/** Per-app session cookie, set on each app hostname by the handoff. */
export const APP_COOKIE = '__Host-bouncer_session';
/** Global session cookie on the auth domain. */
export const AUTH_COOKIE = '__Host-bouncer_auth';
/**
 * Short-lived cookie on an app host binding a sign-in to the browser that
 * started it (`core/login-binding.ts`); set with the redirect to the login
 * service, checked by the handoff.
 */
export const BIND_COOKIE = '__Host-bouncer_bind';

/** RFC 6265 §4.1.1 cookie-name (a token) and cookie-value characters. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
/** Browsers cap a cookie at about 4 KB; a longer value would be dropped silently, so refuse to emit it. */
const MAX_COOKIE_BYTES = 4096;

/**
 * A `Set-Cookie` value: `name=value; Max-Age=n; Path=/; Secure; HttpOnly; SameSite=Lax`.
 *
 * @example
 * ```ts
 * reply.header('set-cookie', serializeCookie(APP_COOKIE, jwt, { maxAgeSec: claims.exp - nowSec }));
 * ```
 * @throws TypeError for a name or value that is not a valid cookie token, or a cookie over 4 KB.
 */
export function serializeCookie(name: string, value: string, o: { maxAgeSec: number }): string {
  if (!COOKIE_NAME.test(name)) throw new TypeError(`invalid cookie name ${JSON.stringify(name)}`);
  if (!COOKIE_VALUE.test(value)) throw new TypeError(`invalid characters in value of cookie ${name}`);
  const maxAge = Math.max(0, Math.floor(o.maxAgeSec));
  if (!Number.isFinite(maxAge)) throw new TypeError(`invalid Max-Age for cookie ${name}`);
  if (name.length + value.length > MAX_COOKIE_BYTES) throw new TypeError(`cookie ${name} is longer than ${MAX_COOKIE_BYTES} bytes`);
  return `${name}=${value}; Max-Age=${maxAge}; Path=/; Secure; HttpOnly; SameSite=Lax`;
}

/**
 * A `Set-Cookie` value that deletes `name`. It repeats Secure and Path=/, which
 * browsers require before they accept any `__Host-` cookie, deletion included.
 */
export function clearCookie(name: string): string {
  return serializeCookie(name, '', { maxAgeSec: 0 });
}

/**
 * The value of cookie `name` in a `Cookie` header (or several, as HTTP/2 may
 * send), or undefined. Junk pairs are skipped. If `name` appears more than
 * once the result is undefined: we cannot tell which one the browser meant
 * (a planted duplicate is the cookie-tossing attack), so the caller treats the
 * request as having no session.
 *
 * @example
 * ```ts
 * const token = readCookie(headers['cookie'], APP_COOKIE);
 * ```
 */
export function readCookie(cookieHeader: string | readonly string[] | undefined, name: string): string | undefined {
  if (cookieHeader === undefined) return undefined;
  const headers = typeof cookieHeader === 'string' ? [cookieHeader] : cookieHeader;
  let found: string | undefined;
  let count = 0;
  for (const header of headers) {
    if (typeof header !== 'string') continue;
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq < 0) continue;
      if (pair.slice(0, eq).trim() !== name) continue;
      count += 1;
      let value = pair.slice(eq + 1).trim();
      // RFC 6265 allows the value in double quotes.
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      found = COOKIE_VALUE.test(value) && value.length > 0 ? value : undefined;
    }
  }
  return count === 1 ? found : undefined;
}

export interface CookieReaderOptions {
  /** Distinct Cookie headers remembered; the oldest goes first. */
  readonly entries: number;
  /** Longer headers are read every time, so the memory held stays within entries × this. */
  readonly maxHeaderChars: number;
}

/**
 * {@link readCookie} for one cookie name, remembering its answer for recent
 * Cookie headers. A browser sends the same header on every request, and
 * ext_authz reads the session cookie out of it on every check: splitting,
 * trimming and testing a kilobyte of token each time cost more than looking up
 * the verified token did. The same header also gives back the same token
 * string, whose hash V8 then has from the last lookup in the token cache.
 * A pure memo: the answer depends on the header's text alone.
 */
export class CookieReader {
  private readonly memo = new Map<string, string | undefined>();

  constructor(
    readonly name: string,
    private readonly options: CookieReaderOptions = { entries: 256, maxHeaderChars: 8192 },
  ) {}

  /** Headers remembered now (at most `entries`). */
  get size(): number {
    return this.memo.size;
  }

  read(header: string | undefined): string | undefined {
    if (header === undefined) return undefined;
    if (header.length > this.options.maxHeaderChars) return readCookie(header, this.name);
    const memo = this.memo;
    if (memo.has(header)) return memo.get(header);
    const value = readCookie(header, this.name);
    if (memo.size >= this.options.entries) memo.delete(memo.keys().next().value as string);
    memo.set(header, value);
    return value;
  }
}

/**
 * GitHub as an identity provider: OAuth 2.0 authorization code with PKCE (S256),
 * then the REST API for the user, their verified email, org memberships and teams.
 *
 * GitHub is not an OpenID Provider: there is no ID token, no nonce and no `amr`,
 * so everything we know comes from API calls made with the fresh access token.
 * Every outbound call has a timeout and a response size bound, and error messages
 * never carry the code, the token or the client secret.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Identity } from '../../core/identity.js';
import { LoginError, type IdpConnector } from './connector.js';

/** What the GitHub connector needs from config (the `github` variant of `IdpConfig` fits). */
export interface GithubConnectorConfig {
  readonly id: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** When non-empty, the user must be an active member of at least one (case-insensitive). */
  readonly orgs: readonly string[];
  /** REST API base, `https://api.github.com` or a GitHub Enterprise `https://host/api/v3`. */
  readonly apiUrl: string;
  /** `https://github.com/login/oauth/authorize` unless overridden (tests, Enterprise). */
  readonly authorizeUrl: string;
  /** `https://github.com/login/oauth/access_token` unless overridden (tests, Enterprise). */
  readonly tokenUrl: string;
  /** Shown on the IdP chooser; defaults to "GitHub". */
  readonly displayName?: string;
}

/** Injected dependencies; all optional. */
export interface GithubConnectorDeps {
  /** Defaults to the global `fetch`; tests may wrap it. */
  readonly fetch?: typeof fetch;
  /** Per outbound request, default 10 000 ms. */
  readonly timeoutMs?: number;
}

/** Default per-call timeout: GitHub answers in well under a second; a stuck call must not hold a login forever. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** No legitimate answer we read comes close to this; it bounds memory per login. */
const MAX_RESPONSE_BYTES = 1024 * 1024;
/** Pagination bound (100 per page): 1 000 orgs or teams is far beyond any real account. */
const MAX_PAGES = 10;
/** `read:user` for the profile, `user:email` for private emails, `read:org` for memberships and teams. */
const SCOPES = 'read:user user:email read:org';

interface GithubUser {
  readonly id: number;
  readonly login: string;
  readonly name: string | undefined;
}

/**
 * Create the GitHub connector.
 *
 * @example
 * ```ts
 * const gh = createGithubConnector({ id: 'gh', clientId, clientSecret, orgs: ['acme'],
 *   apiUrl: 'https://api.github.com', authorizeUrl: 'https://github.com/login/oauth/authorize',
 *   tokenUrl: 'https://github.com/login/oauth/access_token' });
 * const { redirectUrl, secrets } = await gh.start({ callbackUrl, transactionId });
 * const identity = await gh.finish({ callbackUrl, params, secrets, nowMs: Date.now() });
 * ```
 */
export function createGithubConnector(config: GithubConnectorConfig, deps: GithubConnectorDeps = {}): IdpConnector {
  const doFetch = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const apiBase = config.apiUrl.replace(/\/+$/, '');
  const requiredOrgs = config.orgs.map((o) => o.toLowerCase());

  /** One outbound call: timeout, no redirects (a redirect could carry the token elsewhere), bounded JSON body. */
  async function callJson(what: string, url: string, init: RequestInit): Promise<{ status: number; body: unknown; link: string | null }> {
    let res: Response;
    try {
      res = await doFetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      // Checked by name: the DOMException may come from another realm (undici), so instanceof is unreliable.
      const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
      const timedOut = name === 'TimeoutError' || name === 'AbortError';
      throw new LoginError('login_idp_error', `GitHub ${what}: ${timedOut ? `no answer within ${timeoutMs} ms` : 'request failed'}`);
    }
    const text = await readBounded(res, MAX_RESPONSE_BYTES).catch(() => {
      throw new LoginError('login_idp_error', `GitHub ${what}: response body unreadable or larger than ${MAX_RESPONSE_BYTES} bytes`);
    });
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new LoginError('login_idp_error', `GitHub ${what}: answered HTTP ${res.status} with a body that is not JSON`);
    }
    return { status: res.status, body, link: res.headers.get('link') };
  }

  async function callApi(what: string, path: string, token: string): Promise<{ body: unknown; link: string | null }> {
    const r = await callJson(what, path.startsWith('https://') || path.startsWith('http://') ? path : `${apiBase}${path}`, {
      headers: {
        accept: 'application/vnd.github+json',
        authorization: `Bearer ${token}`,
        'x-github-api-version': '2022-11-28',
        'user-agent': 'bouncer',
      },
    });
    if (r.status !== 200) {
      throw new LoginError('login_idp_error', `GitHub ${what}: answered HTTP ${r.status}`);
    }
    return r;
  }

  /** Follows `Link: rel="next"` (RFC 8288) but only on the configured API origin, so a response cannot send our token elsewhere. */
  async function callApiList(what: string, path: string, token: string): Promise<unknown[]> {
    const items: unknown[] = [];
    let next: string | undefined = path;
    for (let page = 0; next !== undefined; page++) {
      if (page >= MAX_PAGES) throw new LoginError('login_idp_error', `GitHub ${what}: more than ${MAX_PAGES} pages`);
      const r = await callApi(what, next, token);
      if (!Array.isArray(r.body)) throw new LoginError('login_idp_error', `GitHub ${what}: expected a JSON array`);
      items.push(...(r.body as unknown[]));
      next = nextLink(r.link, apiBase);
    }
    return items;
  }

  async function exchangeCode(code: string, callbackUrl: string, codeVerifier: string): Promise<string> {
    const form = new URLSearchParams({
      client_id: config.clientId,
      client_secret: config.clientSecret,
      code,
      redirect_uri: callbackUrl,
      code_verifier: codeVerifier,
    });
    const r = await callJson('token exchange', config.tokenUrl, {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'bouncer' },
      body: form.toString(),
    });
    // GitHub reports OAuth errors with HTTP 200 and an `error` member, so the body decides, not the status.
    const body = asRecord(r.body);
    if (r.status !== 200 || body === undefined || typeof body['error'] === 'string') {
      const code = body !== undefined ? safeCode(body['error']) : undefined;
      throw new LoginError('login_idp_error', `GitHub token exchange failed: HTTP ${r.status}${code ? `, ${code}` : ''}`);
    }
    const token = body['access_token'];
    if (typeof token !== 'string' || token === '') throw new LoginError('login_idp_error', 'GitHub token exchange: no access_token in the answer');
    const type = body['token_type'];
    if (typeof type === 'string' && type.toLowerCase() !== 'bearer') {
      throw new LoginError('login_idp_error', `GitHub token exchange: unexpected token_type ${safeCode(type) ?? '(invalid)'}`);
    }
    return token;
  }

  async function fetchUser(token: string): Promise<GithubUser> {
    const body = asRecord((await callApi('user lookup', '/user', token)).body);
    const id = body?.['id'];
    const login = body?.['login'];
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0 || typeof login !== 'string' || login === '') {
      throw new LoginError('login_idp_error', 'GitHub user lookup: answer has no numeric id or login');
    }
    const name = body?.['name'];
    return { id, login, name: typeof name === 'string' && name.trim() !== '' ? name.trim() : undefined };
  }

  /** The primary address if GitHub verified it, else the first verified one; an unverified address is never used. */
  async function fetchVerifiedEmail(token: string): Promise<string> {
    const emails = (await callApiList('email lookup', '/user/emails?per_page=100', token))
      .map(asRecord)
      .filter((e): e is Record<string, unknown> => e !== undefined && typeof e['email'] === 'string' && e['verified'] === true);
    const chosen = emails.find((e) => e['primary'] === true) ?? emails[0];
    if (chosen === undefined) throw new LoginError('login_email_unverified', 'GitHub account has no verified email address');
    return String(chosen['email']).toLowerCase();
  }

  /** Active org memberships only: a pending invitation is not membership. */
  async function fetchOrgs(token: string): Promise<string[]> {
    const memberships = await callApiList('org membership lookup', '/user/memberships/orgs?state=active&per_page=100', token);
    const orgs: string[] = [];
    for (const m of memberships.map(asRecord)) {
      const login = asRecord(m?.['organization'])?.['login'];
      if (m?.['state'] === 'active' && typeof login === 'string' && login !== '') orgs.push(login.toLowerCase());
    }
    return orgs;
  }

  async function fetchTeams(token: string): Promise<string[]> {
    const teams = await callApiList('team lookup', '/user/teams?per_page=100', token);
    const out: string[] = [];
    for (const t of teams.map(asRecord)) {
      const slug = t?.['slug'];
      const org = asRecord(t?.['organization'])?.['login'];
      if (typeof slug === 'string' && slug !== '' && typeof org === 'string' && org !== '') out.push(`${org.toLowerCase()}/${slug.toLowerCase()}`);
    }
    return out;
  }

  return {
    id: config.id,
    type: 'github',
    displayName: config.displayName ?? 'GitHub',

    async start({ callbackUrl, transactionId }) {
      // PKCE (RFC 7636 §4.1–4.2): 32 random bytes → 43-char verifier, S256 challenge.
      const codeVerifier = randomBytes(32).toString('base64url');
      const codeChallenge = createHash('sha256').update(codeVerifier).digest('base64url');
      const url = new URL(config.authorizeUrl);
      url.searchParams.set('client_id', config.clientId);
      url.searchParams.set('redirect_uri', callbackUrl);
      url.searchParams.set('scope', SCOPES);
      url.searchParams.set('state', transactionId);
      url.searchParams.set('code_challenge', codeChallenge);
      url.searchParams.set('code_challenge_method', 'S256');
      url.searchParams.set('allow_signup', 'false');
      return { redirectUrl: url.toString(), secrets: { codeVerifier, state: transactionId } };
    },

    async finish({ callbackUrl, params, secrets, nowMs }): Promise<Identity> {
      const codeVerifier = secrets['codeVerifier'];
      if (codeVerifier === undefined) throw new LoginError('login_state_mismatch', 'login transaction has no PKCE verifier');
      // The auth service already found the transaction by `state`; checking again here keeps the
      // connector safe on its own if it is ever wired differently.
      if (secrets['state'] !== undefined && params.getAll('state').length !== 1) {
        throw new LoginError('login_state_mismatch', 'callback must carry exactly one state parameter');
      }
      if (secrets['state'] !== undefined && params.get('state') !== secrets['state']) {
        throw new LoginError('login_state_mismatch', 'callback state does not match the login transaction');
      }
      const error = params.get('error');
      if (error !== null) {
        throw new LoginError('login_idp_error', `GitHub refused the login: ${safeCode(error) ?? 'invalid error code'}`);
      }
      const codes = params.getAll('code');
      if (codes.length !== 1 || codes[0] === '') throw new LoginError('login_idp_error', 'callback must carry exactly one authorization code');

      const token = await exchangeCode(codes[0] as string, callbackUrl, codeVerifier);
      const [user, email, orgs, teams] = await Promise.all([fetchUser(token), fetchVerifiedEmail(token), fetchOrgs(token), fetchTeams(token)]);
      if (requiredOrgs.length > 0 && !requiredOrgs.some((o) => orgs.includes(o))) {
        throw new LoginError('login_not_member', `GitHub user ${user.login} is not an active member of ${requiredOrgs.join(', ')}`);
      }
      return {
        sub: `${config.id}:${user.id}`,
        email,
        emailVerified: true,
        name: user.name ?? user.login,
        groups: [...new Set([...orgs, ...teams])],
        idp: { id: config.id, type: 'github' },
        // GitHub does not say how the user authenticated; claiming 'pwd' would be a guess.
        amr: [],
        // No auth_time either: the callback is the best lower bound we have.
        authTime: nowMs,
      };
    },
  };
}

/** Reads at most `max` bytes of a response body as UTF-8; rejects beyond that. */
async function readBounded(res: Response, max: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw new Error('response too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The `rel="next"` target of a Link header, only when it stays under the API base. */
function nextLink(header: string | null, apiBase: string): string | undefined {
  if (header === null) return undefined;
  for (const part of header.split(',')) {
    const m = /^\s*<([^>]*)>\s*;(.*)$/.exec(part);
    if (m === null || !/(^|;)\s*rel="?next"?\s*(;|$)/.test(m[2] ?? '')) continue;
    const target = m[1] ?? '';
    if (target.startsWith(`${apiBase}/`)) return target;
    throw new LoginError('login_idp_error', 'GitHub pagination link points outside the configured API URL');
  }
  return undefined;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** OAuth error codes are `[a-z_]` tokens (RFC 6749 §5.2); anything else is not echoed. */
function safeCode(v: unknown): string | undefined {
  return typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? v : undefined;
}

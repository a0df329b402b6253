import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A user the test IdP knows; `username` is what the login form takes. */
export interface OidcIdpUser {
  username: string;
  /** Subject at the IdP; default = username. */
  sub?: string;
  email?: string;
  /** Default true when `email` is set. */
  email_verified?: boolean;
  name?: string;
  groups?: string[];
  /** RFC 8176 values recorded at login; default ['pwd']. */
  amr?: string[];
}

/** A registered client (client_secret_basic, code flow, PKCE required). */
export interface OidcIdpClient {
  client_id: string;
  client_secret: string;
  redirect_uris: string[];
  /** How the IdP signs this client's ID tokens; default RS256 (HS256 is keyed with the client secret). */
  id_token_signed_response_alg?: 'RS256' | 'HS256';
}

/** Options of {@link startOidcIdp}. */
export interface StartOidcIdpOptions {
  clients: OidcIdpClient[];
  users: OidcIdpUser[];
  /** Make the IdP put this nonce in ID tokens instead of the one the client sent. */
  nonceOverride?: string;
}

/** A running oidc-provider process. */
export interface OidcIdp {
  /** `http://127.0.0.1:<port>` (no trailing slash), also the discovery base. */
  readonly issuer: string;
  readonly port: number;
  /**
   * Drive the IdP side of a login over plain HTTP: open `authorizeUrl`, submit
   * the login form as `username`, follow the IdP's redirects, and return the
   * URL the IdP finally redirects to (the client's callback, with `code`,
   * `state`, `iss`). A fresh IdP cookie jar per call = a fresh browser.
   */
  signIn(authorizeUrl: string, username: string): Promise<URL>;
  /**
   * `rotate`: sign with a new key under a new kid, published at once.
   * `forge`: sign with a new key under the published kid while the JWKS keeps the old key.
   * Resolves to the kid that now signs.
   */
  keys(action: 'rotate' | 'forge'): Promise<string>;
  /** How often the IdP's JWKS was fetched. */
  jwksFetches(): Promise<number>;
  close(): Promise<void>;
}

const IDP_PROGRAM = fileURLToPath(new URL('../../scripts/dev-idp.mjs', import.meta.url));

/** Start scripts/dev-idp.mjs, with its test controls, as a separate process on 127.0.0.1 with an ephemeral port. */
export async function startOidcIdp(o: StartOidcIdpOptions): Promise<OidcIdp> {
  const child: ChildProcess = spawn(process.execPath, [IDP_PROGRAM], {
    env: { ...process.env, DEV_IDP_CONFIG: JSON.stringify({ ...o, test: true }) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const ready = await new Promise<{ issuer: string; port: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`oidc-idp did not start: ${stderr}`)), 30_000);
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { issuer: string; port: number });
      } catch (err) {
        reject(new Error(`oidc-idp printed ${line}: ${String(err)}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`oidc-idp exited with ${code}: ${stderr}`));
    });
  });
  return {
    ...ready,
    signIn: (authorizeUrl, username) => signIn(ready.issuer, authorizeUrl, username),
    async keys(action) {
      const res = await fetch(`${ready.issuer}/__test/keys?action=${action}`, { method: 'POST' });
      if (res.status !== 200) throw new Error(`oidc-idp refused key action ${action}: ${res.status}`);
      return ((await res.json()) as { kid: string }).kid;
    },
    async jwksFetches() {
      return ((await (await fetch(`${ready.issuer}/__test/stats`)).json()) as { jwksFetches: number }).jwksFetches;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Minimal cookie jar: name → value, path and flags ignored (one origin per jar). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  /** Store (or delete, on Max-Age=0 / empty value) every Set-Cookie of `res`. */
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';', 1);
      const eq = pair!.indexOf('=');
      if (eq <= 0) continue;
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (value === '' || /;\s*max-age=0\b/i.test(line) || /;\s*expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  get(name: string): string | undefined {
    return this.cookies.get(name);
  }

  set(name: string, value: string): void {
    this.cookies.set(name, value);
  }

  delete(name: string): void {
    this.cookies.delete(name);
  }

  /** Value for a `Cookie` request header ('' when empty). */
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

async function signIn(issuer: string, authorizeUrl: string, username: string): Promise<URL> {
  const jar = new CookieJar();
  const send = async (url: URL, init: RequestInit = {}): Promise<Response> => {
    const headers = new Headers(init.headers);
    const cookie = jar.header();
    if (cookie !== '') headers.set('cookie', cookie);
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.take(res);
    return res;
  };
  let url = new URL(authorizeUrl);
  for (let hop = 0; hop < 10; hop++) {
    if (url.origin !== issuer) return url;
    let res: Response;
    const m = /^\/interaction\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
    if (m) {
      const page = await send(url);
      await page.text();
      if (page.status !== 200) throw new Error(`IdP interaction page: ${page.status}`);
      res = await send(new URL(`/interaction/${m[1]}/login`, issuer), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ login: username }).toString(),
      });
    } else {
      res = await send(url);
    }
    const location = res.headers.get('location');
    const body = await res.text();
    if (location === null) throw new Error(`IdP answered ${res.status} without a redirect at ${url.pathname}: ${body.slice(0, 500)}`);
    url = new URL(location, url);
  }
  throw new Error('too many IdP redirects');
}

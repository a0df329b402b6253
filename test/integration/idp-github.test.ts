import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LoginError, type IdpConnector } from '../../src/web/idp/connector.js';
import { createGithubConnector, type GithubConnectorConfig } from '../../src/web/idp/github.js';

// An in-process stand-in for github.com and api.github.com: it implements only
// what the connector uses, but checks what real GitHub checks (client secret,
// redirect_uri, PKCE S256 verifier, single-use codes, bearer token).

interface FakeUser {
  id: number;
  login: string;
  name: string | null;
  emails: { email: string; primary: boolean; verified: boolean }[];
  orgs: { login: string; state: 'active' | 'pending' }[];
  teams: { org: string; slug: string }[];
}

interface PendingCode {
  user: FakeUser;
  redirectUri: string;
  challenge: string;
  method: string;
}

interface FakeGithub {
  base: string;
  /** Simulates the user approving the app at the authorize URL; returns the callback params. */
  authorize(redirectUrl: string, user: FakeUser): URLSearchParams;
  /** Paths that answer with this HTTP status instead (API error injection). */
  failures: Map<string, number>;
  /** Paths that never answer in time. */
  stalls: Set<string>;
  /** Every request the fake saw, for assertions. */
  seen: { method: string; path: string; body: string }[];
  close(): Promise<void>;
}

const CLIENT_ID = 'gh-client';
const CLIENT_SECRET = 'gh-secret-do-not-leak';

async function startFakeGithub(): Promise<FakeGithub> {
  const codes = new Map<string, PendingCode>();
  const tokens = new Map<string, FakeUser>();
  const failures = new Map<string, number>();
  const stalls = new Set<string>();
  const seen: FakeGithub['seen'] = [];
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  };
  const readBody = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve) => {
      let b = '';
      req.on('data', (d: Buffer) => (b += d.toString()));
      req.on('end', () => resolve(b));
    });

  const server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = await readBody(req);
      seen.push({ method: req.method ?? '', path: url.pathname, body });
      if (stalls.has(url.pathname)) return; // never answers
      const failure = failures.get(url.pathname);
      if (failure !== undefined) return json(res, failure, { message: 'Server Error' });

      if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
        if (req.headers.accept !== 'application/json') return res.writeHead(200).end('access_token=form-encoded');
        const f = new URLSearchParams(body);
        const pending = codes.get(f.get('code') ?? '');
        // GitHub answers OAuth errors with HTTP 200 and an error member.
        if (f.get('client_id') !== CLIENT_ID || f.get('client_secret') !== CLIENT_SECRET) return json(res, 200, { error: 'incorrect_client_credentials' });
        if (pending === undefined) return json(res, 200, { error: 'bad_verification_code' });
        codes.delete(f.get('code') ?? '');
        if (f.get('redirect_uri') !== pending.redirectUri) return json(res, 200, { error: 'redirect_uri_mismatch' });
        const verifier = f.get('code_verifier') ?? '';
        if (pending.method !== 'S256' || createHash('sha256').update(verifier).digest('base64url') !== pending.challenge) {
          return json(res, 200, { error: 'invalid_grant', error_description: 'PKCE verification failed' });
        }
        const token = `gho_${randomBytes(16).toString('hex')}`;
        tokens.set(token, pending.user);
        return json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:org,read:user,user:email' });
      }

      const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      const user = auth ? tokens.get(auth[1] ?? '') : undefined;
      if (!url.pathname.startsWith('/api/')) return json(res, 404, { message: 'Not Found' });
      if (user === undefined) return json(res, 401, { message: 'Bad credentials' });
      switch (url.pathname) {
        case '/api/user':
          return json(res, 200, { id: user.id, login: user.login, name: user.name, email: null });
        case '/api/user/emails':
          return json(res, 200, user.emails.map((e) => ({ ...e, visibility: 'private' })));
        case '/api/user/memberships/orgs': {
          const state = url.searchParams.get('state');
          return json(res, 200, user.orgs.filter((o) => state === null || o.state === state).map((o) => ({ state: o.state, role: 'member', organization: { login: o.login, id: 1 } })));
        }
        case '/api/user/teams': {
          // Two pages, to exercise Link-header pagination.
          const all = user.teams.map((t) => ({ slug: t.slug, name: t.slug, organization: { login: t.org } }));
          const page = Number(url.searchParams.get('page') ?? '1');
          const addr = server.address() as AddressInfo;
          if (page === 1 && all.length > 1) {
            return json(res, 200, all.slice(0, 1), { link: `<http://127.0.0.1:${addr.port}/api/user/teams?per_page=100&page=2>; rel="next"` });
          }
          return json(res, 200, page === 1 ? all : all.slice(1));
        }
        default:
          return json(res, 404, { message: 'Not Found' });
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    failures,
    stalls,
    seen,
    authorize(redirectUrl, user) {
      const u = new URL(redirectUrl);
      const code = randomBytes(10).toString('hex');
      codes.set(code, {
        user,
        redirectUri: u.searchParams.get('redirect_uri') ?? '',
        challenge: u.searchParams.get('code_challenge') ?? '',
        method: u.searchParams.get('code_challenge_method') ?? '',
      });
      return new URLSearchParams({ code, state: u.searchParams.get('state') ?? '' });
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const CALLBACK = 'https://auth.acme.test/callback/gh';

function alice(over: Partial<FakeUser> = {}): FakeUser {
  return {
    id: 4242,
    login: 'Alice-Dev',
    name: 'Alice Liddell',
    emails: [
      { email: 'alice@personal.test', primary: false, verified: true },
      { email: 'Alice@Acme.test', primary: true, verified: true },
    ],
    orgs: [
      { login: 'Acme', state: 'active' },
      { login: 'other-co', state: 'pending' },
    ],
    teams: [
      { org: 'Acme', slug: 'admins' },
      { org: 'Acme', slug: 'sre' },
    ],
    ...over,
  };
}

let gh: FakeGithub;

beforeAll(async () => {
  gh = await startFakeGithub();
});
afterAll(async () => {
  await gh.close();
});
beforeEach(() => {
  gh.failures.clear();
  gh.stalls.clear();
  gh.seen.length = 0;
});

function connector(over: Partial<GithubConnectorConfig> = {}, timeoutMs = 2000): IdpConnector {
  return createGithubConnector(
    {
      id: 'gh',
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      orgs: ['acme'],
      apiUrl: `${gh.base}/api`,
      authorizeUrl: `${gh.base}/login/oauth/authorize`,
      tokenUrl: `${gh.base}/login/oauth/access_token`,
      ...over,
    },
    { timeoutMs },
  );
}

/** Runs start → (fake) authorize → finish and returns the outcome. */
async function login(c: IdpConnector, user: FakeUser, nowMs = 1_700_000_000_000) {
  const { redirectUrl, secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
  const params = gh.authorize(redirectUrl, user);
  return c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs });
}

async function loginError(p: Promise<unknown>): Promise<LoginError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LoginError);
  return err as LoginError;
}

describe('GitHub connector', () => {
  it('builds an authorize URL with state and a PKCE S256 challenge, keeping the verifier server-side', async () => {
    const { redirectUrl, secrets } = await connector().start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const u = new URL(redirectUrl);
    expect(`${u.origin}${u.pathname}`).toBe(`${gh.base}/login/oauth/authorize`);
    expect(u.searchParams.get('client_id')).toBe(CLIENT_ID);
    expect(u.searchParams.get('redirect_uri')).toBe(CALLBACK);
    expect(u.searchParams.get('state')).toBe('tx-123');
    expect(u.searchParams.get('code_challenge_method')).toBe('S256');
    expect(u.searchParams.get('scope')?.split(' ')).toEqual(expect.arrayContaining(['read:user', 'user:email', 'read:org']));
    const verifier = secrets['codeVerifier'] ?? '';
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(u.searchParams.get('code_challenge')).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(redirectUrl).not.toContain(verifier);
    expect(redirectUrl).not.toContain(CLIENT_SECRET);
  });

  it('logs in a member: verified primary email, org and org/team groups, numeric-id subject, no amr', async () => {
    const identity = await login(connector(), alice());
    expect(identity).toEqual({
      sub: 'gh:4242',
      email: 'alice@acme.test',
      emailVerified: true,
      name: 'Alice Liddell',
      groups: ['acme', 'acme/admins', 'acme/sre'],
      idp: { id: 'gh', type: 'github' },
      amr: [],
      authTime: 1_700_000_000_000,
    });
    // The pending org invitation is not a group; the token exchange asked for JSON.
    expect(identity.groups).not.toContain('other-co');
    const tokenCall = gh.seen.find((s) => s.path === '/login/oauth/access_token');
    expect(new URLSearchParams(tokenCall?.body).get('code_verifier')).toBeTruthy();
  });

  it('falls back to the login when GitHub has no display name, and allows any org when none is configured', async () => {
    const identity = await login(connector({ orgs: [] }), alice({ name: null, orgs: [], teams: [] }));
    expect(identity.name).toBe('Alice-Dev');
    expect(identity.groups).toEqual([]);
  });

  it('refuses a user who is not an active member of a configured org (login_not_member)', async () => {
    const err = await loginError(login(connector({ orgs: ['acme', 'Umbrella'] }), alice({ orgs: [{ login: 'Acme', state: 'pending' }], teams: [] })));
    expect(err.code).toBe('login_not_member');
  });

  it('refuses an account without a verified email (login_email_unverified)', async () => {
    const user = alice({
      emails: [
        { email: 'alice@acme.test', primary: true, verified: false },
        { email: 'alice@personal.test', primary: false, verified: false },
      ],
    });
    const err = await loginError(login(connector(), user));
    expect(err.code).toBe('login_email_unverified');
  });

  it('uses a verified secondary address rather than an unverified primary one', async () => {
    const user = alice({
      emails: [
        { email: 'ceo@acme.test', primary: true, verified: false },
        { email: 'alice@personal.test', primary: false, verified: true },
      ],
    });
    expect((await login(connector(), user)).email).toBe('alice@personal.test');
  });

  it('turns an API error into login_idp_error without leaking the token, code or client secret', async () => {
    gh.failures.set('/api/user/teams', 502);
    const c = connector();
    const { redirectUrl, secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const params = gh.authorize(redirectUrl, alice());
    const err = await loginError(c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs: 0 }));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toContain('502');
    expect(err.message).not.toContain(CLIENT_SECRET);
    expect(err.message).not.toContain(params.get('code') ?? '???');
    expect(err.message).not.toMatch(/gho_/);
    expect(err.message).not.toContain(secrets['codeVerifier'] ?? '???');
  });

  it('turns a refused token exchange (wrong PKCE verifier) into login_idp_error', async () => {
    const c = connector();
    const { redirectUrl, secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const params = gh.authorize(redirectUrl, alice());
    const other = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const err = await loginError(c.finish({ callbackUrl: CALLBACK, params, secrets: { ...secrets, codeVerifier: other.secrets['codeVerifier'] ?? '' }, nowMs: 0 }));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toContain('invalid_grant');
  });

  it('cannot redeem the same code twice', async () => {
    const c = connector();
    const { redirectUrl, secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const params = gh.authorize(redirectUrl, alice());
    await c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs: 0 });
    const err = await loginError(c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs: 0 }));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toContain('bad_verification_code');
  });

  it('reports a user who denied consent (error=access_denied) as login_idp_error', async () => {
    const c = connector();
    const { secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const params = new URLSearchParams({ error: 'access_denied', error_description: 'The user has denied your application access.', state: 'tx-123' });
    const err = await loginError(c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs: 0 }));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toContain('access_denied');
  });

  it('refuses a callback whose state is not the transaction (login_state_mismatch)', async () => {
    const c = connector();
    const { redirectUrl, secrets } = await c.start({ callbackUrl: CALLBACK, transactionId: 'tx-123' });
    const params = gh.authorize(redirectUrl, alice());
    params.set('state', 'tx-other');
    const err = await loginError(c.finish({ callbackUrl: CALLBACK, params, secrets, nowMs: 0 }));
    expect(err.code).toBe('login_state_mismatch');
  });

  it('times out a GitHub call that never answers (login_idp_error)', async () => {
    gh.stalls.add('/api/user/emails');
    const err = await loginError(login(connector({}, 300), alice()));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toMatch(/no answer within 300 ms/);
  });

  it('does not follow a pagination link to another origin with the token', async () => {
    const evil = createGithubConnector(
      {
        id: 'gh',
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        orgs: [],
        // Same server, but a base that the fake's Link header (…/api/user/teams) is not under.
        apiUrl: `${gh.base}/api`,
        authorizeUrl: `${gh.base}/login/oauth/authorize`,
        tokenUrl: `${gh.base}/login/oauth/access_token`,
      },
      {
        timeoutMs: 2000,
        // Rewrites the fake's Link header to a foreign origin, as a hostile or compromised API could.
        fetch: async (input, init) => {
          const res = await fetch(input, init);
          const link = res.headers.get('link');
          if (link === null) return res;
          const headers = new Headers(res.headers);
          headers.set('link', link.replace(/http:\/\/127\.0\.0\.1:\d+/, 'https://evil.test'));
          return new Response(await res.text(), { status: res.status, headers });
        },
      },
    );
    const err = await loginError(login(evil, alice()));
    expect(err.code).toBe('login_idp_error');
    expect(err.message).toMatch(/outside the configured API URL/);
  });
});

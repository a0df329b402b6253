// A development OpenID Provider (panva/oidc-provider, a dependency of bouncer
// already) in its own process, so bouncer talks to it over the network exactly
// as to Okta or Keycloak. Started by src/demo/sso.ts for `npm run demo` and by
// test/helpers/oidc-idp.ts for the tests. Not for production: users, passwords
// and keys live in memory and come from the environment.
//
// Input: env DEV_IDP_CONFIG = JSON, or env DEV_IDP_CONFIG_FILE naming a file with it {
//   port?: number,                       // listens on <host>:<port>; default ephemeral
//   host?: string,                       // default 127.0.0.1; docker compose's load profile binds 0.0.0.0
//   public_host?: string,                // the issuer's host name; default 127.0.0.1
//   tls?: { cert_file, key_file },       // serve https (bouncer accepts plain http issuers on loopback only)
//   standalone?: boolean,                // run until signalled, rather than exit when stdin closes
//   clients: [{ client_id, client_secret, redirect_uris: [...], id_token_signed_response_alg? }],
//   users:   [{ username, password?, sub?, email?, email_verified?, name?, groups?, amr? }],
//   test?: boolean,          // turn on the test controls below
//   nonceOverride?: string   // with test: rewrite the `nonce` of every authorization request (attack tests)
// }
// Output: one line on stdout, JSON { issuer, port }, once it listens.
//
// Login: devInteractions are off. The interaction page is a plain HTML form
// that posts `login=<username>` and, for a user who has one, `password`. A
// headless browser can fill it and plain-HTTP tests can POST it. Consent is
// implicit: every requested scope is granted, as a first-party IdP configured
// for bouncer would do.
//
// Test controls (only with `test: true`):
//   POST /__test/keys?action=rotate: sign with a new key under a new kid, published at /jwks at once.
//   POST /__test/keys?action=forge:  sign with a new key under the kid already published, while /jwks
//                                    keeps serving the old public key: the ID tokens no longer verify.
//   GET /__test/stats answers { jwksFetches } (how often /jwks was read).
//   Clients may set `id_token_signed_response_alg` (HS256 is keyed with the client secret); logins carry
//   acr `urn:bouncer:test`; provider errors are answered as JSON.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createHash, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import Provider from 'oidc-provider';

const configFile = process.env.DEV_IDP_CONFIG_FILE;
const input = JSON.parse(process.env.DEV_IDP_CONFIG ?? (configFile ? readFileSync(configFile, 'utf8') : '{}'));
const testing = input.test === true;
const users = new Map((input.users ?? []).map((u) => [u.username, u]));
const withPasswords = [...users.values()].some((u) => u.password !== undefined);

const server = input.tls ? createHttpsServer({ cert: readFileSync(input.tls.cert_file), key: readFileSync(input.tls.key_file) }) : createHttpServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(input.port ?? 0, input.host ?? '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `${input.tls ? 'https' : 'http'}://${input.public_host ?? '127.0.0.1'}:${port}`;

const newKey = (kid) => ({ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' });
const publicOf = ({ kty, n, e, kid, use, alg }) => ({ kty, n, e, kid, use, alg });
const cookieKeys = [randomBytes(32).toString('hex')];
let generation = 0;
let signingKey = newKey(`k-${port}-0`);
// Set while forging: what /jwks serves instead of the key that signs.
let publishedOverride;
let jwksFetches = 0;

// The memory adapter keeps its storage per module, so a provider rebuilt with other keys
// keeps the sessions, interactions and grants of the one before.
const build = (key) =>
  new Provider(issuer, {
    clients: (input.clients ?? []).map((c) => ({
      client_id: c.client_id,
      client_secret: c.client_secret,
      redirect_uris: c.redirect_uris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      ...(testing && c.id_token_signed_response_alg !== undefined ? { id_token_signed_response_alg: c.id_token_signed_response_alg } : {}),
    })),
    jwks: { keys: [key] },
    ...(testing ? { enabledJWA: { idTokenSigningAlgValues: ['RS256', 'HS256'] } } : {}),
    cookies: { keys: cookieKeys },
    features: { devInteractions: { enabled: false } },
    // Put scope claims into the ID token, as Okta/Keycloak/Google do in the code flow.
    conformIdTokenClaims: false,
    claims: {
      acr: null,
      auth_time: null,
      iss: null,
      sid: null,
      // amr under `openid` so it is released with every ID token, like Okta and Entra do.
      openid: ['sub', 'amr'],
      email: ['email', 'email_verified'],
      profile: ['name'],
      groups: ['groups'],
    },
    scopes: ['openid', 'email', 'profile', 'groups'],
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(_ctx, id) {
      const u = [...users.values()].find((x) => (x.sub ?? x.username) === id);
      if (!u) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            ...(u.email !== undefined ? { email: u.email, email_verified: u.email_verified ?? true } : {}),
            ...(u.name !== undefined ? { name: u.name } : {}),
            groups: u.groups ?? [],
          };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      await grant.save();
      return grant;
    },
    ...(testing
      ? {
          renderError(ctx, out) {
            ctx.type = 'json';
            ctx.body = out;
          },
        }
      : {}),
  });
let provider = build(signingKey);
let callback = provider.callback();

function controlKeys(action) {
  if (action === 'rotate') {
    signingKey = newKey(`k-${port}-${++generation}`);
    publishedOverride = undefined;
  } else if (action === 'forge') {
    publishedOverride ??= { keys: [publicOf(signingKey)] };
    signingKey = newKey(signingKey.kid);
  } else {
    return false;
  }
  provider = build(signingKey);
  callback = provider.callback();
  return true;
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const title = testing ? 'Test IdP' : 'bouncer demo IdP';

function loginPage(uid, message) {
  const password = withPasswords ? '<label>Password <input type="password" name="password" autocomplete="current-password"></label>' : '';
  const hints = withPasswords
    ? `<p>Demo users:</p><ul>${[...users.values()].map((u) => `<li><code>${escape(u.username)}</code> / <code>${escape(u.password ?? '')}</code> (${escape((u.groups ?? []).join(', '))})</li>`).join('')}</ul>`
    : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>
<h1>${title}</h1><p>A development OpenID Provider at ${escape(issuer)}.</p>${message ? `<p id="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>User <input type="text" name="login" autofocus autocomplete="username"></label>
${password}<button type="submit" id="submit">Sign in</button>
</form>${hints}</body></html>`;
}

const sameSecret = (a, b) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

/** A user who has a password must give it; the tests' users have none and sign in by name. */
function signInAs(form) {
  const user = users.get(form.get('login') ?? '');
  if (!user) return undefined;
  if (user.password !== undefined && !sameSecret(form.get('password') ?? '', user.password)) return undefined;
  return user;
}

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 8192) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

async function handleInteraction(req, res, url) {
  const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(url.pathname);
  if (!m) return false;
  const details = await provider.interactionDetails(req, res);
  const html = { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' };
  if (req.method === 'GET' && !m[2]) {
    res.writeHead(200, html).end(loginPage(details.uid));
    return true;
  }
  if (req.method === 'POST' && m[2]) {
    const user = signInAs(await readForm(req));
    if (!user) {
      res.writeHead(401, html).end(loginPage(details.uid, withPasswords ? 'unknown user or wrong password' : 'unknown user'));
      return true;
    }
    const login = { accountId: user.sub ?? user.username, amr: user.amr ?? ['pwd'], ...(testing ? { acr: 'urn:bouncer:test' } : {}) };
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return true;
  }
  res.writeHead(405).end();
  return true;
}

/** The test controls; true when the request was one of them and has been answered. */
function handleTestControl(req, res, url) {
  if (url.pathname === '/__test/keys' && req.method === 'POST') {
    const ok = controlKeys(url.searchParams.get('action'));
    res.writeHead(ok ? 200 : 400, { 'content-type': 'application/json' }).end(JSON.stringify({ kid: signingKey.kid }));
    return true;
  }
  if (url.pathname === '/__test/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jwksFetches }));
    return true;
  }
  if (url.pathname === '/jwks') {
    jwksFetches += 1;
    if (publishedOverride !== undefined) {
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(publishedOverride));
      return true;
    }
  }
  if (typeof input.nonceOverride === 'string' && url.pathname === '/auth' && url.searchParams.has('nonce')) {
    // Simulates an IdP (or a man in the middle) that echoes a nonce other than the one the client sent.
    url.searchParams.set('nonce', input.nonceOverride);
    req.url = url.pathname + url.search;
  }
  return false;
}

server.on('request', (req, res) => {
  const url = new URL(req.url ?? '/', issuer);
  if (testing && handleTestControl(req, res, url)) return;
  if (url.pathname.startsWith('/interaction/')) {
    handleInteraction(req, res, url).then(
      (handled) => {
        if (!handled) res.writeHead(404).end();
      },
      (err) => {
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
        res.end(String(err?.message ?? err));
      },
    );
    return;
  }
  callback(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// Exit with the parent (the demo or the test runner) rather than linger when it disappears
// without signalling (in a container stdin is closed from the start: there it runs until signalled).
if (!input.standalone) {
  process.stdin.on('end', stop);
  process.stdin.resume();
}

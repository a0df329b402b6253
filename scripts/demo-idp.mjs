// The demo's identity provider: a real OpenID Provider (panva/oidc-provider,
// a dependency of bouncer already) in its own process, with a couple of demo
// users and passwords, so `npm run demo` can show a sign-in end to end.
// Started by scripts/demo.ts; not for production (users, passwords and keys
// live in memory and come from the command line's environment).
//
// Input: env DEMO_IDP_CONFIG = JSON, or env DEMO_IDP_CONFIG_FILE naming a file with it {
//   port: number,                        // listens on <host>:<port>
//   host?: string,                       // default 127.0.0.1; docker compose's load profile binds 0.0.0.0
//   public_host?: string,                // the issuer's host name; default 127.0.0.1
//   tls?: { cert_file, key_file },       // serve https (bouncer accepts plain http issuers on loopback only)
//   standalone?: boolean,                // run until signalled, rather than exit when stdin closes
//   clients: [{ client_id, client_secret, redirect_uris: [...] }],
//   users: [{ username, password, email, name, groups, amr }]
// }
// Output: one line on stdout, JSON { issuer, port }, once it listens.
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { generateKeyPairSync, randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import Provider from 'oidc-provider';

const configFile = process.env.DEMO_IDP_CONFIG_FILE;
const input = JSON.parse(process.env.DEMO_IDP_CONFIG ?? (configFile ? readFileSync(configFile, 'utf8') : '{}'));
const users = new Map((input.users ?? []).map((u) => [u.username, u]));

const server = input.tls ? createHttpsServer({ cert: readFileSync(input.tls.cert_file), key: readFileSync(input.tls.key_file) }) : createHttpServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(input.port ?? 0, input.host ?? '127.0.0.1', resolve);
});
const { port } = server.address();
const issuer = `${input.tls ? 'https' : 'http'}://${input.public_host ?? '127.0.0.1'}:${port}`;
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: (input.clients ?? []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  })),
  jwks: { keys: [{ ...signingKey, kid: `demo-${port}`, use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  // Scope claims in the ID token, as Okta, Keycloak and Google put them in the code flow.
  conformIdTokenClaims: false,
  claims: { acr: null, auth_time: null, iss: null, sid: null, openid: ['sub', 'amr'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: ['openid', 'email', 'profile', 'groups'],
  pkce: { required: () => true },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(_ctx, id) {
    const u = users.get(id);
    if (!u) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: u.email, email_verified: true, name: u.name, groups: u.groups ?? [] };
      },
    };
  },
  async loadExistingGrant(ctx) {
    // First-party IdP: every requested scope is granted without a consent page.
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
});

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, message) {
  const hints = [...users.values()].map((u) => `<li><code>${escape(u.username)}</code> / <code>${escape(u.password)}</code> (${escape((u.groups ?? []).join(', '))})</li>`).join('');
  return `<!doctype html><html><head><meta charset="utf-8"><title>bouncer demo IdP</title></head><body>
<h1>bouncer demo IdP</h1><p>A development OpenID Provider at ${escape(issuer)}.</p>${message ? `<p id="error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
<label>User <input type="text" name="login" autofocus autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit" id="submit">Sign in</button>
</form><p>Demo users:</p><ul>${hints}</ul></body></html>`;
}

const sameSecret = (a, b) => timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

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
    const form = await readForm(req);
    const user = users.get(form.get('login') ?? '');
    if (!user || !sameSecret(form.get('password') ?? '', user.password)) {
      res.writeHead(401, html).end(loginPage(details.uid, 'unknown user or wrong password'));
      return true;
    }
    await provider.interactionFinished(req, res, { login: { accountId: user.username, amr: user.amr ?? ['pwd'] } }, { mergeWithLastSubmission: false });
    return true;
  }
  res.writeHead(405).end();
  return true;
}

const callback = provider.callback();
server.on('request', (req, res) => {
  const url = new URL(req.url ?? '/', issuer);
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
// Exit with the demo rather than linger when it disappears without signalling
// (in a container stdin is closed from the start: there it runs until signalled).
if (!input.standalone) {
  process.stdin.on('end', stop);
  process.stdin.resume();
}

/**
 * `npm run demo`: two tenants with their own CAs and devices, and one app behind
 * sign-in, behind a real Envoy. Creates everything under .demo/, starts the demo
 * app, a development OIDC IdP (scripts/dev-idp.mjs), bouncer and Envoy, checks
 * each claim once, prints copy-paste curl commands and the URL to sign in at,
 * and runs until Ctrl-C.
 *
 *   --prepare-only   write .demo/ (certificates, config) and exit; for `docker compose --profile demo up`
 *   --check          run the claims once (the sign-in with headless Chromium) and exit 0 if all hold, 1 if not
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { startBouncer, type BouncerApp } from '../src/serve/start.js';
import { loadConfig } from '../src/config/load.js';
import { DEMO_IDP_ID, DEMO_USERS, SSO_HOSTS, ssoConfigYaml, startDemoIdp, type DemoIdp } from '../src/demo/sso.js';
import { startEchoUpstream } from '../src/demo/upstream.js';
import { ensureEnvoy } from '../src/envoy/locate.js';
import { renderEnvoyYaml } from '../src/envoy/render.js';
import { createLogger } from '../src/observability/logger.js';
import { packageRoot } from '../src/paths.js';
import { createRootCa, issueClientCert, issueServerCert } from '../src/pki/generate.js';
import { signInWithBrowser } from './demo-browser.js';

const args = new Set(process.argv.slice(2));
const env = process.env;
const ports = {
  envoy: Number(env.DEMO_ENVOY_PORT ?? 8443),
  admin: Number(env.DEMO_ENVOY_ADMIN_PORT ?? 9901),
  authz: Number(env.DEMO_AUTHZ_PORT ?? 9001),
  http: Number(env.DEMO_HTTP_PORT ?? 8080),
  upstream: Number(env.DEMO_UPSTREAM_PORT ?? 8081),
  idp: Number(env.DEMO_IDP_PORT ?? 8082),
};
const dir = resolve(env.DEMO_DIR ?? join(packageRoot(), '.demo'));
const TENANTS = [
  { name: 'acme', host: 'pay.acme.test' },
  { name: 'globex', host: 'pay.globex.test' },
] as const;
/** The demo IdP's one client: bouncer. The secret is made per `prepare` and kept in .demo/demo-idp/. */
const IDP_CLIENT_ID = 'bouncer-demo';
const idpIssuer = `http://127.0.0.1:${ports.idp}`;
/**
 * The login service's public URL (`auth.public_url`) carries Envoy's port, so
 * every URL bouncer hands a browser for it names the port Envoy listens on.
 */
const authOrigin = `https://${SSO_HOSTS.auth}:${ports.envoy}`;
const appUrl = `https://${SSO_HOSTS.app}:${ports.envoy}/`;

function write(path: string, data: string, mode = 0o644): void {
  writeFileSync(path, data, { mode });
}

/** Creates the two tenants' CAs and devices, Envoy's server certificate, and bouncer's config. */
async function prepare(): Promise<void> {
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const edge = await createRootCa({ commonName: 'bouncer demo edge CA', keyAlgorithm: 'ec-p256', validDays: 30 });
  const server = await issueServerCert({
    issuer: edge,
    commonName: 'bouncer demo edge',
    dns: [...TENANTS.map((t) => t.host), SSO_HOSTS.app, SSO_HOSTS.auth],
    keyAlgorithm: 'ec-p256',
    validDays: 30,
  });
  write(join(dir, 'certs', 'edge-ca.pem'), edge.certPem);
  write(join(dir, 'certs', 'server.pem'), server.certPem);
  // Envoy in a container runs as another user and must read its key.
  write(join(dir, 'certs', 'server.key'), server.keyPem, 0o644);
  for (const t of TENANTS) {
    mkdirSync(join(dir, t.name), { recursive: true });
    const ca = await createRootCa({ commonName: `${t.name} device root CA`, organization: t.name, keyAlgorithm: 'ec-p256', validDays: 365 });
    const device = await issueClientCert({
      issuer: ca,
      commonName: `${t.name}-laptop-1`,
      uris: [`spiffe://${t.name}.test/device/laptop-1`],
      keyAlgorithm: 'ec-p256',
      validDays: 30,
    });
    write(join(dir, t.name, 'ca.pem'), ca.certPem);
    write(join(dir, t.name, 'ca.key'), ca.keyPem, 0o600);
    write(join(dir, t.name, 'device.pem'), device.certPem);
    write(join(dir, t.name, 'device.key'), device.keyPem, 0o600);
  }
  mkdirSync(join(dir, 'demo-idp'), { recursive: true });
  // Readable by others like server.key: docker compose mounts .demo into a container running as another user.
  // A demo-only secret between two loopback processes.
  write(join(dir, 'demo-idp', 'client.secret'), randomBytes(24).toString('hex'), 0o644);
  const yaml = [
    '# Written by `npm run demo`. Two tenants, each trusting only its own device CA,',
    `# and the app ${SSO_HOSTS.app} behind sign-in with the demo IdP (${idpIssuer}).`,
    'listen:',
    `  authz: 127.0.0.1:${ports.authz}`,
    `  http: 127.0.0.1:${ports.http}`,
    'tenants:',
    ...TENANTS.flatMap((t) => [
      `  - name: ${t.name}`,
      `    hostnames: [${t.host}]`,
      `    mtls: { mode: require, ca: ./${t.name}/ca.pem, exempt_paths: [/healthz] }`,
    ]),
    ssoConfigYaml({ issuer: idpIssuer, clientId: IDP_CLIENT_ID, clientSecretFile: './demo-idp/client.secret', publicUrl: authOrigin, keysDir: './keys' }),
    '',
  ].join('\n');
  write(join(dir, 'bouncer.yaml'), yaml);
  write(
    join(dir, 'envoy.yaml'),
    renderEnvoyYaml({
      listenHost: '127.0.0.1',
      listenPort: ports.envoy,
      adminHost: '127.0.0.1',
      adminPort: ports.admin,
      authzHost: '127.0.0.1',
      authzPort: ports.authz,
      upstreamHost: '127.0.0.1',
      upstreamPort: ports.upstream,
      serverCertPath: join(dir, 'certs', 'server.pem'),
      serverKeyPath: join(dir, 'certs', 'server.key'),
      // The login paths of the public URL's host go to bouncer's HTTP listener.
      authDomain: new URL(authOrigin).hostname,
      authHttpHost: '127.0.0.1',
      authHttpPort: ports.http,
    }),
  );
}

interface Claim {
  title: string;
  /** A tenant's hostname, or the login service's. */
  tenant: { readonly host: string };
  path?: string;
  device?: string;
  xfcc?: boolean;
  expect: number;
}

const CLAIMS: Claim[] = [
  { title: "acme's device passes on acme's hostname", tenant: TENANTS[0], device: 'acme', expect: 200 },
  { title: "acme's device is refused on globex's hostname", tenant: TENANTS[1], device: 'acme', expect: 403 },
  { title: 'no client certificate is refused', tenant: TENANTS[0], expect: 401 },
  { title: 'a forged XFCC header (no certificate) changes nothing', tenant: TENANTS[0], xfcc: true, expect: 401 },
  { title: 'the login service answers at auth.public_url, through Envoy', tenant: { host: SSO_HOSTS.auth }, path: '/.well-known/jwks.json', expect: 200 },
];

function curlFor(c: Claim): string {
  const parts = [
    'curl -s',
    `--cacert ${join(dir, 'certs', 'edge-ca.pem')}`,
    `--resolve ${c.tenant.host}:${ports.envoy}:127.0.0.1`,
  ];
  if (c.device) parts.push(`--cert ${join(dir, c.device, 'device.pem')} --key ${join(dir, c.device, 'device.key')}`);
  if (c.xfcc) parts.push(`-H 'x-forwarded-client-cert: Hash=${'0'.repeat(64)};Subject="CN=forged"'`, `-H 'x-bouncer-tenant: acme'`);
  parts.push(`https://${c.tenant.host}:${ports.envoy}${c.path ?? '/'}`);
  return parts.join(' ');
}

function fire(c: Claim, ca: string, readPem: (p: string) => string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: ports.envoy,
        servername: c.tenant.host,
        path: c.path ?? '/',
        headers: {
          host: c.tenant.host,
          ...(c.xfcc ? { 'x-forwarded-client-cert': `Hash=${'0'.repeat(64)};Subject="CN=forged"`, 'x-bouncer-tenant': 'acme' } : {}),
        },
        ca,
        ...(c.device ? { cert: readPem(join(dir, c.device, 'device.pem')), key: readPem(join(dir, c.device, 'device.key')) } : {}),
        agent: false,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => done({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', fail);
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

async function main(): Promise<number> {
  await prepare();
  if (args.has('--prepare-only')) {
    process.stdout.write(`Wrote ${dir} (CAs, device certificates, bouncer.yaml, envoy.yaml).\n`);
    return 0;
  }
  const envoyBin = await ensureEnvoy();
  const logFile = join(dir, 'bouncer.log');
  const logger = createLogger('info', (await import('pino')).pino.destination({ dest: logFile, sync: true, mkdir: true }));
  const upstream = await startEchoUpstream('127.0.0.1', ports.upstream);
  let app: BouncerApp | undefined;
  let envoy: ChildProcess | undefined;
  let idp: DemoIdp | undefined;
  const stopAll = async (): Promise<void> => {
    envoy?.kill('SIGTERM');
    await app?.close(2000);
    await idp?.close();
    await upstream.close();
  };
  try {
    idp = await startDemoIdp({
      port: ports.idp,
      clientId: IDP_CLIENT_ID,
      clientSecret: readFileSync(join(dir, 'demo-idp', 'client.secret'), 'utf8').trim(),
      redirectUri: `${authOrigin}/callback/${DEMO_IDP_ID}`,
    });
    app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), env), logger });
    let envoyOut = '';
    envoy = spawn(envoyBin, ['-c', join(dir, 'envoy.yaml'), '--log-level', 'warn', '--base-id', String(ports.envoy), '--disable-hot-restart'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    envoy.stdout?.on('data', (d: Buffer) => (envoyOut += d.toString()));
    envoy.stderr?.on('data', (d: Buffer) => (envoyOut += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (envoy.exitCode !== null) throw new Error(`Envoy exited:\n${envoyOut}`);
      const ok = await fetch(`http://127.0.0.1:${ports.admin}/ready`).then((r) => r.ok, () => false);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Envoy did not become ready:\n${envoyOut}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const ca = readFileSync(join(dir, 'certs', 'edge-ca.pem'), 'utf8');
    const read = (p: string): string => readFileSync(p, 'utf8');
    let failed = 0;
    process.stdout.write(`\nbouncer demo: Envoy on https://127.0.0.1:${ports.envoy}, bouncer ext_authz on 127.0.0.1:${ports.authz}, metrics on http://127.0.0.1:${ports.http}/metrics\n`);
    process.stdout.write(`Decision log: ${logFile}\n\n`);
    for (const c of CLAIMS) {
      const r = await fire(c, ca, read);
      const ok = r.status === c.expect;
      if (!ok) failed++;
      let reason = '';
      try {
        const j = JSON.parse(r.body) as { error?: string; identity?: Record<string, string> };
        reason = j.error ?? (j.identity ? `tenant=${j.identity['x-bouncer-tenant'] ?? '?'} subject=${j.identity['x-bouncer-client-subject'] ?? '-'}` : '');
      } catch {
        reason = r.body.slice(0, 80);
      }
      process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${c.title}: HTTP ${r.status} (expected ${c.expect}) ${reason}\n     ${curlFor(c)}\n\n`);
    }
    const [allowed, denied] = DEMO_USERS;
    process.stdout.write(
      [
        `Sign-in: open ${appUrl} in a browser (*.localhost resolves to this machine; the demo edge CA is`,
        `  ${join(dir, 'certs', 'edge-ca.pem')}: accept the certificate warning, or trust that CA).`,
        `  The demo IdP (${idp.issuer}) knows:`,
        ...DEMO_USERS.map((u) => `    ${u.username} / ${u.password}  (groups ${u.groups.join(', ')})`),
        `  The app's policy allows group staff: ${allowed?.username ?? ''} gets in, ${denied?.username ?? ''} sees the deny page.`,
        `  Browsers without *.localhost support need: 127.0.0.1 ${SSO_HOSTS.app} ${SSO_HOSTS.auth}  in /etc/hosts.`,
        `  Why ${denied?.username ?? ''} is refused, as ext_authz decides it (docs/explain.md):`,
        `    node dist/src/cli/bin.js access explain -c ${join(dir, 'bouncer.yaml')} --host ${SSO_HOSTS.app} --email ${denied?.email ?? ''} --group ${denied?.groups.join(',') ?? ''} --idp ${DEMO_IDP_ID}`,
        '',
      ].join('\n'),
    );
    if (args.has('--check')) {
      const browserClaims = [
        { user: allowed, title: 'signs in with a browser through the demo IdP and reaches the app', expected: { email: allowed?.email ?? '' } },
        { user: denied, title: 'signs in with a browser but the policy refuses them', expected: { denied: true } as const },
      ];
      for (const c of browserClaims) {
        if (!c.user) continue;
        const signIn = await signInWithBrowser(appUrl, c.user.username, c.user.password, c.expected);
        if (!signIn.ok) failed++;
        process.stdout.write(`${signIn.ok ? 'ok  ' : 'FAIL'} ${c.user.username} ${c.title}: ${signIn.detail}\n`);
      }
      process.stdout.write('\n');
      await stopAll();
      return failed === 0 ? 0 : 1;
    }
    process.stdout.write('Press Ctrl-C to stop Envoy, bouncer and the demo app.\n');
    await new Promise<void>((r) => {
      process.once('SIGINT', r);
      process.once('SIGTERM', r);
    });
    process.stdout.write('\nstopping…\n');
    await stopAll();
    return failed === 0 ? 0 : 1;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);

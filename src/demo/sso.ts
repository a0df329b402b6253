/**
 * The demo's sign-in: a development OIDC IdP (scripts/dev-idp.mjs, a real
 * oidc-provider process) with two demo users, and one app behind sign-in.
 * Hostnames end in `.localhost`, which browsers resolve to the loopback
 * address on their own (RFC 6761 §6.3), so a person can open the printed URL
 * without editing /etc/hosts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../paths.js';

/** The app behind sign-in and the login service, both served through the demo's Envoy. */
export const SSO_HOSTS = { app: 'wiki.localhost', auth: 'auth.localhost' } as const;

/** IdP id in bouncer's config; the callback path is `/callback/<id>`. */
export const DEMO_IDP_ID = 'demo';

export interface DemoUser {
  readonly username: string;
  readonly password: string;
  readonly email: string;
  readonly name: string;
  readonly groups: readonly string[];
  readonly amr: readonly string[];
}

/** alice is staff (the app's policy allows her); bob is a contractor (it does not). Passwords are printed: demo only. */
export const DEMO_USERS: readonly DemoUser[] = [
  { username: 'alice', password: 'alice-demo-password', email: 'alice@example.test', name: 'Alice', groups: ['staff'], amr: ['pwd', 'mfa'] },
  { username: 'bob', password: 'bob-demo-password', email: 'bob@example.test', name: 'Bob', groups: ['contractors'], amr: ['pwd'] },
];

export interface DemoIdp {
  readonly issuer: string;
  close(): Promise<void>;
}

/** How long the IdP may take to start (it generates an RSA key); generous for loaded hosts. */
const START_TIMEOUT_MS = 20_000;

/** Starts the demo IdP on 127.0.0.1:`port` with bouncer as its one client. */
export async function startDemoIdp(o: { port: number; clientId: string; clientSecret: string; redirectUri: string }): Promise<DemoIdp> {
  const script = join(packageRoot(), 'scripts', 'dev-idp.mjs');
  const config = { port: o.port, clients: [{ client_id: o.clientId, client_secret: o.clientSecret, redirect_uris: [o.redirectUri] }], users: DEMO_USERS };
  const child: ChildProcess = spawn(process.execPath, [script], { env: { ...process.env, DEV_IDP_CONFIG: JSON.stringify(config) }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = await new Promise<{ issuer: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo IdP did not start within ${START_TIMEOUT_MS} ms: ${stderr}`)), START_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as { issuer: string });
      } catch (err) {
        reject(new Error(`the demo IdP printed ${line}: ${String(err)}`));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo IdP exited with ${String(code)}: ${stderr}`));
    });
  });
  return {
    issuer: ready.issuer,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** bouncer config for the sign-in part of the demo: the login service, the IdP, and the app with its policy. */
export function ssoConfigYaml(o: { issuer: string; clientId: string; clientSecretFile: string; publicUrl: string; keysDir: string }): string {
  return [
    'auth:',
    `  domain: ${SSO_HOSTS.auth}`,
    `  public_url: ${o.publicUrl}`,
    `  session: { duration: 8h, keys_dir: ${o.keysDir} }`,
    'idps:',
    `  - { id: ${DEMO_IDP_ID}, type: oidc, issuer: "${o.issuer}", client_id: ${o.clientId}, client_secret_file: ${o.clientSecretFile}, scopes: [openid, email, profile, groups] }`,
    'apps:',
    '  - name: wiki',
    `    hostnames: [${SSO_HOSTS.app}]`,
    `    idps: [${DEMO_IDP_ID}]`,
    '    policies:',
    '      - { name: staff, action: allow, include: [ { group: [staff] } ] }',
  ].join('\n');
}

/**
 * The load profile's one-shot setup (`node dist/src/load/setup.js`): writes
 * everything the other services read into one folder (a volume in compose, a
 * temporary folder in the native test) and puts the tenants into PostgreSQL.
 *
 *   certs/         edge CA, Envoy's server certificate, the IdP's https certificate
 *   <tenant>/      each tenant's device root CA and one device certificate
 *   idp.json       the demo IdP's settings (its client: bouncer), idp-client.secret
 *   bouncer.yaml   the replicas' config: tenants in PostgreSQL, state in Redis, the SSO app
 *   envoy.yaml     Envoy in front of both replicas, the login service and the demo upstream
 *
 * Every address comes from the command line, so one program serves compose and the native test.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEMO_IDP_ID, DEMO_USERS, SSO_HOSTS, ssoConfigYaml } from '../demo/sso.js';
import { renderEnvoyYaml } from '../envoy/render.js';
import { createRootCa, issueClientCert, issueServerCert } from '../pki/generate.js';
import { createPgTenantStore } from '../stores/postgres/pg-tenant-store.js';
import type { TenantInput } from '../stores/tenant-store.js';
import { LOAD_TENANTS, type HostPort } from './topology.js';

/** bouncer's client at the demo IdP. */
export const LOAD_IDP_CLIENT_ID = 'bouncer-load';

function hostPort(flag: string, value: string | undefined): HostPort {
  const m = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(value ?? '');
  if (!m) throw new Error(`--${flag} must be HOST:PORT, got ${JSON.stringify(value)}`);
  return { host: m[1] as string, port: Number(m[2]) };
}

const isIp = (host: string): boolean => /^\d{1,3}(\.\d{1,3}){3}$/.test(host);

export interface SetupOptions {
  dir: string;
  keysDir: string;
  bind: string;
  envoy: HostPort;
  envoyAdminPort: number;
  authz: HostPort[];
  authHttp: HostPort[];
  upstream: HostPort;
  idp: HostPort;
  postgresUrl: string;
  redisUrl: string;
}

export function parseSetupArgs(argv: readonly string[]): SetupOptions {
  const { values: v } = parseArgs({
    args: [...argv],
    strict: true,
    options: Object.fromEntries(
      ['dir', 'keys-dir', 'bind', 'envoy', 'envoy-admin-port', 'authz', 'auth-http', 'upstream', 'idp', 'postgres-url', 'redis-url'].map((k) => [k, { type: 'string' as const }]),
    ),
  });
  const need = (k: string): string => {
    const value = v[k];
    if (typeof value !== 'string' || value === '') throw new Error(`--${k} is required`);
    return value;
  };
  const list = (k: string): HostPort[] => need(k).split(',').map((x) => hostPort(k, x));
  return {
    dir: need('dir'),
    keysDir: need('keys-dir'),
    bind: need('bind'),
    envoy: hostPort('envoy', need('envoy')),
    envoyAdminPort: hostPort('envoy-admin-port', `x:${need('envoy-admin-port')}`).port,
    authz: list('authz'),
    authHttp: list('auth-http'),
    upstream: hostPort('upstream', need('upstream')),
    idp: hostPort('idp', need('idp')),
    postgresUrl: need('postgres-url'),
    redisUrl: need('redis-url'),
  };
}

/** Writes the certificates and configs; returns the tenants to put into PostgreSQL. */
export async function writeLoadFiles(o: SetupOptions): Promise<TenantInput[]> {
  const write = (path: string, data: string, mode = 0o600): void => writeFileSync(join(o.dir, path), data, { mode });
  mkdirSync(join(o.dir, 'certs'), { recursive: true });
  const edge = await createRootCa({ commonName: 'bouncer load edge CA', keyAlgorithm: 'ec-p256', validDays: 30 });
  const server = await issueServerCert({ issuer: edge, commonName: 'bouncer load edge', dns: [...LOAD_TENANTS.map((t) => t.host), SSO_HOSTS.app, SSO_HOSTS.auth], keyAlgorithm: 'ec-p256', validDays: 30 });
  const idpCert = await issueServerCert({
    issuer: edge,
    commonName: 'bouncer load demo IdP',
    ...(isIp(o.idp.host) ? { dns: [], ips: [o.idp.host] } : { dns: [o.idp.host], ips: ['127.0.0.1'] }),
    keyAlgorithm: 'ec-p256',
    validDays: 30,
  });
  write('certs/edge-ca.pem', edge.certPem, 0o644);
  write('certs/server.pem', server.certPem, 0o644);
  // Envoy's image runs as a user of its own, which must read the key.
  write('certs/server.key', server.keyPem, 0o644);
  write('certs/idp.pem', idpCert.certPem, 0o644);
  write('certs/idp.key', idpCert.keyPem);

  const tenants: TenantInput[] = [];
  for (const t of LOAD_TENANTS) {
    mkdirSync(join(o.dir, t.name), { recursive: true });
    const ca = await createRootCa({ commonName: `${t.name} device root CA`, organization: t.name, keyAlgorithm: 'ec-p256', validDays: 365 });
    const device = await issueClientCert({ issuer: ca, commonName: `${t.name}-load-device`, uris: [`spiffe://${t.name}.test/device/load`], keyAlgorithm: 'ec-p256', validDays: 30 });
    write(`${t.name}/ca.pem`, ca.certPem, 0o644);
    write(`${t.name}/device.pem`, device.certPem, 0o644);
    write(`${t.name}/device.key`, device.keyPem);
    tenants.push({ name: t.name, hostnames: [t.host], mtls: { mode: 'require' as const, caPem: ca.certPem } });
  }

  const issuer = `https://${o.idp.host}:${o.idp.port}`;
  const publicUrl = `https://${SSO_HOSTS.auth}:${o.envoy.port}`;
  const secret = randomBytes(24).toString('hex');
  write('idp-client.secret', secret);
  write(
    'idp.json',
    JSON.stringify({
      port: o.idp.port,
      host: o.bind,
      public_host: o.idp.host,
      tls: { cert_file: join(o.dir, 'certs/idp.pem'), key_file: join(o.dir, 'certs/idp.key') },
      standalone: true,
      clients: [{ client_id: LOAD_IDP_CLIENT_ID, client_secret: secret, redirect_uris: [`${publicUrl}/callback/${DEMO_IDP_ID}`] }],
      users: DEMO_USERS,
    }),
  );
  write(
    'bouncer.yaml',
    [
      '# Written by the load profile\'s setup: tenants live in PostgreSQL, revocations and single-use state in Redis.',
      'listen:',
      `  authz: ${o.bind}:9001`,
      `  http: ${o.bind}:8080`,
      'store:',
      `  postgres: { url: "${o.postgresUrl}" }`,
      `  redis: { url: "${o.redisUrl}", key_prefix: "load:" }`,
      ssoConfigYaml({ issuer, clientId: LOAD_IDP_CLIENT_ID, clientSecretFile: join(o.dir, 'idp-client.secret'), publicUrl, keysDir: o.keysDir }),
      '',
    ].join('\n'),
    0o644,
  );
  write(
    'envoy.yaml',
    renderEnvoyYaml({
      listenHost: o.bind,
      listenPort: o.envoy.port,
      adminHost: '127.0.0.1',
      adminPort: o.envoyAdminPort,
      authzEndpoints: o.authz,
      authHttpEndpoints: o.authHttp,
      authDomain: SSO_HOSTS.auth,
      upstreamHost: o.upstream.host,
      upstreamPort: o.upstream.port,
      serverCertPath: join(o.dir, 'certs/server.pem'),
      serverKeyPath: join(o.dir, 'certs/server.key'),
    }),
    0o644,
  );

  return tenants;
}

export async function setup(o: SetupOptions): Promise<void> {
  const tenants = await writeLoadFiles(o);
  // Creates the schema on a fresh database; a second run replaces the tenants' CAs with the new ones.
  const store = await createPgTenantStore({ connection: { connectionString: o.postgresUrl } });
  try {
    for (const t of tenants) await store.putTenant(t);
  } finally {
    await store.close();
  }
}

if (process.argv[1] && /load[\\/]setup\.js$/.test(process.argv[1])) {
  setup(parseSetupArgs(process.argv.slice(2))).then(
    () => process.stdout.write('load setup: certificates, configs and tenants are ready\n'),
    (err: unknown) => {
      process.stderr.write(`load setup failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}

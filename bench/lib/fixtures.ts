/**
 * Everything the scenarios present, generated fresh for each run (nothing binary
 * is committed): the edge server certificate, a tenant PKI with P-256 and
 * RSA-2048 chains (root -> intermediate -> device), session JWTs signed by a key
 * store bouncer then reads from the same directory, and bouncer's config files.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRootCa, issueClientCert, issueIntermediateCa, issueServerCert, type KeyAlgorithm, type KeyPairPem } from '../../src/pki/generate.js';
import { signSession, type SessionClaimsInput } from '../../src/core/session-token.js';
import { keyOverlapMs, openKeyStore, type PublicJwk } from '../../src/sessions/key-store.js';

/** The protected hostname: one tenant (client certificates) and one app (login) share it. */
export const HOST = 'wiki.bench.test';
export const AUTH_DOMAIN = 'auth.bench.test';
export const APP = 'wiki';
export const SESSION_COOKIE = '__Host-bouncer_session';
const SESSION_SEC = 8 * 3600;

/** A chain file (leaf, then intermediate) and its key, as the load generators read them. */
export interface ClientCertFiles {
  chain: string;
  key: string;
}

export interface Fixtures {
  dir: string;
  serverCert: string;
  serverKey: string;
  /** Tenant trust bundle: the P-256 root and the RSA-2048 root. */
  caFile: string;
  /** The one device of the warm scenarios (P-256, via an intermediate). */
  device: ClientCertFiles;
  /** "CHAIN KEY" lines for the shim's round robin, one pool per key type. */
  coldPools: Record<'p256' | 'rsa2048', { list: string; certs: ClientCertFiles[]; intermediatePem: string; rootPem: string }>;
  /** A valid session for the app. */
  token: string;
  /** File of distinct valid sessions, one a line (more than the token cache holds). */
  tokensFile: string;
  jwks: { keys: PublicJwk[] };
  keysDir: string;
}

function write(path: string, text: string): string {
  writeFileSync(path, text, { mode: 0o600 });
  return path;
}

async function chainFor(alg: KeyAlgorithm, label: string): Promise<{ root: KeyPairPem; intermediate: KeyPairPem }> {
  // Valid past bouncer's 30-day CA expiry warning: in the tenant-count scenario
  // 100,000 tenants name this file, and each would otherwise add two warnings
  // (log lines at start and strings kept with the config).
  const root = await createRootCa({ commonName: `bench ${label} root CA`, organization: 'acme', keyAlgorithm: alg, validDays: 400 });
  const intermediate = await issueIntermediateCa({ issuer: root, commonName: `bench ${label} devices CA`, keyAlgorithm: alg, validDays: 20, pathLen: 0 });
  return { root, intermediate };
}

/**
 * @param coldPoolSize distinct device certificates per key type for the cold scenarios
 * @param coldTokens distinct session tokens for the cold-token scenario
 */
export async function createFixtures(dir: string, o: { coldPoolSize: number; coldTokens: number; nowMs: number }): Promise<Fixtures> {
  mkdirSync(dir, { recursive: true });
  const edge = await createRootCa({ commonName: 'bench edge CA', keyAlgorithm: 'ec-p256', validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'bench edge', dns: ['*.bench.test'], keyAlgorithm: 'ec-p256', validDays: 2 });
  const serverCert = write(join(dir, 'server.pem'), server.certPem);
  const serverKey = write(join(dir, 'server.key'), server.keyPem);

  const p256 = await chainFor('ec-p256', 'P-256');
  const rsa = await chainFor('rsa-2048', 'RSA-2048');
  const caFile = write(join(dir, 'acme-ca.pem'), p256.root.certPem + rsa.root.certPem);

  const issueDevice = async (issuer: KeyPairPem, alg: KeyAlgorithm, name: string): Promise<ClientCertFiles> => {
    const d = await issueClientCert({ issuer, commonName: name, dns: [`${name}.devices.bench.test`], keyAlgorithm: alg, validDays: 2 });
    return { chain: write(join(dir, `${name}.pem`), d.certPem + issuer.certPem), key: write(join(dir, `${name}.key`), d.keyPem) };
  };
  const device = await issueDevice(p256.intermediate, 'ec-p256', 'device-1');

  const coldPools = {} as Fixtures['coldPools'];
  for (const [id, alg, ca] of [['p256', 'ec-p256', p256], ['rsa2048', 'rsa-2048', rsa]] as const) {
    const certs = await Promise.all(Array.from({ length: o.coldPoolSize }, (_, i) => issueDevice(ca.intermediate, alg, `cold-${id}-${i}`)));
    const list = write(join(dir, `cold-${id}.list`), certs.map((c) => `${c.chain} ${c.key}\n`).join(''));
    coldPools[id] = { list, certs, intermediatePem: ca.intermediate.certPem, rootPem: ca.root.certPem };
  }

  // bouncer opens the same directory and finds this key as its current one.
  const keysDir = join(dir, 'keys');
  const keys = await openKeyStore({ dir: keysDir, rotateAfterDays: 30, overlapMs: keyOverlapMs(SESSION_SEC), nowMs: o.nowMs });
  const now = Math.floor(o.nowMs / 1000);
  const claims = (sid: string): SessionClaimsInput => ({
    iss: AUTH_DOMAIN,
    aud: APP,
    sub: 'okta:alice',
    email: 'alice@bench.test',
    name: 'Alice',
    groups: ['staff', 'wiki-editors'],
    idp: 'okta',
    idp_type: 'oidc',
    amr: ['pwd', 'mfa'],
    auth_time: now,
    sid,
    exp: now + SESSION_SEC,
  });
  const token = await signSession(claims(randomUUID()), keys.current(), o.nowMs);
  const tokens: string[] = [];
  for (let i = 0; i < o.coldTokens; i++) tokens.push(await signSession(claims(randomUUID()), keys.current(), o.nowMs));
  const tokensFile = write(join(dir, 'tokens.txt'), tokens.join('\n') + '\n');

  return { dir, serverCert, serverKey, caFile, device, coldPools, token, tokensFile, jwks: keys.jwks(), keysDir };
}

/**
 * bouncer's config for the scenarios: the tenant requires a client certificate
 * and the app a login with a full policy set (bypass by IP, deny by domain, allow
 * with include/require/exclude including a certificate and a CEL rule).
 */
export function bouncerConfigYaml(
  f: Fixtures,
  o: { authzPort: number; httpPort: number; certCacheEntries?: number; logLevel?: string; extraTenants?: number; mtlsOnly?: boolean },
): string {
  // Idle tenants all name the same CA file, which bouncer parses once: generating
  // 100,000 CAs would take longer than the whole bench.
  const extra = Array.from({ length: o.extraTenants ?? 0 }, (_, i) => `  - { name: t${i}, hostnames: [t${i}.idle.bench.test], mtls: { mode: require, ca: ${f.caFile} } }`);
  const head = [
    'listen:',
    `  authz: 127.0.0.1:${o.authzPort}`,
    `  http: 127.0.0.1:${o.httpPort}`,
    'authz:',
    `  cache: { max_entries: ${o.certCacheEntries ?? 10000}, ttl_seconds: 300 }`,
    `log: { level: ${o.logLevel ?? 'info'} }`,
    'tenants:',
    `  - name: acme`,
    `    hostnames: [${HOST}]`,
    `    mtls: { mode: require, ca: ${f.caFile} }`,
    ...extra,
  ];
  // Without the login service and app: client certificates only (what `serve --workers` accepts today).
  if (o.mtlsOnly) return [...head, ''].join('\n');
  return [
    ...head,
    'auth:',
    `  domain: ${AUTH_DOMAIN}`,
    `  session: { duration: 8h, keys_dir: ${f.keysDir} }`,
    'idps:',
    '  - { id: okta, type: oidc, issuer: "http://127.0.0.1:9/", client_id: bench, client_secret_env: BENCH_IDP_SECRET }',
    'apps:',
    `  - name: ${APP}`,
    `    hostnames: [${HOST}]`,
    '    idps: [okta]',
    '    policies:',
    '      - { name: health, action: bypass, include: [ { ip: [10.0.0.0/8] } ] }',
    '      - { name: contractors, action: deny, include: [ { email_domain: [contractor.example] } ] }',
    '      - name: staff',
    '        action: allow',
    '        include: [ { email_domain: [bench.test] }, { group: [wiki-editors] } ]',
    '        require: [ { amr: [mfa, hwk] }, { certificate: true }, { cel: "\'staff\' in identity.groups" } ]',
    '        exclude: [ { email: [intern@bench.test] } ]',
    '',
  ].join('\n');
}

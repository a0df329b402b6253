/**
 * bouncer behind the Envoy configuration that Istio and Envoy Gateway generate
 * for the manifests in deploy/istio and deploy/envoy-gateway. The configs in
 * deploy/{istio,envoy-gateway}/reconstructed were rebuilt by hand from each
 * control plane's source (their READMEs say from which files and how to
 * refresh them); here they run in a real Envoy in front of bouncer, and the
 * behaviours are those of the plain-Envoy tests (mtls-envoy.test.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { IDENTITY_HEADERS } from '../../src/authz/check-response.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { packageRoot } from '../../src/paths.js';
import { createRootCa, issueClientCert, issueIntermediateCa, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { startEnvoyWithConfig, type RunningEnvoy } from '../helpers/envoy.js';
import { freePort } from '../helpers/ports.js';
import { decisionAudit, MTLS_TENANTS_YAML, SERVER_DNS, startEnvoyOrClose } from '../helpers/stack.js';
import { tlsRequest, type TlsResponse } from '../helpers/tls-client.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const DEPLOY = join(packageRoot(), 'deploy');

type Doc = Record<string, unknown>;

function readDocs(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => d.toJSON() as Doc);
}

/** Walks a parsed document along `path` (keys and array indexes); throws when a step is missing. */
function at(doc: unknown, ...path: Array<string | number>): unknown {
  let cur: unknown = doc;
  for (const step of path) {
    if (cur === null || typeof cur !== 'object' || !(step in (cur as object))) throw new Error(`no ${path.join('.')} (missing ${String(step)})`);
    cur = (cur as Record<string | number, unknown>)[step];
  }
  return cur;
}

/** Every object in `doc` (depth first) for which `pick` holds. */
function findAll(doc: unknown, pick: (o: Doc) => boolean, out: Doc[] = []): Doc[] {
  if (Array.isArray(doc)) for (const d of doc) findAll(d, pick, out);
  else if (doc !== null && typeof doc === 'object') {
    if (pick(doc as Doc)) out.push(doc as Doc);
    for (const v of Object.values(doc as Doc)) findAll(v, pick, out);
  }
  return out;
}

function one(doc: unknown, pick: (o: Doc) => boolean, what: string): Doc {
  const found = findAll(doc, pick);
  if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}`);
  return found[0] as Doc;
}

const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const isExtAuthz = (o: Doc): boolean => o['@type'] === EXT_AUTHZ_TYPE;
const isHcm = (o: Doc): boolean => o['@type'] === 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

interface Pki {
  edge: KeyPairPem;
  server: KeyPairPem;
  placeholderCa: KeyPairPem;
  tenants: Record<string, { ca: KeyPairPem; device: KeyPairPem }>;
  /** An acme device issued by an intermediate CA; acme's bundle holds only its root. */
  acmeSub: { device: KeyPairPem; intermediate: KeyPairPem };
}

async function makePki(): Promise<Pki> {
  const edge = await createRootCa({ commonName: 'mesh test edge CA', keyAlgorithm: 'ec-p256', validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'mesh test edge', dns: SERVER_DNS, keyAlgorithm: 'ec-p256', validDays: 2 });
  const placeholderCa = await createRootCa({ commonName: 'bouncer placeholder client CA (key discarded)', keyAlgorithm: 'ec-p256', validDays: 2 });
  const tenants: Pki['tenants'] = {};
  for (const name of ['acme', 'globex', 'opt']) {
    const ca = await createRootCa({ commonName: `${name} root CA`, organization: name, keyAlgorithm: 'ec-p256', validDays: 30 });
    const device = await issueClientCert({ issuer: ca, commonName: `${name}-device-1`, dns: [`device-1.${name}.test`], keyAlgorithm: 'ec-p256', validDays: 2 });
    tenants[name] = { ca, device };
  }
  const acme = tenants.acme as { ca: KeyPairPem };
  const intermediate = await issueIntermediateCa({ issuer: acme.ca, commonName: 'acme devices CA', organization: 'acme', keyAlgorithm: 'ec-p256', validDays: 10 });
  const subDevice = await issueClientCert({ issuer: intermediate, commonName: 'acme-device-2', dns: ['device-2.acme.test'], keyAlgorithm: 'ec-p256', validDays: 2 });
  return { edge, server, placeholderCa, tenants, acmeSub: { device: subDevice, intermediate } };
}

interface MeshStack {
  request(r: { servername: string; host?: string; path?: string; device?: string; headers?: Record<string, string> }): Promise<TlsResponse>;
  upstream: Upstream;
  bouncer: BouncerApp;
  envoy: RunningEnvoy;
  audit: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * bouncer (in-process, tenants in a YAML file) behind a real Envoy running
 * `envoyTemplate` with its {{placeholders}} filled in, then changed by `edit`.
 */
async function startMeshStack(pki: Pki, envoyTemplate: string, xfccYaml: string, edit?: (config: Doc) => void): Promise<MeshStack> {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-mesh-'));
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  for (const [name, t] of Object.entries(pki.tenants)) file(`${name}-ca.pem`, t.ca.certPem);
  const authzPort = await freePort();
  const httpPort = await freePort();
  const configPath = file(
    'bouncer.yaml',
    `
listen:
  authz: 127.0.0.1:${authzPort}
  http: 127.0.0.1:${httpPort}
${xfccYaml}
${MTLS_TENANTS_YAML}`,
  );
  const { logger, audit } = decisionAudit();
  const upstream = await startUpstream();
  const bouncer = await startBouncer({ config: await loadConfig(configPath, {}), logger, env: {}, watchIntervalMs: 200 });
  const listenPort = await freePort();
  const adminPort = await freePort();
  const values: Record<string, string> = {
    ADMIN_PORT: String(adminPort),
    LISTEN_ADDRESS: '127.0.0.1',
    LISTEN_PORT: String(listenPort),
    AUTHZ_PORT: String(bouncer.authzPort),
    UPSTREAM_PORT: String(upstream.port),
    SERVER_CERT: file('server.pem', pki.server.certPem),
    SERVER_KEY: file('server.key', pki.server.keyPem),
    PLACEHOLDER_CA: file('placeholder-ca.pem', pki.placeholderCa.certPem),
    // Not the manifests' 500 ms: a check budget in a test is a timing assertion on a shared CI host.
    AUTHZ_TIMEOUT: '5s',
  };
  const filled = envoyTemplate.replace(/\{\{([A-Z_]+)\}\}/g, (_m, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`the Envoy template names an unknown placeholder {{${key}}}`);
    return v;
  });
  let config = filled;
  if (edit) {
    const doc = parse(filled) as Doc;
    edit(doc);
    config = stringify(doc);
  }
  const envoy = await startEnvoyOrClose({ bouncer, upstream }, () => startEnvoyWithConfig(file('envoy.yaml', config), listenPort, adminPort));
  return {
    upstream,
    bouncer,
    envoy,
    audit,
    request(r) {
      let cred: { cert: string; key: string } | undefined;
      if (r.device === 'acme-sub') cred = { cert: pki.acmeSub.device.certPem + pki.acmeSub.intermediate.certPem, key: pki.acmeSub.device.keyPem };
      else if (r.device !== undefined) {
        const t = pki.tenants[r.device];
        if (!t) throw new Error(`no device for ${r.device}`);
        cred = { cert: t.device.certPem, key: t.device.keyPem };
      }
      return tlsRequest({ port: listenPort, ca: pki.edge.certPem, servername: r.servername, host: r.host, path: r.path, headers: r.headers, ...cred });
    },
    async stop() {
      await envoy.stop();
      await bouncer.close(1000);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a mesh stack for the tests of the enclosing block and stops it after them; the getter is for use inside tests. */
function meshStackPerBlock(start: () => Promise<MeshStack>): () => MeshStack {
  let stack: MeshStack | undefined;
  beforeAll(async () => {
    stack = await start();
  }, 60_000);
  afterAll(async () => {
    await stack?.stop();
  });
  return () => {
    if (!stack) throw new Error('the mesh stack did not start');
    return stack;
  };
}

function lastSeen(stack: MeshStack): Record<string, string | string[] | undefined> {
  const h = stack.upstream.seen[stack.upstream.seen.length - 1];
  if (!h) throw new Error('upstream saw no request');
  return h;
}

/** The plain-Envoy behaviours, for a gateway that hands bouncer the peer certificate and the TLS session. */
function fullBehaviours(get: () => MeshStack, pkiOf: () => Pki): void {
  test("a tenant's device passes on its own hostname and the upstream gets its identity", async () => {
    const stack = get();
    const r = await stack.request({ servername: 'pay.acme.test', device: 'acme', path: '/orders?id=1' });
    expect(r.status).toBe(200);
    const h = lastSeen(stack);
    expect(h[IDENTITY_HEADERS.tenant]).toBe('acme');
    expect(h[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-1');
    expect(h[IDENTITY_HEADERS.auth]).toBe('verified');
    expect(String(h['x-forwarded-client-cert'])).toContain('Hash=');
  });

  test("a device issued by the tenant's intermediate passes: the gateway's XFCC carries the chain", async () => {
    const r = await get().request({ servername: 'pay.acme.test', device: 'acme-sub' });
    expect(r.status).toBe(200);
    expect(lastSeen(get())[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-2');
  });

  test("another tenant's device is refused", async () => {
    const before = get().upstream.seen.length;
    const r = await get().request({ servername: 'pay.globex.test', device: 'acme' });
    expect(r.status).toBe(403);
    expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
    expect(get().upstream.seen.length).toBe(before);
  });

  test('no client certificate is refused with 401', async () => {
    const r = await get().request({ servername: 'pay.acme.test' });
    expect(r.status).toBe(401);
    expect(r.json()).toMatchObject({ error: 'client_cert_missing' });
  });

  test('a forged XFCC from the client is not trusted, with or without a certificate', async () => {
    const acme = pkiOf().tenants.acme as { device: KeyPairPem };
    const forged = `Hash=${'0'.repeat(64)};Cert="${encodeURIComponent(acme.device.certPem)}";Subject="CN=acme-device-1"`;
    const r = await get().request({ servername: 'pay.acme.test', headers: { 'x-forwarded-client-cert': forged } });
    expect(r.status).toBe(401);
    expect(r.json()).toMatchObject({ error: 'client_cert_missing' });
    const r2 = await get().request({ servername: 'pay.acme.test', device: 'globex', headers: { 'x-forwarded-client-cert': forged } });
    expect(r2.status).toBe(403);
    expect(r2.json()).toMatchObject({ error: 'client_cert_untrusted' });
  });

  test('SNI of one tenant with the Host of another gets 421', async () => {
    const r = await get().request({ servername: 'pay.acme.test', host: 'pay.globex.test', device: 'acme' });
    expect(r.status).toBe(421);
    expect(r.json()).toMatchObject({ error: 'sni_host_mismatch' });
  });

  test('optional and off tenants, exempt paths and unknown hosts behave as behind plain Envoy', async () => {
    const s = get();
    expect((await s.request({ servername: 'app.opt.test' })).status).toBe(200);
    expect((await s.request({ servername: 'app.opt.test', device: 'acme' })).status).toBe(403);
    expect((await s.request({ servername: 'app.opt.test', device: 'opt' })).status).toBe(200);
    expect((await s.request({ servername: 'app.open.test' })).status).toBe(200);
    expect((await s.request({ servername: 'pay.acme.test', path: '/healthz' })).status).toBe(200);
    expect((await s.request({ servername: 'pay.acme.test', path: '/healthz/../admin' })).status).toBe(401);
    const unknown = await s.request({ servername: 'nobody.tenants.test', device: 'acme' });
    expect(unknown.status).toBe(403);
    expect(unknown.json()).toMatchObject({ error: 'tenant_unknown' });
  });

  test('a stopped bouncer makes the gateway fail closed with 503', async () => {
    await get().bouncer.close(500);
    expect((await get().request({ servername: 'pay.acme.test', device: 'acme' })).status).toBe(503);
    expect((await get().request({ servername: 'app.open.test' })).status).toBe(503);
  });
}

/** What istiod generates from the same manifests minus envoy-filter.yaml. */
function stripEnvoyFilter(config: Doc): void {
  const extAuthz = one(config, isExtAuthz, 'ext_authz filter');
  delete extAuthz.include_peer_certificate;
  delete extAuthz.include_tls_session;
  delete (at(one(config, isHcm, 'HTTP connection manager'), 'set_current_client_cert_details') as Doc).chain;
}

let pki: Pki;
beforeAll(async () => {
  pki = await makePki();
}, 60_000);

describe('Istio: the ingress gateway istiod builds for deploy/istio', () => {
  const template = readFileSync(join(DEPLOY, 'istio', 'reconstructed', 'envoy.yaml'), 'utf8');
  const reconstructed = parse(template.replace(/\{\{[A-Z_]+\}\}/g, '0')) as Doc;

  test('the reconstruction follows the manifests it stands for', () => {
    const mesh = readDocs(join(DEPLOY, 'istio', 'mesh-config.yaml'))[0] as Doc;
    const provider = (at(mesh, 'meshConfig', 'extensionProviders') as Doc[]).find((p) => p.name === 'bouncer') as Doc;
    const grpc = at(provider, 'envoyExtAuthzGrpc') as { service: string; port: number; timeout: string; failOpen: boolean; statusOnError: string };
    const extAuthz = one(reconstructed, isExtAuthz, 'ext_authz filter');
    // Cluster and authority as model.LookupCluster names them.
    expect(at(extAuthz, 'grpc_service', 'envoy_grpc')).toEqual({ cluster_name: `outbound|${grpc.port}||${grpc.service}`, authority: grpc.service });
    expect(grpc.timeout).toBe('0.5s');
    expect(extAuthz.failure_mode_allow).toBe(grpc.failOpen);
    expect(grpc.statusOnError).toBe('503');
    expect(at(extAuthz, 'status_on_error', 'code')).toBe('ServiceUnavailable');
    // The provider name gates the filter through the CUSTOM policy's shadow RBAC.
    const policy = readDocs(join(DEPLOY, 'istio', 'authorization-policy.yaml'))[0] as Doc;
    expect(at(policy, 'spec', 'action')).toBe('CUSTOM');
    expect(at(policy, 'spec', 'provider', 'name')).toBe('bouncer');
    expect(at(extAuthz, 'filter_enabled_metadata', 'value', 'string_match', 'prefix')).toBe('istio-ext-authz-bouncer');
    const ns = at(policy, 'metadata', 'namespace') as string;
    const name = at(policy, 'metadata', 'name') as string;
    const rbac = one(reconstructed, (o) => o['@type'] === 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', 'RBAC filter');
    expect(Object.keys(at(rbac, 'shadow_rules', 'policies') as Doc)).toEqual([`istio-ext-authz-bouncer-ns[${ns}]-policy[${name}]-rule[0]`]);
    // What the EnvoyFilter merges is what the reconstruction carries.
    const patches = at(readDocs(join(DEPLOY, 'istio', 'envoy-filter.yaml'))[0], 'spec', 'configPatches') as Doc[];
    const authzPatch = at(patches[0], 'patch', 'value', 'typed_config') as Doc;
    expect(authzPatch).toMatchObject({ include_peer_certificate: true, include_tls_session: true });
    expect(extAuthz).toMatchObject({ include_peer_certificate: true, include_tls_session: true });
    expect(at(patches[1], 'patch', 'value', 'typed_config', 'set_current_client_cert_details')).toEqual({ chain: true });
    const hcm = one(reconstructed, isHcm, 'HTTP connection manager');
    expect(hcm.forward_client_cert_details).toBe(at(mesh, 'meshConfig', 'defaultConfig', 'gatewayTopology', 'forwardClientCertDetails'));
    // Gateway: OPTIONAL_MUTUAL with insecureSkipVerify and a CA credential.
    const gw = readDocs(join(DEPLOY, 'istio', 'gateway.yaml')).find((d) => d.kind === 'Gateway') as Doc;
    const tls = at(gw, 'spec', 'servers', 0, 'tls') as Doc;
    expect(tls).toMatchObject({ mode: 'OPTIONAL_MUTUAL', insecureSkipVerify: true });
    const downstream = one(reconstructed, (o) => String(o['@type']).endsWith('DownstreamTlsContext'), 'TLS context');
    expect(downstream.require_client_certificate).toBe(false);
    expect(at(downstream, 'common_tls_context', 'tls_certificate_sds_secret_configs', 0, 'name')).toBe(`kubernetes://${String(tls.credentialName)}`);
    expect(at(downstream, 'common_tls_context', 'combined_validation_context', 'validation_context_sds_secret_config', 'name')).toBe(
      `kubernetes://${String(tls.caCertCredentialName)}`,
    );
    expect(at(downstream, 'common_tls_context', 'combined_validation_context', 'default_validation_context', 'trust_chain_verification')).toBe('ACCEPT_UNTRUSTED');
  });

  describe('with the EnvoyFilter: peer certificate and TLS session in the check', () => {
    const stack = meshStackPerBlock(() => startMeshStack(pki, template, ''));
    fullBehaviours(
      stack,
      () => pki,
    );
  });

  describe("without the EnvoyFilter and with bouncer's defaults: the old recipe", () => {
    const stack = meshStackPerBlock(() => startMeshStack(pki, template, '', stripEnvoyFilter));

    test('a device is refused with a reason that names the setting, not as a missing certificate', async () => {
      const r = await stack().request({ servername: 'pay.acme.test', device: 'acme' });
      expect(r.status).toBe(403);
      const body = r.json<{ error: string; message: string }>();
      expect(body.error).toBe('xfcc_untrusted');
      expect(body.message).toContain('authz.xfcc.trusted_hop');
      // Without a certificate there is no XFCC: still the plain 401.
      const r2 = await stack().request({ servername: 'pay.acme.test' });
      expect(r2.status).toBe(401);
      expect(r2.json()).toMatchObject({ error: 'client_cert_missing' });
    });
  });

  describe('without the EnvoyFilter: the XFCC mode (authz.xfcc.trusted_hop)', () => {
    const stack = meshStackPerBlock(() => startMeshStack(pki, template, 'authz:\n  xfcc: { trusted_hop: true, max_elements: 1 }', stripEnvoyFilter));

    test("a tenant's device passes on the gateway's XFCC Cert alone", async () => {
      const r = await stack().request({ servername: 'pay.acme.test', device: 'acme' });
      expect(r.status).toBe(200);
      expect(lastSeen(stack())[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-1');
      const rec = stack().audit[stack().audit.length - 1];
      expect(rec).toMatchObject({ tenant: 'acme', outcome: 'allow', reason: 'mtls_verified' });
    });

    test("another tenant's device is refused, and no certificate is 401", async () => {
      const r = await stack().request({ servername: 'pay.globex.test', device: 'acme' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
      const r2 = await stack().request({ servername: 'pay.acme.test' });
      expect(r2.status).toBe(401);
      expect(r2.json()).toMatchObject({ error: 'client_cert_missing' });
    });

    test('a forged XFCC from the client is removed by the gateway before bouncer sees it', async () => {
      const acme = pki.tenants.acme as { device: KeyPairPem };
      const forged = `Cert="${encodeURIComponent(acme.device.certPem)}";Subject="CN=acme-device-1"`;
      const r = await stack().request({ servername: 'pay.acme.test', headers: { 'x-forwarded-client-cert': forged } });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ error: 'client_cert_missing' });
      const r2 = await stack().request({ servername: 'pay.acme.test', device: 'globex', headers: { 'x-forwarded-client-cert': forged } });
      expect(r2.status).toBe(403);
      expect(r2.json()).toMatchObject({ error: 'client_cert_untrusted' });
    });

    test("Istio's XFCC carries no chain: a device issued by an intermediate is refused", async () => {
      const r = await stack().request({ servername: 'pay.acme.test', device: 'acme-sub' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
    });

    test('without the SNI there is no 421: the Host decides, and the certificate is judged by that tenant', async () => {
      const r = await stack().request({ servername: 'pay.acme.test', host: 'pay.globex.test', device: 'acme' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
      // The documented hole: a tenant that needs no certificate is reachable over any tenant's connection.
      const r2 = await stack().request({ servername: 'pay.acme.test', host: 'app.open.test', device: 'acme' });
      expect(r2.status).toBe(200);
    });
  });
});

describe('Envoy Gateway: the proxy config Envoy Gateway builds for deploy/envoy-gateway', () => {
  const template = readFileSync(join(DEPLOY, 'envoy-gateway', 'reconstructed', 'envoy.yaml'), 'utf8');
  const reconstructed = parse(template.replace(/\{\{[A-Z_]+\}\}/g, '0')) as Doc;

  test('the reconstruction follows the manifests it stands for', () => {
    const docs = readDocs(join(DEPLOY, 'envoy-gateway', 'policies.yaml'));
    const sp = docs.find((d) => d.kind === 'SecurityPolicy') as Doc;
    const ctp = docs.find((d) => d.kind === 'ClientTrafficPolicy') as Doc;
    const epp = docs.find((d) => d.kind === 'EnvoyPatchPolicy') as Doc;
    const spNs = at(sp, 'metadata', 'namespace') as string;
    const spName = at(sp, 'metadata', 'name') as string;
    const backend = at(sp, 'spec', 'extAuth', 'grpc', 'backendRefs', 0) as { name: string; namespace: string; port: number };
    const filterName = `envoy.filters.http.ext_authz/securitypolicy/${spNs}/${spName}`;
    const filter = one(reconstructed, (o) => o.name === filterName, 'ext_authz filter');
    expect(filter.disabled).toBe(true);
    expect(at(filter, 'typed_config', 'grpc_service', 'envoy_grpc')).toEqual({
      cluster_name: `securitypolicy/${spNs}/${spName}/${backend.namespace}/${backend.name}`,
      authority: `${backend.name}.${backend.namespace}:${backend.port}`,
    });
    expect(at(sp, 'spec', 'extAuth', 'failOpen')).toBe(false);
    expect(at(filter, 'typed_config')).not.toHaveProperty('failure_mode_allow');
    expect(at(sp, 'spec', 'extAuth', 'timeout')).toBe('500ms');
    expect(at(sp, 'spec', 'extAuth', 'statusOnError')).toBe(503);
    expect(at(filter, 'typed_config', 'status_on_error', 'code')).toBe('ServiceUnavailable');
    // The route switches the filter on.
    expect(one(reconstructed, (o) => filterName in o && o !== filter, 'per-route config')).toBeDefined();
    // The EnvoyPatchPolicy adds exactly what the reconstruction carries, on the listener named for the Gateway.
    const gw = readDocs(join(DEPLOY, 'envoy-gateway', 'gateway.yaml')).find((d) => d.kind === 'Gateway') as Doc;
    const listenerName = `${String(at(gw, 'metadata', 'namespace'))}/${String(at(gw, 'metadata', 'name'))}/${String(at(gw, 'spec', 'listeners', 0, 'name'))}`;
    expect(at(reconstructed, 'static_resources', 'listeners', 0, 'name')).toBe(listenerName);
    for (const p of at(epp, 'spec', 'jsonPatches') as Doc[]) {
      expect(p.name).toBe(listenerName);
      expect(String(at(p, 'operation', 'jsonPath'))).toContain(filterName);
      const field = String(at(p, 'operation', 'path')).replace(/^\//, '');
      expect(at(filter, 'typed_config', field)).toBe(at(p, 'operation', 'value'));
    }
    // ClientTrafficPolicy: mode Request → ACCEPT_UNTRUSTED with no CA; XFCC SanitizeSet with every detail.
    expect(at(ctp, 'spec', 'tls', 'clientValidation')).toEqual({ mode: 'Request' });
    const downstream = one(reconstructed, (o) => String(o['@type']).endsWith('DownstreamTlsContext'), 'TLS context');
    expect(downstream.require_client_certificate).toBe(false);
    expect(at(downstream, 'common_tls_context', 'validation_context')).toEqual({ trust_chain_verification: 'ACCEPT_UNTRUSTED' });
    const hcm = one(reconstructed, isHcm, 'HTTP connection manager');
    expect(at(ctp, 'spec', 'headers', 'xForwardedClientCert', 'mode')).toBe('SanitizeSet');
    expect(hcm.forward_client_cert_details).toBe('SANITIZE_SET');
    const details = (at(ctp, 'spec', 'headers', 'xForwardedClientCert', 'certDetailsToAdd') as string[]).map((d) => d.toLowerCase()).sort();
    expect(Object.keys(at(hcm, 'set_current_client_cert_details') as Doc).sort()).toEqual(details);
  });

  describe('without the EnvoyPatchPolicy: the XFCC mode (authz.xfcc.trusted_hop)', () => {
    const stack = meshStackPerBlock(() =>
      startMeshStack(pki, template, 'authz:\n  xfcc: { trusted_hop: true, max_elements: 1 }', (config) => {
        const extAuthz = one(config, isExtAuthz, 'ext_authz filter');
        delete extAuthz.include_peer_certificate;
        delete extAuthz.include_tls_session;
      }),
    );

    test('devices pass on the XFCC Cert and Chain, including one issued by an intermediate', async () => {
      expect((await stack().request({ servername: 'pay.acme.test', device: 'acme' })).status).toBe(200);
      expect((await stack().request({ servername: 'pay.acme.test', device: 'acme-sub' })).status).toBe(200);
      expect(lastSeen(stack())[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-2');
    });

    test("another tenant's device, no certificate and a forged XFCC are refused", async () => {
      const acme = pki.tenants.acme as { device: KeyPairPem };
      const forged = `Cert="${encodeURIComponent(acme.device.certPem)}"`;
      expect((await stack().request({ servername: 'pay.globex.test', device: 'acme' })).json()).toMatchObject({ error: 'client_cert_untrusted' });
      expect((await stack().request({ servername: 'pay.acme.test' })).json()).toMatchObject({ error: 'client_cert_missing' });
      expect((await stack().request({ servername: 'pay.acme.test', headers: { 'x-forwarded-client-cert': forged } })).json()).toMatchObject({ error: 'client_cert_missing' });
    });

    test('without the SNI there is no 421: the Host decides', async () => {
      const r = await stack().request({ servername: 'pay.acme.test', host: 'pay.globex.test', device: 'acme' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
    });
  });

  describe('with the EnvoyPatchPolicy: peer certificate and TLS session in the check', () => {
    const stack = meshStackPerBlock(() => startMeshStack(pki, template, ''));
    fullBehaviours(
      stack,
      () => pki,
    );
  });
});

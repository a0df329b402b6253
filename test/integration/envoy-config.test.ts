import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { parse } from 'yaml';
import { runCli } from '../../src/cli/index.js';
import { ENVOY_VERSION } from '../../src/envoy/locate.js';
import { buildEnvoyConfig, COMPOSE_ENVOY_OPTIONS, ENVOY_RENDER_DEFAULTS, renderEnvoyYaml } from '../../src/envoy/render.js';
import { packageRoot } from '../../src/paths.js';
import { createRootCa, issueServerCert } from '../../src/pki/generate.js';
import { envoyBinary } from '../helpers/envoy.js';

const run = promisify(execFile);
const root = packageRoot();
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-envoycfg-'));
  const ca = await createRootCa({ commonName: 'validate CA', keyAlgorithm: 'ec-p256', validDays: 1 });
  const server = await issueServerCert({ issuer: ca, commonName: 'edge', dns: ['*.example.test'], keyAlgorithm: 'ec-p256', validDays: 1 });
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function validate(yaml: string): Promise<{ ok: boolean; output: string }> {
  const file = join(dir, `validate-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, yaml);
  try {
    const { stdout, stderr } = await run(await envoyBinary(), ['--mode', 'validate', '-c', file, '--disable-hot-restart'], { timeout: 60_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('the Envoy config we ship', () => {
  const shipped = readFileSync(join(root, 'envoy', 'envoy.yaml'), 'utf8');

  test('envoy/envoy.yaml is exactly what `bouncer envoy render` produces for docker-compose', () => {
    expect(shipped).toBe(renderEnvoyYaml(COMPOSE_ENVOY_OPTIONS));
  });

  test('envoy/envoy.yaml passes envoy --mode validate (certificates mounted as docker-compose does)', async () => {
    const mounted = shipped.replaceAll('/etc/envoy/certs/', `${dir}/`);
    const r = await validate(mounted);
    expect(r.output).toContain('OK');
    expect(r.ok).toBe(true);
  });

  test('rendered configs for other addresses validate too', async () => {
    const r = await validate(
      renderEnvoyYaml({ listenHost: '127.0.0.1', listenPort: 10443, authzHost: '::1', authzPort: 19001, serverCertPath: join(dir, 'server.pem'), serverKeyPath: join(dir, 'server.key'), authzTimeoutMs: 250, statusOnError: 403 }),
    );
    expect(r.ok).toBe(true);
  });

  test('with an auth domain, only the login paths reach bouncer and the config validates', async () => {
    const cfg = buildEnvoyConfig({ authDomain: 'auth.example.test', authHttpHost: '127.0.0.1', authHttpPort: 18080, serverCertPath: join(dir, 'server.pem'), serverKeyPath: join(dir, 'server.key') });
    const text = JSON.stringify(cfg);
    expect(text).toContain('"domains":["auth.example.test","auth.example.test:*"]');
    expect(text).toContain('"cluster":"bouncer_http"');
    // Anything else on the auth domain (metrics, health) is a 404 from Envoy itself.
    expect(text).toContain('"direct_response":{"status":404');
    expect(text).not.toMatch(/"prefix":"\/metrics"/);
    const r = await validate(renderEnvoyYaml({ authDomain: 'auth.example.test', authHttpPort: 18080, serverCertPath: join(dir, 'server.pem'), serverKeyPath: join(dir, 'server.key') }));
    expect(r.ok).toBe(true);
    expect(() => buildEnvoyConfig({ authDomain: 'Auth Domain' })).toThrow(/auth domain must be a lowercase hostname/);
  });

  test('a broken config is caught by validation (the check can fail)', async () => {
    const r = await validate(shipped.replaceAll('/etc/envoy/certs/', `${dir}/`).replace('failure_mode_allow: false', 'failure_mode_allow: maybe'));
    expect(r.ok).toBe(false);
  });

  test('it carries the settings the security model depends on', () => {
    const cfg = parse(shipped) as Record<string, unknown>;
    const text = JSON.stringify(cfg);
    for (const needle of [
      '"trust_chain_verification":"ACCEPT_UNTRUSTED"',
      '"require_client_certificate":false',
      '"forward_client_cert_details":"SANITIZE_SET"',
      '"set_current_client_cert_details":{"subject":true,"cert":true,"chain":true,"uri":true,"dns":true}',
      '"transport_api_version":"V3"',
      '"failure_mode_allow":false',
      '"include_peer_certificate":true',
      '"include_tls_session":true',
      '"status_on_error":{"code":"ServiceUnavailable"}',
      '"timeout":"0.500s"',
      '"http2_protocol_options":{}',
      '"grpc_health_check":{"service_name":"envoy.service.auth.v3.Authorization"}',
      '"max_pending_requests":256',
    ]) {
      expect(text).toContain(needle);
    }
    // Tenants are data in bouncer: no hostname or CA appears in Envoy's config.
    expect(text).not.toMatch(/trusted_ca|acme|"domains":\["(?!\*)/);
  });

  test('render refuses impossible input with a clear error', () => {
    expect(() => buildEnvoyConfig({ listenPort: 70000 })).toThrow(/listen port must be a port number/);
    expect(() => buildEnvoyConfig({ authzTimeoutMs: 0 })).toThrow(/authz timeout/);
    expect(() => buildEnvoyConfig({ statusOnError: 200 })).toThrow(/status on error/);
  });
});

describe('replicas', () => {
  test('several ext_authz and login-service addresses become one cluster each, checks are retried on another replica, and it validates', async () => {
    const yaml = renderEnvoyYaml({
      authzEndpoints: [
        { host: '10.0.0.1', port: 9001 },
        { host: '10.0.0.2', port: 9001 },
      ],
      authDomain: 'auth.example.test',
      authHttpEndpoints: [
        { host: '10.0.0.3', port: 8080 },
        { host: '10.0.0.4', port: 8080 },
      ],
      serverCertPath: join(dir, 'server.pem'),
      serverKeyPath: join(dir, 'server.key'),
    });
    const cfg = buildEnvoyConfig({ authzEndpoints: [{ host: 'a', port: 1 }, { host: 'b', port: 2 }] }) as { static_resources: { clusters: Array<{ name: string; load_assignment: { endpoints: Array<{ lb_endpoints: unknown[] }> } }> } };
    const authz = cfg.static_resources.clusters.find((c) => c.name === 'bouncer_authz');
    expect(authz?.load_assignment.endpoints[0]?.lb_endpoints).toHaveLength(2);
    expect(yaml).toContain('10.0.0.4');
    // Envoy uses max_interval as the per-try timeout: it must be the check's whole budget, not a tiny back-off.
    expect(yaml).toMatch(/max_interval: 0\.500s/);
    expect(yaml).toContain('envoy.retry_host_predicates.previous_hosts');
    const r = await validate(yaml);
    expect(r.output).toContain('configuration');
    expect(r.ok).toBe(true);
  });

  test('envoy render --authz takes a comma-separated list', async () => {
    const out = join(dir, 'replicas.yaml');
    expect(await runCli(['envoy', 'render', '--authz', 'r1:9001,r2:9001', '-o', out])).toBe(0);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain('address: r1');
    expect(text).toContain('address: r2');
  });
});

describe('bouncer envoy render', () => {
  test('writes the config for the given addresses', async () => {
    const out = join(dir, 'rendered.yaml');
    const code = await runCli(['envoy', 'render', '--listen', '0.0.0.0:8443', '--authz', 'bouncer:9001', '--upstream', 'upstream:8081', '-o', out]);
    expect(code).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(renderEnvoyYaml(COMPOSE_ENVOY_OPTIONS));
  });

  test('--public-url gives the auth domain and the listener port, as auth.public_url does', async () => {
    const out = join(dir, 'public-url.yaml');
    expect(await runCli(['envoy', 'render', '--public-url', 'https://Auth.Acme.Test:8443/', '-o', out])).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe(
      renderEnvoyYaml({ ...ENVOY_RENDER_DEFAULTS, listenPort: 8443, authDomain: 'auth.acme.test', authHttpHost: '127.0.0.1', authHttpPort: 8080 }),
    );
  });

  test('--public-url with a path, or naming another host than --auth-domain, is a usage error', async () => {
    const errs: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      errs.push(String(s));
      return true;
    });
    try {
      expect(await runCli(['envoy', 'render', '--public-url', 'https://auth.acme.test:8443/login'])).toBe(2);
      expect(await runCli(['envoy', 'render', '--public-url', 'https://auth.acme.test:8443', '--auth-domain', 'login.acme.test'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(errs.join('')).toContain('--public-url must be https://HOST[:PORT]');
    expect(errs.join('')).toContain('is not the host of --public-url');
  });

  test('a bad address is a usage error', async () => {
    const errs: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
      errs.push(String(s));
      return true;
    });
    try {
      expect(await runCli(['envoy', 'render', '--authz', 'nohostport'])).toBe(2);
    } finally {
      spy.mockRestore();
    }
    expect(errs.join('')).toContain('ERR_CLI_USAGE');
    expect(errs.join('')).toContain('--authz must be HOST:PORT');
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8')) as {
    services: Record<string, { image?: string; build?: string; command?: string[]; environment?: Record<string, string>; volumes?: string[]; ports?: string[]; profiles?: string[] }>;
  };
  const envoyCfg = parse(readFileSync(join(root, 'envoy', 'envoy.yaml'), 'utf8')) as {
    static_resources: {
      listeners: Array<{ address: { socket_address: { port_value: number } }; filter_chains: Array<{ transport_socket: { typed_config: { common_tls_context: { tls_certificates: Array<{ certificate_chain: { filename: string }; private_key: { filename: string } }> } } } }> }>;
      clusters: Array<{ name: string; load_assignment: { endpoints: Array<{ lb_endpoints: Array<{ endpoint: { address: { socket_address: { address: string; port_value: number } } } }> }> } }>;
    };
  };
  const endpoint = (name: string): { address: string; port_value: number } => {
    const c = envoyCfg.static_resources.clusters.find((x) => x.name === name);
    const ep = c?.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
    if (!ep) throw new Error(`cluster ${name} has no endpoint`);
    return ep;
  };

  test('its demo profile has Envoy, bouncer and a demo upstream', () => {
    const demo = Object.entries(compose.services).filter(([, s]) => s.profiles?.includes('demo')).map(([name]) => name);
    expect(demo.sort()).toEqual(['bouncer', 'envoy', 'upstream']);
    expect(compose.services.envoy?.image).toBe(`envoyproxy/envoy:v${ENVOY_VERSION}`);
  });

  test('Envoy mounts envoy/envoy.yaml where its command reads it, and the certificates where the config expects them', () => {
    const svc = compose.services.envoy!;
    const cfgArg = svc.command?.[(svc.command?.indexOf('-c') ?? -2) + 1];
    expect(svc.volumes).toContain(`./envoy/envoy.yaml:${cfgArg}:ro`);
    const tls = envoyCfg.static_resources.listeners[0]!.filter_chains[0]!.transport_socket.typed_config.common_tls_context.tls_certificates[0]!;
    const certMount = svc.volumes?.find((v) => v.split(':')[1] === '/etc/envoy/certs');
    expect(certMount).toBeDefined();
    expect(tls.certificate_chain.filename.startsWith('/etc/envoy/certs/')).toBe(true);
    expect(tls.private_key.filename.startsWith('/etc/envoy/certs/')).toBe(true);
  });

  test("Envoy's clusters point at the compose services on the ports they listen on", () => {
    const authz = endpoint('bouncer_authz');
    expect(authz.address).toBe('bouncer');
    expect(compose.services.bouncer?.environment?.BOUNCER_LISTEN_AUTHZ).toBe(`0.0.0.0:${authz.port_value}`);
    const up = endpoint('upstream');
    expect(up.address).toBe('upstream');
    expect(compose.services.upstream?.environment?.PORT).toBe(String(up.port_value));
  });

  test("Envoy's listener port is the one published", () => {
    const port = envoyCfg.static_resources.listeners[0]!.address.socket_address.port_value;
    expect(compose.services.envoy?.ports).toContain(`${port}:${port}`);
  });

  test('bouncer reads the config the demo prepares, and the image build exists', () => {
    const b = compose.services.bouncer!;
    expect(b.command).toEqual(['serve', '--config', '/etc/bouncer/bouncer.yaml']);
    expect(b.volumes).toContain('./.demo:/etc/bouncer:ro');
    expect(readFileSync(join(root, 'Dockerfile'), 'utf8')).toContain('dist/src/cli/bin.js');
  });
});

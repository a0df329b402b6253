import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import { createRootCa, issueClientCert, issueServerCert, type KeyPairPem } from '../../src/pki/generate.js';
import { startEnvoy, type RunningEnvoy } from './envoy.js';
import { freePort } from './ports.js';
import { tlsRequest, type TlsRequest, type TlsResponse } from './tls-client.js';
import { startUpstream, type Upstream } from './upstream.js';

export interface TenantFixture {
  name: string;
  ca: KeyPairPem;
  device: KeyPairPem;
}

export interface Stack {
  dir: string;
  configPath: string;
  edgeCa: string;
  tenants: Record<string, TenantFixture>;
  upstream: Upstream;
  bouncer: BouncerApp;
  envoy: RunningEnvoy;
  /** Decision log lines bouncer wrote. */
  audit: Array<Record<string, unknown>>;
  request(r: Omit<TlsRequest, 'port' | 'ca'> & { device?: string }): Promise<TlsResponse>;
  writeConfig(yaml: string): void;
  stop(): Promise<void>;
}

/** Every `*.test` hostname in the integration tests sits under these zones. */
export const SERVER_DNS = ['*.acme.test', '*.api.acme.test', '*.globex.test', '*.initech.test', '*.tenants.test', '*.opt.test', '*.open.test'];

/** The four mTLS tenants (require, require, optional, off) the plain-Envoy and mesh tests share. */
export const MTLS_TENANTS_YAML = `tenants:
  - name: acme
    hostnames: [pay.acme.test, "*.api.acme.test"]
    mtls: { mode: require, ca: ./acme-ca.pem, exempt_paths: [/healthz] }
  - name: globex
    hostnames: [pay.globex.test]
    mtls: { mode: require, ca: ./globex-ca.pem }
  - name: opt
    hostnames: [app.opt.test]
    mtls: { mode: optional, ca: ./opt-ca.pem }
  - name: open
    hostnames: [app.open.test]
    mtls: { mode: "off" }
`;

/** A logger that keeps each decision record bouncer logs, for tests to read back. */
export function decisionAudit(): { logger: Logger; audit: Array<Record<string, unknown>> } {
  const audit: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        const obj = JSON.parse(line) as Record<string, unknown>;
        if (obj.msg === 'decision') audit.push(obj.decision as Record<string, unknown>);
      }
      cb();
    },
  });
  return { logger: pino({ level: 'info' }, sink), audit };
}

/** Starts Envoy in front of a running bouncer and upstream; closes both if Envoy fails to start. */
export async function startEnvoyOrClose(behind: { bouncer: BouncerApp; upstream: Upstream }, start: () => Promise<RunningEnvoy>): Promise<RunningEnvoy> {
  try {
    return await start();
  } catch (err) {
    await behind.bouncer.close(0);
    await behind.upstream.close();
    throw err;
  }
}

/**
 * A full local deployment: a tiny upstream, bouncer in-process with a YAML config
 * in a temp dir, and a real Envoy in front. Tenant CAs and devices are generated
 * fresh for each run; nothing binary is committed.
 */
export async function startStack(opts: { tenants: string[]; configYaml: (ctx: { authzPort: number; httpPort: number }) => string }): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'bouncer-it-'));
  const edge = await createRootCa({ commonName: 'test edge CA', keyAlgorithm: 'ec-p256', validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'test edge', dns: SERVER_DNS, keyAlgorithm: 'ec-p256', validDays: 2 });
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
  const tenants: Record<string, TenantFixture> = {};
  for (const name of opts.tenants) {
    const ca = await createRootCa({ commonName: `${name} root CA`, organization: name, keyAlgorithm: 'ec-p256', validDays: 30 });
    const device = await issueClientCert({ issuer: ca, commonName: `${name}-device-1`, dns: [`device-1.${name}.test`], keyAlgorithm: 'ec-p256', validDays: 2 });
    writeFileSync(join(dir, `${name}-ca.pem`), ca.certPem);
    tenants[name] = { name, ca, device };
  }
  const authzPort = await freePort();
  const httpPort = await freePort();
  const configPath = join(dir, 'bouncer.yaml');
  writeFileSync(configPath, opts.configYaml({ authzPort, httpPort }));

  const { logger, audit } = decisionAudit();
  const upstream = await startUpstream();
  const bouncer = await startBouncer({ config: await loadConfig(configPath, {}), logger, env: {}, watchIntervalMs: 200 });
  const envoy = await startEnvoyOrClose({ bouncer, upstream }, () =>
    startEnvoy(dir, {
      authzPort: bouncer.authzPort,
      upstreamPort: upstream.port,
      serverCertPath: join(dir, 'server.pem'),
      serverKeyPath: join(dir, 'server.key'),
    }),
  );

  return {
    dir,
    configPath,
    edgeCa: edge.certPem,
    tenants,
    upstream,
    bouncer,
    envoy,
    audit,
    request(r) {
      const dev = r.device ? tenants[r.device]?.device : undefined;
      if (r.device && !dev) throw new Error(`no device for ${r.device}`);
      return tlsRequest({ ...r, port: envoy.port, ca: edge.certPem, ...(dev ? { cert: dev.certPem, key: dev.keyPem } : {}) });
    },
    writeConfig(yaml) {
      writeFileSync(configPath, yaml);
    },
    async stop() {
      await envoy.stop();
      await bouncer.close(1000);
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

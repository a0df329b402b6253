/**
 * The resources of `xds.listener_mode: internal` (docs/xds.md, "Listener modes"): per
 * hostname a cluster and an internal listener, and the front listener that routes to
 * them by SNI. The chain contents they share with the chains mode live in resources.ts.
 */
import { XDS_DEFAULTS } from '../config/defaults.js';
import { TYPE_URLS } from './protos.js';
import { address, authChain, built, duration, hostnameChain, httpConnectionManager, PUBLIC_LISTENER, tcpProxy, withAcmeTlsChains, type BuiltResource, type PublicListenerSettings } from './resources.js';

/**
 * Internal mode: the name of a hostname's cluster and of its internal listener. The
 * front listener derives it from the SNI, so it is the prefix and the name as sent.
 */
export function internalRouteName(hostname: string): string {
  return `host/${hostname}`;
}

const RAW_BUFFER = { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } };

/**
 * A hostname's cluster: its one endpoint is the hostname's internal listener. The
 * connection carries a PROXY protocol v2 header with the client's address, so the
 * internal listener (and ext_authz, the audit, IP rules) see the real client, not
 * Envoy's internal address.
 */
export function buildHostnameCluster(hostname: string): BuiltResource {
  const name = internalRouteName(hostname);
  return built(TYPE_URLS.cluster, name, {
    name,
    type: 'STATIC',
    connect_timeout: duration(1000),
    circuit_breakers: { thresholds: [{ priority: 'DEFAULT', max_connections: { value: XDS_DEFAULTS.internalHopMaxConnections } }] },
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: name } } } }] }] },
    transport_socket: {
      name: 'envoy.transport_sockets.upstream_proxy_protocol',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.proxy_protocol.v3.ProxyProtocolUpstreamTransport',
        config: { version: 'V2' },
        transport_socket: {
          name: 'envoy.transport_sockets.internal_upstream',
          typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport', transport_socket: RAW_BUFFER },
        },
      },
    },
  });
}

/**
 * A hostname's internal listener: reached only through its cluster, it reads the
 * client's address from the PROXY header, terminates the client's own TLS (so the SNI
 * and the peer certificate ext_authz sees are the client's) and runs the same HTTP
 * side as a chain of the chains mode.
 */
export function buildInternalListener(s: PublicListenerSettings, hostname: string): BuiltResource {
  const name = internalRouteName(hostname);
  return built(TYPE_URLS.listener, name, {
    name,
    internal_listener: {},
    listener_filters: [
      {
        name: 'envoy.filters.listener.proxy_protocol',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol' },
      },
    ],
    filter_chains: [{ ...hostnameChain(hostname, httpConnectionManager(s)), filter_chain_match: undefined }],
  });
}

/** Names no cluster: only reached if the SNI filter state is missing, and then the connection is closed. */
const NO_HOSTNAME_CLUSTER = 'host/';

/**
 * Internal mode's public listener. Its default chain sets tcp_proxy's cluster from the
 * SNI (`host/<sni>`), so an added exact hostname (a cluster and an internal listener of
 * its own) does not change it; an SNI with no cluster is closed. Envoy's filter state
 * lookup is exact, so wildcards (and the exact names under them, which a wildcard chain
 * would otherwise catch first) stay as chains here, each a fixed tcp_proxy: only they
 * resend this listener.
 */
export function buildFrontListener(s: PublicListenerSettings, chainHostnames: readonly string[]): BuiltResource {
  return built(TYPE_URLS.listener, PUBLIC_LISTENER, {
    name: PUBLIC_LISTENER,
    address: address(s.listen.host, s.listen.port),
    listener_filters: [
      {
        name: 'envoy.filters.listener.tls_inspector',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' },
      },
    ],
    filter_chains: [...authChain(s), ...withAcmeTlsChains(s, chainHostnames, (h) => ({ name: `host/${h}`, filter_chain_match: { server_names: [h] }, filters: [tcpProxy(internalRouteName(h))] }))],
    default_filter_chain: {
      name: 'by-sni',
      filters: [
        {
          name: 'envoy.filters.network.set_filter_state',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config',
            on_new_connection: [{ object_key: 'envoy.tcp_proxy.cluster', format_string: { text_format_source: { inline_string: `${NO_HOSTNAME_CLUSTER}%REQUESTED_SERVER_NAME%` } } }],
          },
        },
        tcpProxy(NO_HOSTNAME_CLUSTER),
      ],
    },
  });
}

import { stringify } from 'yaml';
import { HOSTNAME_DEFAULTS, XDS_DEFAULTS } from '../config/defaults.js';
import { BouncerError } from '../core/errors.js';
import { bouncerAuthzCluster, checkPort, ENVOY_RENDER_DEFAULTS, socketAddress, staticCluster, type EnvoyRenderOptions } from './render.js';

/** What the xDS bootstrap needs beyond the static config's addresses. */
export interface XdsBootstrapOptions extends EnvoyRenderOptions {
  /** bouncer's ADS server (config `xds.listen`). */
  xdsHost: string;
  xdsPort: number;
  /** bouncer's web service, where ACME HTTP-01 challenges are answered (config `listen.http`). */
  acmeHost: string;
  acmePort: number;
  /** bouncer's TLS-ALPN-01 responder (config `hostnames.acme.tls_alpn_listen`), cluster `bouncer_acme_tls`. */
  acmeTlsHost: string;
  acmeTlsPort: number;
  /** This Envoy's node id: names it in bouncer's logs and status view; unique per Envoy. */
  nodeId: string;
  nodeCluster: string;
}

/**
 * Stat name prefixes of the per-hostname resources bouncer serves: the internal mode's
 * clusters (`host/<name>`) and internal listeners (`envoy_internal_host/<name>`), and the
 * SDS secrets (`cert/<name>`, `client-ca/<name>`) of either mode.
 */
export const PER_HOSTNAME_STAT_PREFIXES = ['cluster.host/', 'listener.envoy_internal_host/', 'sds.cert/', 'sds.client-ca/'] as const;

const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * The small bootstrap of an Envoy that takes its listeners and secrets from bouncer
 * over incremental ADS: node identity, admin, and the static clusters the served
 * listener names (bouncer's ADS, ext_authz, web service and TLS-ALPN-01 responder, the
 * protected upstream).
 * Envoy keeps the last configuration it accepted when bouncer is away, and
 * reconnects by itself.
 */
export function buildXdsBootstrap(partial: Partial<XdsBootstrapOptions> & Pick<XdsBootstrapOptions, 'nodeId'>): Record<string, unknown> {
  const o: XdsBootstrapOptions = {
    ...ENVOY_RENDER_DEFAULTS,
    xdsHost: XDS_DEFAULTS.listen.host,
    xdsPort: XDS_DEFAULTS.listen.port,
    acmeHost: '127.0.0.1',
    acmePort: 8080,
    acmeTlsHost: HOSTNAME_DEFAULTS.tlsAlpnListen.host,
    acmeTlsPort: HOSTNAME_DEFAULTS.tlsAlpnListen.port,
    nodeCluster: XDS_DEFAULTS.nodeCluster,
    ...partial,
  };
  checkPort('admin port', o.adminPort);
  checkPort('xds port', o.xdsPort);
  checkPort('authz port', o.authzPort);
  checkPort('acme port', o.acmePort);
  checkPort('acme tls port', o.acmeTlsPort);
  checkPort('upstream port', o.upstreamPort);
  for (const e of o.authzEndpoints ?? []) checkPort('authz endpoint port', e.port);
  if (!Number.isInteger(o.authzWorkers) || o.authzWorkers < 1 || o.authzWorkers > 256) {
    throw new BouncerError('ERR_ENVOY_RENDER', `authz workers must be 1..256, got ${String(o.authzWorkers)}`);
  }
  if (!NODE_ID.test(o.nodeId)) throw new BouncerError('ERR_ENVOY_RENDER', `node id must be 1-128 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(o.nodeId)}`);
  if (!NODE_ID.test(o.nodeCluster)) throw new BouncerError('ERR_ENVOY_RENDER', `node cluster must be 1-128 letters, digits, '.', '_', ':' or '-', got ${JSON.stringify(o.nodeCluster)}`);
  const xdsCluster = {
    ...staticCluster(XDS_DEFAULTS.clusterName, o.xdsHost, o.xdsPort),
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        // HTTP/2 keepalive notices a bouncer that vanished without closing the connection.
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' } } },
      },
    },
  };
  return {
    node: { id: o.nodeId, cluster: o.nodeCluster },
    admin: { address: socketAddress(o.adminHost, o.adminPort) },
    // For `xds.listener_mode: internal` (one internal listener per hostname); unused otherwise,
    // so one bootstrap serves either mode.
    bootstrap_extensions: [
      { name: 'envoy.bootstrap.internal_listener', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener' } },
    ],
    // The internal mode's hop is a user-space socket pair. With this feature on, the internal
    // listener closing after a response (`Connection: close`) with unread bytes from the client
    // (its TLS close_notify) resets the pair, and the front tcp_proxy turns that into a reset of
    // the client's connection before the response is flushed. Off, the close is a FIN, as for a
    // kernel socket whose peer already sent its response. No effect on kernel sockets.
    layered_runtime: { layers: [{ name: 'static', static_layer: { 'envoy.reloadable_features.enable_send_rst_on_user_space_socket': false } }] },
    // Per-hostname stats off: Envoy makes about 170 stats per hostname in the internal mode
    // (its cluster ~110, internal listener ~40, two SDS secrets ~20), 1.7 million at 10,000
    // hostnames, which cost memory, first-load time and every /stats scrape. bouncer reports a
    // hostname's refusals itself; the front listener, the static clusters, the shared
    // `http.tenants.*` and `tcp.front.*` and the manager stats stay (docs/xds.md, "Envoy stats").
    stats_config: { stats_matcher: { exclusion_list: { patterns: PER_HOSTNAME_STAT_PREFIXES.map((prefix) => ({ prefix })) } } },
    dynamic_resources: {
      ads_config: {
        api_type: 'DELTA_GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_DEFAULTS.clusterName } }],
        set_node_on_first_message_only: true,
      },
      lds_config: { ads: {}, resource_api_version: 'V3' },
      // Per-hostname clusters of the internal mode; bouncer answers with none in the chains mode.
      cds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [
        xdsCluster,
        bouncerAuthzCluster(o),
        staticCluster('bouncer_acme', o.acmeHost, o.acmePort),
        // ACME TLS-ALPN-01: raw TLS of connections offering `acme-tls/1`, named by the served
        // listener only when hostnames.acme.challenges has tls-alpn-01; harmless otherwise.
        staticCluster('bouncer_acme_tls', o.acmeTlsHost, o.acmeTlsPort),
        staticCluster('upstream', o.upstreamHost, o.upstreamPort),
      ],
    },
  };
}

/** The xDS bootstrap as YAML, with a header saying how it was produced. */
export function renderXdsBootstrapYaml(partial: Partial<XdsBootstrapOptions> & Pick<XdsBootstrapOptions, 'nodeId'>): string {
  const header = '# Envoy bootstrap for bouncer over xDS, produced by `bouncer envoy render --xds`. Listeners and certificates come from bouncer.\n';
  return header + stringify(buildXdsBootstrap(partial), { lineWidth: 0 });
}

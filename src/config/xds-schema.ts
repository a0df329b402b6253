/**
 * Shape checks of the optional `xds` section: bouncer as Envoy's configuration
 * source for customer hostnames (docs/xds.md).
 *
 * ```yaml
 * xds:
 *   listen: 127.0.0.1:18000          # bouncer's ADS server, dialled by Envoy
 *   envoy_listen: 0.0.0.0:8443       # the public TLS listener bouncer gives Envoy
 *   envoy_http_listen: 0.0.0.0:8080  # ACME HTTP-01 and a redirect to HTTPS; "off" for none
 *   default_certificate: { cert_file: /etc/envoy/certs/server.pem, key_file: /etc/envoy/certs/server.key }
 *   auth_certificate: { cert_file: /etc/envoy/certs/auth.pem, key_file: /etc/envoy/certs/auth.key }  # for auth.domain
 *   authz_timeout_ms: 500
 * ```
 *
 * Without the section no xDS server runs.
 */
import type { Node } from 'yaml';
import { ENVOY_RENDER_DEFAULTS, XDS_DEFAULTS } from './defaults.js';
import type { Entry, NodeReader } from './node-reader.js';
import type { HostPort, XdsConfig, XdsListenerMode } from './types.js';
import { parseListenAddress } from './values.js';

export const XDS_CONFIG_KEYS = {
  xds: ['listen', 'envoy_listen', 'envoy_http_listen', 'default_certificate', 'auth_certificate', 'authz_timeout_ms', 'listener_mode'],
  xds_default_certificate: ['cert_file', 'key_file'],
} as const;

function address(node: Node | null, field: string, reader: NodeReader, fallback: HostPort): HostPort {
  const text = reader.string(node, field);
  if (text === undefined) return fallback;
  const parsed = parseListenAddress(text);
  if (parsed.ok) return parsed.value;
  reader.issue(node, field, parsed.message);
  return fallback;
}

/** `cert_file` and `key_file`, both required: paths on Envoy's disk, read by Envoy, not by bouncer. */
function certificateFiles(entry: Entry, field: string, orElse: string, reader: NodeReader): { certFile: string; keyFile: string } | undefined {
  const c = reader.mapping(entry.value, field, XDS_CONFIG_KEYS.xds_default_certificate);
  const certFile = c?.get('cert_file');
  const keyFile = c?.get('key_file');
  if (c && (!certFile || !keyFile)) reader.issue(entry.value, field, `give both cert_file and key_file (paths as Envoy sees them), or ${orElse}`);
  const certPath = certFile ? reader.string(certFile.value, `${field}.cert_file`) : undefined;
  const keyPath = keyFile ? reader.string(keyFile.value, `${field}.key_file`) : undefined;
  return certPath && keyPath ? { certFile: certPath, keyFile: keyPath } : undefined;
}

/** Reads `xds` from the root mapping; undefined when absent (no xDS server) or invalid (reported). */
export function readXdsShape(top: ReadonlyMap<string, Entry>, reader: NodeReader): XdsConfig | undefined {
  const entry = top.get('xds');
  if (!entry) return undefined;
  const m = reader.mapping(entry.value, 'xds', XDS_CONFIG_KEYS.xds);
  if (!m) return undefined;
  const listen = m.get('listen');
  const envoyListen = m.get('envoy_listen');
  const httpListen = m.get('envoy_http_listen');
  let envoyHttpListen: HostPort | undefined = { ...XDS_DEFAULTS.envoyHttpListen };
  if (httpListen) {
    envoyHttpListen = reader.string(httpListen.value, 'xds.envoy_http_listen') === 'off' ? undefined : address(httpListen.value, 'xds.envoy_http_listen', reader, envoyHttpListen);
  }
  const cert = m.get('default_certificate');
  const defaultCertificate = cert ? certificateFiles(cert, 'xds.default_certificate', 'leave default_certificate out to close connections for unknown hostnames', reader) : undefined;
  const authCert = m.get('auth_certificate');
  const authCertificate = authCert ? certificateFiles(authCert, 'xds.auth_certificate', 'leave auth_certificate out if Envoy does not serve the login service', reader) : undefined;
  const timeout = m.get('authz_timeout_ms');
  let listenerMode: XdsListenerMode = XDS_DEFAULTS.listenerMode;
  const mode = m.get('listener_mode');
  if (mode) {
    const v = reader.string(mode.value, 'xds.listener_mode');
    if (v === 'chains' || v === 'internal') listenerMode = v;
    else if (v !== undefined) reader.issue(mode.value, 'xds.listener_mode', `must be chains or internal, got ${JSON.stringify(v)}`);
  }
  // In the internal mode an SNI with no hostname names no cluster and Envoy closes the
  // connection: there is no chain left to present a default certificate on.
  if (listenerMode === 'internal' && cert) reader.issue(cert.value, 'xds.default_certificate', 'not available with listener_mode: internal (unknown hostnames are closed there); leave it out or use listener_mode: chains');
  return {
    listen: listen ? address(listen.value, 'xds.listen', reader, { ...XDS_DEFAULTS.listen }) : { ...XDS_DEFAULTS.listen },
    envoyListen: envoyListen ? address(envoyListen.value, 'xds.envoy_listen', reader, { ...XDS_DEFAULTS.envoyListen }) : { ...XDS_DEFAULTS.envoyListen },
    envoyHttpListen,
    defaultCertificate,
    authCertificate,
    authzTimeoutMs: (timeout ? reader.integer(timeout.value, 'xds.authz_timeout_ms', 10, 60_000) : undefined) ?? ENVOY_RENDER_DEFAULTS.authzTimeoutMs,
    listenerMode,
  };
}

import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ENVOY_RENDER_DEFAULTS } from '../config/defaults.js';
import type { XdsConfig } from '../config/types.js';
import type { HostnameCatalog } from '../core/served-hostname.js';
import type { PublicListenerSettings } from './resources.js';
import { createXdsServer, type XdsServer } from './server.js';

/** Envoy's StatusCode enum names for the statuses bouncer fails closed with. */
const STATUS_NAMES: Readonly<Record<number, string>> = { 403: 'Forbidden', 500: 'InternalServerError', 502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'GatewayTimeout' };

/**
 * The public listener's settings from the `xds` config section; `acmeTlsAlpn` when the
 * `hostnames` section answers TLS-ALPN-01 (its responder is where Envoy sends `acme-tls/1`),
 * `authDomain` the login service's hostname (`auth.domain`), served when `xds.auth_certificate` is set.
 */
export function listenerSettings(config: XdsConfig, options: { acmeTlsAlpn?: boolean | undefined; authDomain?: string | undefined } = {}): PublicListenerSettings {
  return {
    authDomain: options.authDomain !== undefined && config.authCertificate ? { hostname: options.authDomain, ...config.authCertificate } : undefined,
    listen: config.envoyListen,
    acmeHttpListen: config.envoyHttpListen,
    defaultCertificate: config.defaultCertificate,
    authzTimeoutMs: config.authzTimeoutMs,
    statusOnError: STATUS_NAMES[ENVOY_RENDER_DEFAULTS.statusOnError] ?? 'ServiceUnavailable',
    listenerMode: config.listenerMode,
    acmeTlsAlpn: options.acmeTlsAlpn ?? false,
  };
}

/** A catalog with no hostnames: Envoy still gets its listeners (the default chain, ACME over HTTP). */
export const EMPTY_CATALOG: HostnameCatalog = { list: () => [], get: () => undefined, subscribe: () => () => undefined };

export interface RunningXds {
  readonly port: number;
  readonly server: XdsServer;
}

/** Starts bouncer's xDS server for `catalog` on `config.listen`; what `bouncer serve` calls when the `xds` section is set. */
export async function startXds(catalog: HostnameCatalog, config: XdsConfig, deps: { logger: Logger; registry?: Registry; acmeTlsAlpn?: boolean; authDomain?: string | undefined }): Promise<RunningXds> {
  const server = createXdsServer({ catalog, settings: listenerSettings(config, { acmeTlsAlpn: deps.acmeTlsAlpn, authDomain: deps.authDomain }), logger: deps.logger, registry: deps.registry });
  try {
    const port = await server.listen(config.listen.host, config.listen.port);
    deps.logger.info({ xds: `${config.listen.host}:${port}`, hostnames: catalog.list().length }, 'xds: serving Envoy its listeners and certificates');
    return { port, server };
  } catch (err) {
    await server.close();
    throw err;
  }
}

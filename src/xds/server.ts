import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { XDS_DEFAULTS } from '../config/defaults.js';
import type { HostnameCatalog } from '../core/served-hostname.js';
import { DeltaSession, type DeltaRequest, type DeltaResponse, type Rejection } from './delta-session.js';
import { createXdsMetrics, typeLabel, type XdsMetrics } from './metrics.js';
import { TYPE_URLS, xdsProtoIncludeDirs, type XdsTypeUrl } from './protos.js';
import { PUBLIC_LISTENER, type PublicListenerSettings } from './resources.js';
import { XdsSnapshot, type HostnameProblem } from './snapshot.js';

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export interface XdsServerOptions {
  readonly catalog: HostnameCatalog;
  readonly settings: PublicListenerSettings;
  readonly logger: Logger;
  /** Where the xDS metrics go (bouncer's /metrics registry); a private one if absent. */
  readonly registry?: Registry | undefined;
  /** Listeners per response (secrets always go one per response; see XDS_DEFAULTS). */
  readonly maxResourcesPerResponse?: number | undefined;
  readonly clock?: () => number;
}

/** A resource an Envoy refused, as shown in the status view. */
export interface RejectedResource extends Rejection {
  readonly node: string;
  readonly atMs: number;
}

/** What the xDS server is serving and to whom. */
export interface XdsStatus {
  readonly hostnamesServed: number;
  /** Encoded size of the public listener: every filter chain, sent whole when a hostname is added or removed. */
  readonly publicListenerBytes: number;
  readonly systemVersions: Readonly<Record<string, string>>;
  readonly streams: ReadonlyArray<{ readonly node: string; readonly cluster: string; readonly sinceMs: number; readonly pendingResponses: number }>;
  readonly rejected: readonly RejectedResource[];
  readonly heldBack: readonly HostnameProblem[];
}

export interface XdsServer {
  listen(host: string, port: number): Promise<number>;
  status(): XdsStatus;
  readonly metrics: XdsMetrics;
  /** Stops accepting streams and ends the open ones; Envoy keeps its last configuration. */
  close(): Promise<void>;
}

type DeltaCall = grpc.ServerDuplexStream<DeltaRequest & { node?: { id?: string; cluster?: string } }, DeltaResponse>;

function loadAdsService(): grpc.ServiceDefinition {
  const definition = loadSync('envoy/service/discovery/v3/ads.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
    includeDirs: xdsProtoIncludeDirs(),
  });
  return definition[ADS_SERVICE] as grpc.ServiceDefinition;
}

/**
 * bouncer as Envoy's configuration source: an incremental ADS server of the public
 * listener (one SNI filter chain per customer hostname) and its SDS secrets, fed by
 * the hostname catalog. State-of-the-world ADS is not offered (UNIMPLEMENTED):
 * the bootstrap `bouncer envoy render --xds` writes asks for DELTA_GRPC.
 */
export function createXdsServer(options: XdsServerOptions): XdsServer {
  const { logger } = options;
  const clock = options.clock ?? Date.now;
  const maxPer = {
    [TYPE_URLS.listener]: options.maxResourcesPerResponse ?? XDS_DEFAULTS.maxResourcesPerResponse,
    [TYPE_URLS.cluster]: options.maxResourcesPerResponse ?? XDS_DEFAULTS.maxResourcesPerResponse,
    [TYPE_URLS.secret]: XDS_DEFAULTS.maxSecretsPerResponse,
  };
  const metrics = createXdsMetrics(options.registry ?? new Registry());
  const snapshot = new XdsSnapshot(options.settings, options.catalog);
  const sessions = new Map<DeltaSession, { node: string; cluster: string; sinceMs: number }>();
  const rejected = new Map<string, RejectedResource>();
  const gauges = (): void => {
    metrics.hostnamesServed.set(snapshot.servedHostnames());
    metrics.hostnamesHeldBack.set(snapshot.hostnameProblems().length + rejected.size);
  };
  gauges();
  const unsubscribeCatalog = options.catalog.subscribe((change) => {
    snapshot.apply(change.upserted, change.removed);
    for (const h of change.upserted) for (const key of rejected.keys()) if (key.endsWith(`/${h}`)) rejected.delete(key);
    gauges();
  });
  const unsubscribeSnapshot = snapshot.onChange((changes) => {
    for (const session of sessions.keys()) for (const [typeUrl, names] of changes) session.onChange(typeUrl, names);
  });
  let streamCounter = 0;
  // Every request and response at debug level; checked once, as there are thousands at connect.
  const debug = logger.isLevelEnabled('debug');

  const deltaAggregatedResources = (call: DeltaCall): void => {
    streamCounter += 1;
    const info = { node: '', cluster: '', sinceMs: clock() };
    const session: DeltaSession = new DeltaSession(
      snapshot,
      (response) => {
        metrics.responses.inc({ type: typeLabel(response.type_url) });
        metrics.resourcesSent.inc({ type: typeLabel(response.type_url) }, response.resources.length);
        if (debug) logger.debug({ node: info.node, type: typeLabel(response.type_url), nonce: response.nonce, resources: response.resources.map((r) => r.name), removed: response.removed_resources }, 'xds: response');
        call.write(response);
      },
      maxPer,
      {
        acked: (typeUrl) => metrics.answers.inc({ type: typeLabel(typeUrl), result: 'ack' }),
        rejected: (r) => {
          metrics.answers.inc({ type: typeLabel(r.typeUrl), result: 'nack' });
          metrics.rejected.inc({ type: typeLabel(r.typeUrl) });
          const key = `${r.typeUrl}/${r.name}`;
          rejected.delete(key);
          rejected.set(key, { ...r, node: info.node, atMs: clock() });
          if (rejected.size > XDS_DEFAULTS.maxRejectedShown) rejected.delete(rejected.keys().next().value as string);
          logger.warn({ node: info.node, type: typeLabel(r.typeUrl), resource: r.name, version: r.version, error: r.message.slice(0, 500) }, 'xds: Envoy refused a resource; the others are served');
          if (r.typeUrl === TYPE_URLS.secret) snapshot.rejectSecret(r.name, r.version);
          gauges();
        },
        ignored: (typeUrl, why) => logger.debug({ node: info.node, type: typeUrl, why }, 'xds: request ignored'),
      },
      `${streamCounter.toString(36)}-`,
    );
    sessions.set(session, info);
    metrics.streams.set(sessions.size);
    const done = (): void => {
      if (!sessions.delete(session)) return;
      metrics.streams.set(sessions.size);
      logger.info({ node: info.node }, 'xds: Envoy stream closed');
    };
    call.on('data', (req: DeltaRequest & { node?: { id?: string; cluster?: string } }) => {
      if (req.node && info.node === '') {
        info.node = req.node.id ?? '';
        info.cluster = req.node.cluster ?? '';
        logger.info({ node: info.node, cluster: info.cluster }, 'xds: Envoy connected');
      }
      if (debug) logger.debug({ node: info.node, type: typeLabel(req.type_url ?? ''), nonce: req.response_nonce, subscribe: req.resource_names_subscribe, unsubscribe: req.resource_names_unsubscribe, error: req.error_detail?.message }, 'xds: request');
      // A NACK that is not the last of a split shows up as a 'nack' answer without an isolated rejection.
      if (req.response_nonce && req.error_detail && (req.error_detail.code || req.error_detail.message)) {
        logger.info({ node: info.node, type: typeLabel(req.type_url ?? ''), nonce: req.response_nonce, error: (req.error_detail.message ?? '').slice(0, 500) }, 'xds: NACK');
      }
      try {
        session.onRequest(req);
      } catch (err) {
        logger.error({ err: { message: (err as Error).message }, node: info.node }, 'xds: failed to answer a request');
        call.destroy(err as Error);
      }
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('close', done);
    call.on('cancelled', done);
  };

  // No keepalive pings from this side: Envoy answers them on its main thread, which a large
  // listener update holds for seconds to a minute (10,000 chains), and an unanswered ping
  // would cut the stream mid-update. Envoy's own HTTP/2 keepalive (the bootstrap) finds a dead bouncer.
  const server = new grpc.Server();
  server.addService(loadAdsService(), { DeltaAggregatedResources: deltaAggregatedResources } as grpc.UntypedServiceImplementation);

  return {
    metrics,
    listen: (host, port) =>
      new Promise<number>((resolve, reject) => {
        server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
      }),
    status: () => ({
      hostnamesServed: snapshot.servedHostnames(),
      publicListenerBytes: snapshot.get(TYPE_URLS.listener, PUBLIC_LISTENER)?.bytes.length ?? 0,
      systemVersions: { [typeLabel(TYPE_URLS.listener)]: snapshot.systemVersion(TYPE_URLS.listener), [typeLabel(TYPE_URLS.secret)]: snapshot.systemVersion(TYPE_URLS.secret as XdsTypeUrl) },
      streams: [...sessions].map(([s, i]) => ({ node: i.node, cluster: i.cluster, sinceMs: i.sinceMs, pendingResponses: s.pending() })),
      rejected: [...rejected.values()],
      heldBack: snapshot.hostnameProblems(),
    }),
    close: () => {
      unsubscribeCatalog();
      unsubscribeSnapshot();
      sessions.clear();
      metrics.streams.set(0);
      server.forceShutdown();
      return Promise.resolve();
    },
  };
}

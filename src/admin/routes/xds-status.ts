/**
 * The xDS server's status as this replica sees it (docs/xds.md): the Envoys
 * connected to it, the system version per resource type, the resources an
 * Envoy refused with its own error, and the hostnames bouncer keeps out of
 * Envoy with the reason. Read-only; hostnames never leave it as metric labels.
 */
import { AdminError } from '../errors.js';
import type { AdminRoute, JsonSchema } from '../route.js';

/** What the xDS server reports (`XdsServer.status()` in src/xds/server.ts), as this route reads it. */
export interface XdsStatusView {
  readonly hostnamesServed: number;
  readonly publicListenerBytes: number;
  readonly systemVersions: Readonly<Record<string, string>>;
  readonly streams: ReadonlyArray<{ readonly node: string; readonly cluster: string; readonly sinceMs: number; readonly pendingResponses: number }>;
  readonly rejected: ReadonlyArray<{ readonly typeUrl: string; readonly name: string; readonly version: string; readonly message: string; readonly node: string; readonly atMs: number }>;
  readonly heldBack: ReadonlyArray<{ readonly hostname: string; readonly reason: string }>;
}

/** The xDS server's status now; undefined when this process runs none. */
export type XdsStatusFn = () => XdsStatusView | undefined;

const iso = (ms: number): string => new Date(ms).toISOString();

const STATUS_SCHEMA: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['hostnames_served', 'public_listener_bytes', 'system_versions', 'streams', 'rejected', 'held_back'],
  properties: {
    hostnames_served: { type: 'integer', description: 'Customer hostnames with a filter chain in the public listener.' },
    public_listener_bytes: { type: 'integer', description: 'Encoded size of the public listener, sent whole when a hostname is added or removed.' },
    system_versions: {
      type: 'object',
      additionalProperties: { type: 'string' },
      description: 'Per resource type (listener, secret): a digest of every served name and version. Replicas reading the same hostnames show the same values.',
    },
    streams: {
      type: 'array',
      description: 'Envoy ADS streams connected to this replica.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['node', 'cluster', 'connected_at', 'pending_responses'],
        properties: {
          node: { type: 'string', description: "Envoy's node id." },
          cluster: { type: 'string', description: "Envoy's node cluster." },
          connected_at: { type: 'string', format: 'date-time' },
          pending_responses: { type: 'integer', description: 'Responses sent that Envoy has not answered (ACK or NACK) yet.' },
        },
      },
    },
    rejected: {
      type: 'array',
      description: 'Resources an Envoy refused (NACK), each isolated in a response of its own; the others are served. Oldest first, bounded.',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['type_url', 'name', 'version', 'error', 'node', 'at'],
        properties: {
          type_url: { type: 'string' },
          name: { type: 'string', description: 'The resource: `cert/<hostname>`, `client-ca/<hostname>` or a listener name.' },
          version: { type: 'string', description: 'The refused version; it is not sent again, a new one from the catalog is.' },
          error: { type: 'string', description: "Envoy's own message." },
          node: { type: 'string', description: 'The Envoy that refused it.' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
    held_back: {
      type: 'array',
      description: 'Hostnames bouncer does not put in front of Envoy, with the reason (bad name, key not matching the certificate, unreadable PEM).',
      items: { type: 'object', additionalProperties: false, required: ['hostname', 'reason'], properties: { hostname: { type: 'string' }, reason: { type: 'string' } } },
    },
  },
};

/** `GET /v1/xds/status`; without an xDS server it answers 409 ERR_XDS_NOT_CONFIGURED. */
export function xdsStatusRoutes(status: XdsStatusFn | undefined): AdminRoute[] {
  return [
    {
      method: 'GET',
      url: '/v1/xds/status',
      operationId: 'getXdsStatus',
      summary: "This replica's xDS server: connected Envoys, versions, refused resources, held-back hostnames",
      description:
        "What this replica serves Envoy over delta ADS. Each replica answers for itself: the Envoys connected to another replica are listed there, while `system_versions` agree between replicas reading the same hostnames.",
      tag: 'hostnames',
      access: 'hostnames:read',
      schema: { responses: { 200: { description: 'The status.', schema: STATUS_SCHEMA } }, errors: [409] },
      handle() {
        const s = status?.();
        if (!s) throw new AdminError('ERR_XDS_NOT_CONFIGURED', 'this bouncer serves no xDS: add an xds section to the config (and run ext_authz in this process)');
        return Promise.resolve({
          status: 200,
          body: {
            hostnames_served: s.hostnamesServed,
            public_listener_bytes: s.publicListenerBytes,
            system_versions: { ...s.systemVersions },
            streams: s.streams.map((x) => ({ node: x.node, cluster: x.cluster, connected_at: iso(x.sinceMs), pending_responses: x.pendingResponses })),
            rejected: s.rejected.map((r) => ({ type_url: r.typeUrl, name: r.name, version: r.version, error: r.message, node: r.node, at: iso(r.atMs) })),
            held_back: s.heldBack.map((h) => ({ hostname: h.hostname, reason: h.reason })),
          },
        });
      },
    },
  ];
}

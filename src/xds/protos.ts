import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** Resource type URLs bouncer serves over ADS. */
export const TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

export type XdsTypeUrl = (typeof TYPE_URLS)[keyof typeof TYPE_URLS];

/**
 * Every proto a served resource names in an `Any` (filters, transport sockets),
 * so that protobufjs can pack `{ '@type': ..., ...fields }` objects into bytes.
 */
const RESOURCE_PROTOS = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/direct_response/v3/config.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  // The internal listener mode (docs/xds.md, "Listener modes").
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/extensions/filters/network/set_filter_state/v3/set_filter_state.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.proto',
  'envoy/extensions/transport_sockets/internal_upstream/v3/internal_upstream.proto',
  'envoy/extensions/transport_sockets/proxy_protocol/v3/upstream_proxy_protocol.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
];

/** Envoy's API protos as @grpc/grpc-js-xds ships them (the same folders src/authz/proto.ts loads). */
export function xdsProtoIncludeDirs(): string[] {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(deps, d));
}

let root: protobuf.Root | undefined;

/** One protobufjs root with the discovery service and every resource type; loaded once. */
export function xdsRoot(): protobuf.Root {
  if (root) return root;
  // protobufjs carries google/protobuf/descriptor.proto (imported by the validation annotations).
  const dirs = [...xdsProtoIncludeDirs(), dirname(require.resolve('protobufjs/package.json'))];
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const d of dirs) {
      const p = join(d, target);
      if (existsSync(p)) return p;
    }
    return target;
  };
  r.loadSync(RESOURCE_PROTOS, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/** Encodes one resource, given as an object with snake_case fields and `@type` on every `Any`. */
export function encodeResource(typeUrl: string, value: Record<string, unknown>): Uint8Array {
  const type = xdsRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  const message = type.fromObject(value);
  return type.encode(message).finish();
}

/** Decodes one resource back to a plain object (tests and the debug view). */
export function decodeResource(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const type = xdsRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
  return type.toObject(type.decode(bytes), { enums: String, longs: String, defaults: false }) as Record<string, unknown>;
}

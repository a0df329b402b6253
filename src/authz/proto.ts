import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadSync, type MethodDefinition, type PackageDefinition, type ServiceDefinition } from '@grpc/proto-loader';
import { decodeCheckRequest, type CheckRequestMessage } from './check-request.js';
import { encodeCheckResponse, type CheckResponseMessage } from './check-response.js';

const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';

const require = createRequire(import.meta.url);

/**
 * Envoy's API protos come from the `deps/` folder @grpc/grpc-js-xds ships
 * (envoy-api, googleapis, protoc-gen-validate, xds), so we never copy protos by hand.
 */
export function envoyProtoIncludeDirs(): string[] {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(deps, d));
}

/** envoy.service.auth.v3 as protobufjs decodes it, with the options chosen for the hot path. */
export function loadAuthzProtos(): PackageDefinition {
  return loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: Number,
    // Absent fields stay absent rather than being filled with defaults on every request.
    defaults: false,
    oneofs: true,
    includeDirs: envoyProtoIncludeDirs(),
  });
}

/** Loads envoy.service.auth.v3 once at start, with bouncer's own Check codec. */
export function loadAuthzPackageDefinition(): PackageDefinition {
  return withCheckCodec(loadAuthzProtos());
}

/**
 * A grpc-js server of Check (the bench's no-op baseline) reads and writes the
 * wire format with bouncer's own codec (check-request.ts, check-response.ts),
 * as bouncer's transport does, instead of through protobufjs; the client side
 * (tests, tools) keeps protobufjs, so every test that calls Check also
 * cross-checks the two. Descriptors, used by reflection, are unchanged.
 */
function withCheckCodec(definition: PackageDefinition): PackageDefinition {
  const service = definition[AUTHORIZATION_SERVICE] as ServiceDefinition | undefined;
  const check = service?.Check as MethodDefinition<CheckRequestMessage, CheckResponseMessage> | undefined;
  if (!service || !check) throw new Error(`${AUTHORIZATION_SERVICE}/Check missing from the loaded protos`);
  const Check: MethodDefinition<CheckRequestMessage, CheckResponseMessage> = {
    ...check,
    requestDeserialize: decodeCheckRequest,
    responseSerialize: encodeCheckResponse,
  };
  // proto-loader types every method as object → object; ours is narrower.
  return { ...definition, [AUTHORIZATION_SERVICE]: { ...service, Check: Check as unknown as MethodDefinition<object, object> } };
}

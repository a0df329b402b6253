import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { loadSync, type PackageDefinition } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);

/**
 * Envoy's API protos come from the `deps/` folder @grpc/grpc-js-xds ships
 * (envoy-api, googleapis, protoc-gen-validate, xds), so we never copy protos by hand.
 */
export function envoyProtoIncludeDirs(): string[] {
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  return ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(deps, d));
}

/** Loads envoy.service.auth.v3 once at start; decoding options chosen for the hot path. */
export function loadAuthzPackageDefinition(): PackageDefinition {
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

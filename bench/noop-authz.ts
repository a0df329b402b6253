/**
 * S3's ext_authz server: grpc-js with the same proto, decoding options and server
 * options as bouncer, that allows every request. It measures the transport: what
 * any Node ext_authz server pays before deciding anything.
 *
 *   node dist/bench/noop-authz.js PORT [CAPTURE_FILE]
 *
 * With CAPTURE_FILE, the first CheckRequest carrying a cookie is written there as
 * raw protobuf bytes: the "real serialized CheckRequest" the Direct scenario replays.
 */
import { writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { loadAuthzPackageDefinition } from '../src/authz/proto.js';

const [portArg, capture] = process.argv.slice(2);
const definition = loadAuthzPackageDefinition();
const service = definition['envoy.service.auth.v3.Authorization'] as grpc.ServiceDefinition;
const check = service.Check as grpc.MethodDefinition<unknown, unknown>;

let captured = capture === undefined;
const wrapped: grpc.ServiceDefinition = {
  ...service,
  Check: {
    ...check,
    requestDeserialize(bytes: Buffer) {
      const msg = check.requestDeserialize(bytes);
      if (!captured && JSON.stringify(msg).includes('"cookie"')) {
        captured = true;
        writeFileSync(capture as string, bytes);
      }
      return msg;
    },
  },
};

const server = new grpc.Server({ 'grpc.enable_channelz': 0, 'grpc.max_concurrent_streams': 1000, 'grpc.max_receive_message_length': 1024 * 1024 });
new HealthImplementation({ '': 'SERVING', 'envoy.service.auth.v3.Authorization': 'SERVING' }).addToServer(server);
server.addService(wrapped, {
  Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: { code: 0 } }),
});
server.bindAsync(`127.0.0.1:${portArg ?? '0'}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`listening ${port}\n`);
});
process.on('SIGTERM', () => server.forceShutdown());
// Under --cpu-prof (the bench's profile scenario) the profile is written on exit.
process.on('SIGINT', () => {
  server.forceShutdown();
  process.exit(0);
});

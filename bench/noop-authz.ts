/**
 * S3's ext_authz server: grpc-js with the same proto, decoding options and server
 * options as bouncer, that allows every request. It measures the transport: what
 * any Node ext_authz server pays before deciding anything.
 *
 *   node dist/bench/noop-authz.js PORT [CAPTURE_FILE]
 *   node dist/bench/noop-authz.js --bouncer-transport PORT [RESPONSE_FILE]
 *
 * With CAPTURE_FILE, the first CheckRequest carrying a cookie is written there as
 * raw protobuf bytes: the "real serialized CheckRequest" the Direct scenario replays.
 *
 * With --bouncer-transport (S3t), the same no-op is served on bouncer's own
 * transport (src/authz/grpc-transport.ts, health through grpc-js behind it, as
 * in bouncer): S4 against S3t is what bouncer's decision adds on that transport.
 * With RESPONSE_FILE (S3h) it answers every check with those CheckResponse
 * bytes (bouncer's answer to S4's request) instead of a bare OK, so Envoy has
 * the same headers to apply and forward as with bouncer.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { encodeCheckResponse } from '../src/authz/check-response.js';
import { GrpcTransport, listenWithFallback } from '../src/authz/grpc-transport.js';
import { loadAuthzPackageDefinition } from '../src/authz/proto.js';

const AUTHZ = 'envoy.service.auth.v3.Authorization';
const options = { 'grpc.enable_channelz': 0, 'grpc.max_concurrent_streams': 1000, 'grpc.max_receive_message_length': 1024 * 1024 };

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

async function grpcJs(portArg: string | undefined, capture: string | undefined): Promise<() => void> {
  const definition = loadAuthzPackageDefinition();
  const service = definition[AUTHZ] as grpc.ServiceDefinition;
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
  const server = new grpc.Server(options);
  new HealthImplementation({ '': 'SERVING', [AUTHZ]: 'SERVING' }).addToServer(server);
  server.addService(wrapped, {
    Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { status: { code: 0 } }),
  });
  process.stdout.write(`listening ${await bind(server, `127.0.0.1:${portArg ?? '0'}`)}\n`);
  return () => server.forceShutdown();
}

async function bouncerTransport(portArg: string | undefined, responseFile: string | undefined): Promise<() => void> {
  const fallback = new grpc.Server(options);
  new HealthImplementation({ '': 'SERVING', [AUTHZ]: 'SERVING' }).addToServer(fallback);
  const transport = new GrpcTransport({ maxMessageBytes: 1024 * 1024, maxConcurrentStreams: 1000 });
  const allow = responseFile === undefined ? encodeCheckResponse({ status: { code: 0 } }) : readFileSync(responseFile);
  transport.addUnary({ path: `/${AUTHZ}/Check`, handle: (_message, reply) => reply(null, allow) });
  process.stdout.write(`listening ${await listenWithFallback(transport, fallback, '127.0.0.1', Number(portArg ?? '0'))}\n`);
  return () => {
    void transport.close(true);
    fallback.forceShutdown();
  };
}

const args = process.argv.slice(2);
const stop = await (args[0] === '--bouncer-transport' ? bouncerTransport(args[1], args[2]) : grpcJs(args[0], args[1]));
process.on('SIGTERM', stop);
// Under --cpu-prof (the bench's profile scenario) the profile is written on exit.
process.on('SIGINT', () => {
  stop();
  process.exit(0);
});

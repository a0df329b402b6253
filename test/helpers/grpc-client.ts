import * as grpc from '@grpc/grpc-js';
import { loadAuthzPackageDefinition } from '../../src/authz/proto.js';
import type { CheckRequestMessage } from '../../src/authz/check-request.js';
import type { CheckResponseMessage } from '../../src/authz/check-response.js';

interface AuthzClient extends grpc.Client {
  Check(req: CheckRequestMessage, cb: (err: grpc.ServiceError | null, res: CheckResponseMessage) => void): grpc.ClientUnaryCall;
}

/** A plain gRPC client for bouncer's Authorization service, as Envoy would call it. */
export function authzClient(port: number): { check(req: CheckRequestMessage): Promise<CheckResponseMessage>; close(): void } {
  const tree = grpc.loadPackageDefinition(loadAuthzPackageDefinition()) as unknown as {
    envoy: { service: { auth: { v3: { Authorization: new (addr: string, creds: grpc.ChannelCredentials) => AuthzClient } } } };
  };
  const client = new tree.envoy.service.auth.v3.Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    check: (req) =>
      new Promise((resolve, reject) => {
        client.Check(req, (err, res) => (err ? reject(err) : resolve(res)));
      }),
    close: () => client.close(),
  };
}

/** A CheckRequest shaped like Envoy's for a plain HTTPS request. */
export function checkRequest(host: string, path = '/', extra: Record<string, string> = {}, sni: string | undefined = host): CheckRequestMessage {
  return {
    attributes: {
      source: { address: { socket_address: { address: '127.0.0.1' } } },
      request: { http: { id: '1', method: 'GET', path, host, headers: { ':authority': host, ':path': path, ':method': 'GET', ...extra } } },
      ...(sni ? { tls_session: { sni } } : {}),
    },
  };
}

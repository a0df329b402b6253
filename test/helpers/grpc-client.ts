import type { ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
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

/**
 * Sends `count` checks spread over `clients` and sends SIGTERM to `child` as
 * soon as the first answer arrives, so most checks are in flight during the
 * stop. Resolves to every check's gRPC status code and the process's exit code.
 */
export async function checksAcrossSigterm(
  clients: ReadonlyArray<ReturnType<typeof authzClient>>,
  child: ChildProcess,
  count = 200,
): Promise<{ codes: number[]; exit: number | null }> {
  let signalled = false;
  const calls = Array.from({ length: count }, (_, k) =>
    (clients[k % clients.length] as ReturnType<typeof authzClient>).check(checkRequest('app.open.test')).then((res) => {
      if (!signalled) {
        signalled = true;
        child.kill('SIGTERM');
      }
      return res.status.code;
    }),
  );
  const codes = await Promise.all(calls);
  for (const c of clients) c.close();
  const exit = await new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
  return { codes, exit };
}

export type RawUnaryClient = grpc.Client & {
  call(message: Buffer, options: grpc.CallOptions, cb: (err: grpc.ServiceError | null, response?: Buffer) => void): void;
};

const asIs = (b: Buffer): Buffer => b;

/** A grpc-js client for the unary method at `path` that sends and receives protobuf bytes as given. */
export function rawUnaryClient(port: number, path: string): RawUnaryClient {
  const Ctor = grpc.makeGenericClientConstructor(
    { call: { path, requestStream: false, responseStream: false, requestSerialize: asIs, requestDeserialize: asIs, responseSerialize: asIs, responseDeserialize: asIs } },
    'Raw',
  );
  return new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as RawUnaryClient;
}

/**
 * One health Check over node:http2 on a connection of its own from `localAddress`
 * (any loopback address: a source of its own for the per-source limits); resolves to
 * its grpc-status, NaN when none came.
 */
export function healthCheckFrom(port: number, localAddress: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`, { createConnection: () => net.connect({ host: '127.0.0.1', port, localAddress }) });
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc' });
    let status = NaN;
    req.on('response', (h) => (status = h['grpc-status'] === undefined ? status : Number(h['grpc-status'])));
    req.on('trailers', (t) => (status = Number(t['grpc-status'])));
    req.on('data', () => undefined);
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve(status);
    });
    req.end(Buffer.alloc(5));
  });
}

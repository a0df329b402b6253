import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startBouncerProcess, type BouncerProcess } from '../helpers/bouncer-process.js';
import { authzClient, checkRequest, checksAcrossSigterm, rawUnaryClient } from '../helpers/grpc-client.js';
import { freePort } from '../helpers/ports.js';

// Runs the real CLI entry point (`bouncer serve`) as its own process, as an
// operator would, built by `npm test` into dist/.
let dir: string;
let bouncer: BouncerProcess;
let authzPort: number;
let httpPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-serve-'));
  authzPort = await freePort();
  httpPort = await freePort();
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `listen:\n  authz: 127.0.0.1:1\n  http: 127.0.0.1:2\ntenants:\n  - name: open\n    hostnames: [app.open.test]\n    mtls: { mode: "off" }\n`,
  );
  bouncer = await startBouncerProcess({
    configPath: join(dir, 'bouncer.yaml'),
    graceSeconds: 5,
    // The environment overrides the addresses in the file.
    env: { BOUNCER_LISTEN_AUTHZ: `127.0.0.1:${authzPort}`, BOUNCER_LISTEN_HTTP: `127.0.0.1:${httpPort}` },
    readyUrl: `http://127.0.0.1:${httpPort}/readyz`,
  });
});

afterAll(async () => {
  await bouncer?.stop('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function healthClient(): grpc.Client & {
  check(req: { service: string }, cb: (e: grpc.ServiceError | null, r: { status: string }) => void): void;
} {
  const Ctor = grpc.makeGenericClientConstructor(
    {
      check: {
        path: '/grpc.health.v1.Health/Check',
        requestStream: false,
        responseStream: false,
        requestSerialize: (v: { service: string }) => encodeHealthRequest(v.service),
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => ({ status: ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'][b[1] ?? 0] ?? 'UNKNOWN' }),
      },
    },
    'Health',
  );
  return new Ctor(`127.0.0.1:${authzPort}`, grpc.credentials.createInsecure()) as never;
}

/** HealthCheckRequest{service} in protobuf wire format: field 1, length-delimited. */
function encodeHealthRequest(service: string): Buffer {
  const s = Buffer.from(service);
  return Buffer.concat([Buffer.from([0x0a, s.length]), s]);
}

describe('bouncer serve as a process', () => {
  test('serves Check, health and reflection on the address from the environment', async () => {
    const c = authzClient(authzPort);
    try {
      const ok = await c.check(checkRequest('app.open.test'));
      expect(ok.status.code).toBe(0);
      const denied = await c.check(checkRequest('unknown.test'));
      expect(denied.status.code).toBe(7);
      expect(JSON.parse(denied.denied_response?.body ?? '{}')).toMatchObject({ error: 'tenant_unknown' });
    } finally {
      c.close();
    }
    const h = healthClient();
    const status = await new Promise<string>((res, rej) => h.check({ service: 'envoy.service.auth.v3.Authorization' }, (e, r) => (e ? rej(e) : res(r.status))));
    expect(status).toBe('SERVING');
    h.close();

    const Reflection = grpc.makeGenericClientConstructor(
      {
        info: {
          path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
          requestStream: true,
          responseStream: true,
          // ServerReflectionRequest{list_services: "*"}: field 7, string.
          requestSerialize: () => Buffer.from([0x3a, 0x01, 0x2a]),
          requestDeserialize: (b: Buffer) => b,
          responseSerialize: (b: Buffer) => b,
          responseDeserialize: (b: Buffer) => b,
        },
      },
      'Reflection',
    );
    const r = new Reflection(`127.0.0.1:${authzPort}`, grpc.credentials.createInsecure()) as unknown as {
      info(): grpc.ClientDuplexStream<unknown, Buffer>;
      close(): void;
    };
    const listing = await new Promise<string>((resolve, reject) => {
      const stream = r.info();
      stream.on('data', (b: Buffer) => {
        resolve(b.toString('latin1'));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({});
    });
    r.close();
    expect(listing).toContain('envoy.service.auth.v3.Authorization');
    expect(listing).toContain('grpc.health.v1.Health');
  });

  test('a CheckRequest that is not protobuf is refused INTERNAL with the reason, and Check goes on', async () => {
    const raw = rawUnaryClient(authzPort, '/envoy.service.auth.v3.Authorization/Check');
    try {
      // A length prefix running past the end of the message.
      const err = await new Promise<grpc.ServiceError | null>((resolve) => raw.call(Buffer.from([0x0a, 0x05, 0x0a]), {}, resolve));
      expect(err?.code).toBe(grpc.status.INTERNAL);
      expect(err?.details).toMatch(/^the CheckRequest could not be decoded: /);
    } finally {
      raw.close();
    }
    const c = authzClient(authzPort);
    try {
      expect((await c.check(checkRequest('app.open.test'))).status.code).toBe(0);
    } finally {
      c.close();
    }
  });

  test('SIGTERM: NOT_SERVING, in-flight checks finish, then a clean exit', async () => {
    const { codes, exit } = await checksAcrossSigterm([authzClient(authzPort)], bouncer.child);
    expect(codes.every((x) => x === 0)).toBe(true);
    expect(exit).toBe(0);
    expect(bouncer.output()).toContain('NOT_SERVING');
    expect(bouncer.output()).toContain('"msg":"stopped"');
    await expect(fetch(`http://127.0.0.1:${httpPort}/readyz`)).rejects.toThrow();
  });
});

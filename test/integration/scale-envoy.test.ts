import { issueClientCert, issueIntermediateCa } from '../../src/pki/generate.js';
import { IDENTITY_HEADERS } from '../../src/authz/check-response.js';
import { buildTenantIndex, resolveTenant } from '../../src/core/tenant-index.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { tlsRequest } from '../helpers/tls-client.js';

const COUNT = 1000;
const names = Array.from({ length: COUNT }, (_, i) => `t${String(i).padStart(4, '0')}`);

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    tenants: names,
    configYaml: (p) =>
      [
        'listen:',
        `  authz: 127.0.0.1:${p.authzPort}`,
        `  http: 127.0.0.1:${p.httpPort}`,
        'tenants:',
        ...names.map((n) => `  - name: ${n}\n    hostnames: [${n}.tenants.test]\n    mtls: { mode: require, ca: ./${n}-ca.pem }`),
        '',
      ].join('\n'),
  });
}, 180_000);

afterAll(async () => {
  await stack?.stop();
});

describe(`${COUNT} tenants through a real Envoy`, () => {
  test('every tenant is loaded and indexed by hostname', () => {
    const config = stack.bouncer.config();
    expect(config.tenants).toHaveLength(COUNT);
    const index = buildTenantIndex(config.tenants);
    expect(index.exact.size).toBe(COUNT);
    expect(resolveTenant(index, 't0999.tenants.test')?.name).toBe('t0999');
  });

  test.each(['t0000', 't0500', 't0999'])("%s's device passes on its own hostname and nowhere else", async (name) => {
    const own = await stack.request({ servername: `${name}.tenants.test`, device: name });
    expect(own.status).toBe(200);
    expect(stack.upstream.seen[stack.upstream.seen.length - 1]?.[IDENTITY_HEADERS.tenant]).toBe(name);
    const other = name === 't0000' ? 't0001' : 't0000';
    const foreign = await stack.request({ servername: `${other}.tenants.test`, device: name });
    expect(foreign.status).toBe(403);
    expect(foreign.json()).toMatchObject({ error: 'client_cert_untrusted' });
  });

  test('a device issued by an intermediate passes when it sends the intermediate, and only then', async () => {
    const root = stack.tenants.t0042!.ca;
    const intermediate = await issueIntermediateCa({ issuer: root, commonName: 't0042 devices CA', keyAlgorithm: 'ec-p256', validDays: 5 });
    const device = await issueClientCert({ issuer: intermediate, commonName: 't0042-phone', keyAlgorithm: 'ec-p256', validDays: 2 });
    const base = { port: stack.envoy.port, ca: stack.edgeCa, servername: 't0042.tenants.test', key: device.keyPem };
    // Envoy reports the leaf as the peer certificate and the whole chain in XFCC `Chain`.
    const withChain = await tlsRequest({ ...base, cert: device.certPem + intermediate.certPem });
    expect(withChain.status).toBe(200);
    expect(stack.upstream.seen[stack.upstream.seen.length - 1]?.[IDENTITY_HEADERS.subject]).toContain('t0042-phone');
    const leafOnly = await tlsRequest({ ...base, cert: device.certPem });
    expect(leafOnly.status).toBe(403);
    expect(leafOnly.json()).toMatchObject({ error: 'client_cert_untrusted' });
  });
});

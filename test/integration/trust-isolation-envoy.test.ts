// One tenant's bad trust data, through a real Envoy: an expired CA in one
// tenant's file must cost that tenant only. bouncer starts, the other tenants'
// devices pass, the bad tenant's devices get the specific denial, a rotation
// bundle keeps working on its valid root, /readyz stays ready and reports the
// counts, the metrics count tenants by status, and a reload that adds a new
// tenant works while the bad one is still there.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRootCa, issueClientCert, type KeyPairPem } from '../../src/pki/generate.js';
import { waitFor } from '../helpers/ports.js';
import { startStack, type Stack } from '../helpers/stack.js';

const DAY = 86_400_000;

let stack: Stack;
let ports: { authzPort: number; httpPort: number };
let own: string;
let expiredCa: KeyPairPem;
let staleDevice: KeyPairPem;
let newRoot: KeyPairPem;
let rotatingDevice: KeyPairPem;

function yaml(p: { authzPort: number; httpPort: number }, extra = ''): string {
  return `
listen:
  authz: 127.0.0.1:${p.authzPort}
  http: 127.0.0.1:${p.httpPort}
tenants:
  - name: acme
    hostnames: [pay.acme.test]
    mtls: { mode: require, ca: ./acme-ca.pem }
  - name: stale
    hostnames: [stale.tenants.test]
    mtls: { mode: require, ca: ${join(own, 'stale-ca.pem')} }
  - name: rotating
    hostnames: [rotating.tenants.test]
    mtls: { mode: require, ca: ${join(own, 'rotation.pem')} }
${extra}`;
}

beforeAll(async () => {
  own = mkdtempSync(join(tmpdir(), 'bouncer-trust-'));
  const now = Date.now();
  // Expired yesterday; its device is itself still within its dates, so only the CA is at fault.
  expiredCa = await createRootCa({ commonName: 'stale root CA', notBefore: new Date(now - 400 * DAY), notAfter: new Date(now - DAY) });
  staleDevice = await issueClientCert({ issuer: expiredCa, commonName: 'stale-device-1', notBefore: new Date(now - 10 * DAY), notAfter: new Date(now + 2 * DAY) });
  newRoot = await createRootCa({ commonName: 'rotating new root CA', validDays: 30 });
  rotatingDevice = await issueClientCert({ issuer: newRoot, commonName: 'rotating-device-1', validDays: 2 });
  writeFileSync(join(own, 'stale-ca.pem'), expiredCa.certPem);
  // A rotation bundle that still carries the old, now expired, root.
  writeFileSync(join(own, 'rotation.pem'), expiredCa.certPem + newRoot.certPem);
  stack = await startStack({
    tenants: ['acme', 'initech'],
    configYaml: (p) => {
      ports = p;
      return yaml(p);
    },
  });
  stack.tenants['stale'] = { name: 'stale', ca: expiredCa, device: staleDevice };
  stack.tenants['rotating'] = { name: 'rotating', ca: newRoot, device: rotatingDevice };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (own) rmSync(own, { recursive: true, force: true });
});

describe("one tenant's expired CA through a real Envoy", () => {
  test('bouncer started with it: the config loaded with a warning naming the tenant and the file', () => {
    const warning = stack.bouncer.config().warnings.find((w) => w.includes('tenant stale'));
    expect(warning).toMatch(new RegExp(`tenants\\[1\\]\\.mtls\\.ca: tenant stale: CA file ${join(own, 'stale-ca.pem')}: certificate "CN=stale root CA" expired on`));
  });

  test("another tenant's device passes", async () => {
    const r = await stack.request({ servername: 'pay.acme.test', device: 'acme' });
    expect(r.status).toBe(200);
  });

  test("the bad tenant's device gets the specific denial, 403 tenant_trust_unusable", async () => {
    const before = stack.upstream.seen.length;
    const r = await stack.request({ servername: 'stale.tenants.test', device: 'stale', path: '/trust-denied' });
    expect(r.status).toBe(403);
    expect(r.headers['x-bouncer-reason']).toBe('tenant_trust_unusable');
    expect(r.json()).toMatchObject({ error: 'tenant_trust_unusable' });
    expect(stack.upstream.seen.length).toBe(before);
    const rec = await waitFor('the audit line', async () => stack.audit.find((a) => a.path === '/trust-denied'));
    expect(rec).toMatchObject({ tenant: 'stale', outcome: 'deny', reason: 'tenant_trust_unusable' });
  });

  test('a rotation bundle with an expired old root keeps working on its valid root', async () => {
    const r = await stack.request({ servername: 'rotating.tenants.test', device: 'rotating' });
    expect(r.status).toBe(200);
  });

  test('/readyz stays ready and counts tenants by trust status; so do the metrics', async () => {
    const ready = await fetch(`http://127.0.0.1:${stack.bouncer.httpPort}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', tenant_trust: { ok: 1, degraded: 1, unusable: 1 } });
    const text = await (await fetch(`http://127.0.0.1:${stack.bouncer.httpPort}/metrics`)).text();
    expect(text).toContain('bouncer_tenant_trust_status{status="ok"} 1');
    expect(text).toContain('bouncer_tenant_trust_status{status="degraded"} 1');
    expect(text).toContain('bouncer_tenant_trust_status{status="unusable"} 1');
  });

  test('a reload adding a new tenant works while the bad one is still there', async () => {
    const before = await stack.request({ servername: 'pay.initech.test', device: 'initech' });
    expect(before.json()).toMatchObject({ error: 'tenant_unknown' });
    stack.writeConfig(yaml(ports, `  - name: initech\n    hostnames: [pay.initech.test]\n    mtls: { mode: require, ca: ./initech-ca.pem }\n`));
    const after = await waitFor('the new tenant to be served', async () => {
      const r = await stack.request({ servername: 'pay.initech.test', device: 'initech' });
      return r.status === 200 ? r : undefined;
    });
    expect(after.status).toBe(200);
    const stale = await stack.request({ servername: 'stale.tenants.test', device: 'stale' });
    expect(stale.json()).toMatchObject({ error: 'tenant_trust_unusable' });
    const text = await (await fetch(`http://127.0.0.1:${stack.bouncer.httpPort}/metrics`)).text();
    expect(text).toMatch(/bouncer_config_last_reload_successful 1/);
  });

  test('fixing the bad CA file heals the tenant on the next reload', async () => {
    const fresh = await createRootCa({ commonName: 'stale fixed root CA', validDays: 30 });
    const device = await issueClientCert({ issuer: fresh, commonName: 'stale-device-2', validDays: 2 });
    stack.tenants['stale'] = { name: 'stale', ca: fresh, device };
    writeFileSync(join(own, 'stale-ca.pem'), fresh.certPem);
    const r = await waitFor('the fixed tenant to pass', async () => {
      const res = await stack.request({ servername: 'stale.tenants.test', device: 'stale' });
      return res.status === 200 ? res : undefined;
    });
    expect(r.status).toBe(200);
  });
});

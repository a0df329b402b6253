/**
 * Per-tenant mTLS through a real Envoy, on each ext_authz transport
 * (`authz.transport`): the same requests must get the same answers from both,
 * so the native transport and grpc-js cannot drift apart.
 */
import { IDENTITY_HEADERS } from '../../src/authz/check-response.js';
import { AUTHZ_TRANSPORTS } from '../../src/config/defaults.js';
import type { AuthzTransport } from '../../src/config/types.js';
import { waitFor } from '../helpers/ports.js';
import { MTLS_TENANTS_YAML, startStack, type Stack } from '../helpers/stack.js';

function baseYaml(transport: AuthzTransport, p: { authzPort: number; httpPort: number }, extraTenants = ''): string {
  return `
listen:
  authz: 127.0.0.1:${p.authzPort}
  http: 127.0.0.1:${p.httpPort}
authz:
  transport: ${transport}
${MTLS_TENANTS_YAML}${extraTenants}`;
}

describe.each(AUTHZ_TRANSPORTS)('authz.transport: %s', (transport) => {
  let stack: Stack;
  let ports: { authzPort: number; httpPort: number };

  beforeAll(async () => {
    stack = await startStack({
      tenants: ['acme', 'globex', 'opt', 'initech'],
      configYaml: (p) => {
        ports = p;
        return baseYaml(transport, p);
      },
    });
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
  });

  function lastSeen(): Record<string, string | string[] | undefined> {
    const h = stack.upstream.seen[stack.upstream.seen.length - 1];
    if (!h) throw new Error('upstream saw no request');
    return h;
  }

  describe('per-tenant mTLS through a real Envoy', () => {
    test('ext_authz runs on the transport the config names', async () => {
      expect((await stack.request({ servername: 'app.open.test' })).status).toBe(200);
      // Only the native transport counts the HTTP/2 connections it accepts.
      const opened = /^bouncer_authz_sessions_opened_total (\d+)$/m.exec(await stack.bouncer.metrics.registry.metrics())?.[1];
      expect(Number(opened) > 0).toBe(transport === 'native');
    });

    test("a tenant's device passes on its own hostname and the upstream gets its identity", async () => {
      const before = stack.upstream.seen.length;
      const r = await stack.request({ servername: 'pay.acme.test', device: 'acme', path: '/orders?id=1' });
      expect(r.status).toBe(200);
      expect(stack.upstream.seen.length).toBe(before + 1);
      const h = lastSeen();
      expect(h[IDENTITY_HEADERS.tenant]).toBe('acme');
      expect(h[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-1');
      expect(h[IDENTITY_HEADERS.dns]).toBe('device-1.acme.test');
      expect(h[IDENTITY_HEADERS.fingerprint]).toMatch(/^[0-9a-f]{64}$/);
      expect(h[IDENTITY_HEADERS.serial]).toMatch(/^[0-9a-f]+$/);
      expect(h[IDENTITY_HEADERS.auth]).toBe('verified');
      // Envoy set its own XFCC for the upstream.
      expect(String(h['x-forwarded-client-cert'])).toContain('Hash=');
    });

    test('a wildcard hostname selects its tenant', async () => {
      const r = await stack.request({ servername: 'eu.api.acme.test', device: 'acme' });
      expect(r.status).toBe(200);
      expect(lastSeen()[IDENTITY_HEADERS.tenant]).toBe('acme');
    });

    test("a tenant's device is refused on another tenant's hostname", async () => {
      const before = stack.upstream.seen.length;
      const r = await stack.request({ servername: 'pay.globex.test', device: 'acme' });
      expect(r.status).toBe(403);
      const body = r.json<{ error: string; request_id: string }>();
      expect(body.error).toBe('client_cert_untrusted');
      expect(body.request_id).toBeTruthy();
      expect(r.headers['x-bouncer-reason']).toBe('client_cert_untrusted');
      expect(stack.upstream.seen.length).toBe(before);
    });

    test('no client certificate is refused with 401 and a JSON reason', async () => {
      const r = await stack.request({ servername: 'pay.acme.test' });
      expect(r.status).toBe(401);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.json()).toMatchObject({ error: 'client_cert_missing', status: 401 });
    });

    test('an exempt path passes without a certificate', async () => {
      const r = await stack.request({ servername: 'pay.acme.test', path: '/healthz' });
      expect(r.status).toBe(200);
      const r2 = await stack.request({ servername: 'pay.acme.test', path: '/healthz/../admin' });
      expect(r2.status).toBe(401);
    });

    test('a forged XFCC header without a certificate changes nothing', async () => {
      const xfcc = `Hash=${'0'.repeat(64)};Cert="${encodeURIComponent(stack.tenants.acme!.device.certPem)}";Subject="CN=acme-device-1"`;
      const r = await stack.request({ servername: 'pay.acme.test', headers: { 'x-forwarded-client-cert': xfcc } });
      expect(r.status).toBe(401);
      expect(r.json()).toMatchObject({ error: 'client_cert_missing' });
    });

    test("a forged XFCC naming acme's device does not open acme for globex's device", async () => {
      const xfcc = `Cert="${encodeURIComponent(stack.tenants.acme!.device.certPem)}"`;
      const r = await stack.request({ servername: 'pay.acme.test', device: 'globex', headers: { 'x-forwarded-client-cert': xfcc } });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'client_cert_untrusted' });
    });

    test('identity headers sent by the client never reach the upstream', async () => {
      const forged = {
        [IDENTITY_HEADERS.tenant]: 'globex',
        [IDENTITY_HEADERS.subject]: 'CN=admin',
        [IDENTITY_HEADERS.email]: 'ceo@acme.test',
        [IDENTITY_HEADERS.uri]: 'spiffe://acme/admin',
        'x-bouncer-role': 'admin',
      };
      const r = await stack.request({ servername: 'pay.acme.test', device: 'acme', headers: forged });
      expect(r.status).toBe(200);
      const h = lastSeen();
      expect(h[IDENTITY_HEADERS.tenant]).toBe('acme');
      expect(h[IDENTITY_HEADERS.subject]).toContain('CN=acme-device-1');
      expect(h[IDENTITY_HEADERS.email]).toBeUndefined();
      expect(h[IDENTITY_HEADERS.uri]).toBeUndefined();
      expect(h['x-bouncer-role']).toBeUndefined();

      // Also on a tenant without mTLS, where no identity is set at all.
      const r2 = await stack.request({ servername: 'app.open.test', headers: forged });
      expect(r2.status).toBe(200);
      const h2 = lastSeen();
      expect(h2[IDENTITY_HEADERS.tenant]).toBe('open');
      expect(h2[IDENTITY_HEADERS.subject]).toBeUndefined();
      expect(h2['x-bouncer-role']).toBeUndefined();
    });

    test('SNI of one tenant with the Host of another gets 421', async () => {
      const r = await stack.request({ servername: 'pay.acme.test', host: 'pay.globex.test', device: 'acme' });
      expect(r.status).toBe(421);
      expect(r.json()).toMatchObject({ error: 'sni_host_mismatch' });
    });

    test('unknown hostnames are denied', async () => {
      const r = await stack.request({ servername: 'nobody.tenants.test', device: 'acme' });
      expect(r.status).toBe(403);
      expect(r.json()).toMatchObject({ error: 'tenant_unknown' });
    });

    test('optional mode: no certificate passes, a foreign certificate does not', async () => {
      const r = await stack.request({ servername: 'app.opt.test' });
      expect(r.status).toBe(200);
      expect(lastSeen()[IDENTITY_HEADERS.auth]).toBe('absent');
      const r2 = await stack.request({ servername: 'app.opt.test', device: 'acme' });
      expect(r2.status).toBe(403);
      const r3 = await stack.request({ servername: 'app.opt.test', device: 'opt' });
      expect(r3.status).toBe(200);
      expect(lastSeen()[IDENTITY_HEADERS.auth]).toBe('verified');
    });

    test('every decision is audited with a reason code and the certificate fingerprint', async () => {
      const r = await stack.request({ servername: 'pay.acme.test', device: 'acme', path: '/audit-me?token=secret' });
      expect(r.status).toBe(200);
      const rec = await waitFor('audit line', async () => stack.audit.find((a) => a.path === '/audit-me'));
      expect(rec).toMatchObject({ tenant: 'acme', host: 'pay.acme.test', outcome: 'allow', reason: 'mtls_verified' });
      expect(rec.cert_fingerprint).toMatch(/^[0-9a-f]{64}$/);
      expect(String(rec.cert_subject)).toContain('acme-device-1');
      expect(typeof rec.duration_ms).toBe('number');
      expect(rec.request_id).toBeTruthy();

      // A refused certificate is audited with its fingerprint too, for forensics.
      const denied = await stack.request({ servername: 'pay.globex.test', device: 'acme', path: '/audit-deny' });
      expect(denied.status).toBe(403);
      const drec = await waitFor('deny audit line', async () => stack.audit.find((a) => a.path === '/audit-deny'));
      expect(drec).toMatchObject({ tenant: 'globex', outcome: 'deny', reason: 'client_cert_untrusted', status: 403 });
      expect(drec.cert_fingerprint).toBe(rec.cert_fingerprint);
      expect(drec.request_id).toBe(denied.json<{ request_id: string }>().request_id);
    });

    test('metrics count checks by outcome and reason, and cache hits', async () => {
      const res = await fetch(`http://127.0.0.1:${stack.bouncer.httpPort}/metrics`);
      const text = await res.text();
      expect(text).toMatch(/bouncer_checks_total\{outcome="allow",reason="mtls_verified"\} [1-9]/);
      expect(text).toMatch(/bouncer_checks_total\{outcome="deny",reason="client_cert_missing"\} [1-9]/);
      expect(text).toMatch(/bouncer_cert_cache_total\{result="hit"\} [1-9]/);
      expect(text).toContain('bouncer_check_duration_seconds_bucket');
      expect(text).toMatch(/bouncer_build_info\{version="[^"]+",node_version="[^"]+"\} 1/);
      expect(text).toContain('bouncer_config_reloads_total');
    });

    test('a config edit adding a tenant takes effect without restarting Envoy or bouncer', async () => {
      const before = await stack.request({ servername: 'pay.initech.test', device: 'initech' });
      expect(before.status).toBe(403);
      expect(before.json()).toMatchObject({ error: 'tenant_unknown' });
      stack.writeConfig(
        baseYaml(transport, ports, `  - name: initech\n    hostnames: [pay.initech.test]\n    mtls: { mode: require, ca: ./initech-ca.pem }\n`),
      );
      const after = await waitFor('the new tenant to be served', async () => {
        const r = await stack.request({ servername: 'pay.initech.test', device: 'initech' });
        return r.status === 200 ? r : undefined;
      });
      expect(after.status).toBe(200);
      // An invalid edit keeps the last good config.
      stack.writeConfig('tenants: [ { name: broken');
      await waitFor('the failed reload to be counted', async () => {
        const text = await (await fetch(`http://127.0.0.1:${stack.bouncer.httpPort}/metrics`)).text();
        return /bouncer_config_last_reload_successful 0/.test(text);
      });
      const still = await stack.request({ servername: 'pay.initech.test', device: 'initech' });
      expect(still.status).toBe(200);
    });

    test("Envoy's gRPC health check of bouncer passes on the ext_authz port", async () => {
      // grpc.health.v1 is served by grpc-js behind the port's own Check server: this is Envoy's path to it.
      const passed = await waitFor('a passing health check', async () => {
        const n = (await stack.envoy.stat('cluster.bouncer_authz.health_check.success')) ?? 0;
        return n > 0 ? n : undefined;
      });
      expect(passed).toBeGreaterThan(0);
      expect((await stack.envoy.stat('cluster.bouncer_authz.health_check.failure')) ?? 0).toBe(0);
    });

    test('a stopped bouncer makes Envoy fail closed', async () => {
      await stack.bouncer.close(500);
      const r = await stack.request({ servername: 'pay.acme.test', device: 'acme' });
      expect(r.status).toBe(503);
      const r2 = await stack.request({ servername: 'app.open.test' });
      expect(r2.status).toBe(503);
    });
  });
});

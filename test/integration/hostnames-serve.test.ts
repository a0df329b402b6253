// `bouncer serve` with a hostnames section (in-process): the config opens the
// keyring and the ACME CA (Pebble), the admin API adds a hostname, the web
// service answers Pebble's HTTP-01 request, and the app's hostname catalog
// (what the xDS server serves) gets the certificate. Tenants come from the
// config file here, so the hostname is listed there first.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { loadConfig } from '../../src/config/load.js';
import type { ServedHostname } from '../../src/core/served-hostname.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';

const TOKEN = 'hostnames-serve-admin-token-0123456789';
let dir: string;
let dns: DnsResponder;
let pebble: Pebble;
let app: BouncerApp;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-hostnames-serve-'));
  dns = await startDnsResponder({ 'pay.serve.test': ['127.0.0.1'] });
  const httpPort = await freePort();
  pebble = await startPebble({ httpPort, dnsServer: dns.address });
  writeFileSync(join(dir, 'pebble-tls.pem'), pebble.tlsCaPem);
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:0, http: 127.0.0.1:${httpPort} }
tenants:
  - name: serve
    hostnames: [www.serve.test, pay.serve.test]
    mtls: { mode: 'off' }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${hashAdminToken(TOKEN)}, scopes: [hostnames:write, hostnames:read] }
hostnames:
  kek_env: SERVE_KEK
  acme:
    directory_url: ${pebble.directoryUrl}
    ca_file: pebble-tls.pem
    expected_addresses: [127.0.0.1]
    dns_servers: ["${dns.address}"]
`,
  );
  const env = { SERVE_KEK: `serve1:${randomBytes(32).toString('base64')}` };
  app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), env), logger: pino({ level: 'silent' }), env, watch: false });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await pebble?.stop();
  await dns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('bouncer serve with customer hostnames', () => {
  it('adds a hostname through the admin API and serves its Pebble certificate in the catalog', async () => {
    const catalog = app.hostnameCatalog;
    if (!catalog) throw new Error('no catalog');
    const served = new Promise<ServedHostname>((resolve) => {
      const off = catalog.subscribe((c) => {
        const e = c.upserted.includes('pay.serve.test') ? catalog.get('pay.serve.test') : undefined;
        if (e) {
          off();
          resolve(e);
        }
      });
    });
    const res = await fetch(`http://127.0.0.1:${app.adminPort}/v1/custom-hostnames`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: 'serve', hostname: 'pay.serve.test' }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ state: 'pending_validation' });
    const entry = await served;
    expect(entry.tenant).toBe('serve');
    expect(new X509Certificate(entry.certificateChainPem).checkHost('pay.serve.test')).toBe('pay.serve.test');
    const shown = (await (await fetch(`http://127.0.0.1:${app.adminPort}/v1/custom-hostnames/pay.serve.test`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Record<string, unknown>;
    expect(shown).toMatchObject({ state: 'active', reason: null, source: 'acme' });
    const metrics = await app.metrics.registry.metrics();
    expect(metrics).toMatch(/bouncer_custom_hostnames\{state="active",reason=""\} 1/);
    expect(metrics).toMatch(/bouncer_acme_orders_total\{result="issued"\} 1/);
  }, 90_000);

  it('answers unknown or malformed challenge tokens with 404', async () => {
    const port = app.httpPort;
    expect((await fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/${'a'.repeat(43)}`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${port}/.well-known/acme-challenge/bad%20token`)).status).toBe(404);
  });
});

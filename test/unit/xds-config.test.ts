import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

describe('config: the xds section', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bouncer-xds-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const load = async (xds: string): Promise<Awaited<ReturnType<typeof loadConfig>>> => {
    const path = join(dir, `c-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(path, `tenants:\n  - name: open\n    hostnames: [app.open.test]\n    mtls: { mode: "off" }\n${xds}`);
    return loadConfig(path, {});
  };

  it('is off without the section', async () => {
    expect((await load('')).xds).toBeUndefined();
  });

  it('fills the defaults', async () => {
    expect((await load('xds: {}\n')).xds).toEqual({
      listen: { host: '127.0.0.1', port: 18000 },
      envoyListen: { host: '0.0.0.0', port: 8443 },
      envoyHttpListen: { host: '0.0.0.0', port: 8080 },
      defaultCertificate: undefined,
      authCertificate: undefined,
      authzTimeoutMs: 500,
      listenerMode: 'chains',
    });
  });

  it('reads every field, and "off" for the HTTP listener', async () => {
    const c = await load('xds:\n  listen: 127.0.0.1:19000\n  envoy_listen: 0.0.0.0:443\n  envoy_http_listen: "off"\n  default_certificate: { cert_file: /c.pem, key_file: /k.pem }\n  authz_timeout_ms: 800\n');
    expect(c.xds).toEqual({
      listen: { host: '127.0.0.1', port: 19000 },
      envoyListen: { host: '0.0.0.0', port: 443 },
      envoyHttpListen: undefined,
      defaultCertificate: { certFile: '/c.pem', keyFile: '/k.pem' },
      authCertificate: undefined,
      authzTimeoutMs: 800,
      listenerMode: 'chains',
    });
    expect((await load('xds: { listener_mode: internal }\n')).xds?.listenerMode).toBe('internal');
  });

  it('reads the auth certificate only beside an auth section, and says why otherwise', async () => {
    const path = join(dir, 'auth.yaml');
    writeFileSync(
      path,
      'auth: { domain: auth.example.test }\nidps:\n  - { id: gh, type: github, client_id: x, client_secret_env: GH }\napps:\n  - { name: wiki, hostnames: [wiki.example.test], idps: [gh], policies: [ { name: all, action: allow, include: [ { everyone: true } ] } ] }\nxds:\n  auth_certificate: { cert_file: /a.pem, key_file: /a.key }\n',
    );
    expect((await loadConfig(path, { GH: 'x' })).xds?.authCertificate).toEqual({ certFile: '/a.pem', keyFile: '/a.key' });
    await expect(load('xds: { auth_certificate: { cert_file: /a.pem, key_file: /a.key } }\n')).rejects.toThrow(/xds.auth_certificate: serves the login service on auth.domain, but there is no auth section/);
    await expect(load('xds: { auth_certificate: { cert_file: /a.pem } }\n')).rejects.toThrow(/give both cert_file and key_file/);
  });

  it('refuses unknown keys, bad addresses, half a default certificate and an out-of-range timeout', async () => {
    for (const bad of ['xds: { lisen: 1 }\n', 'xds: { listen: nowhere }\n', 'xds: { default_certificate: { cert_file: /c.pem } }\n', 'xds: { authz_timeout_ms: 5 }\n', 'xds: { listener_mode: sni }\n',
      // No chain is left to present a default certificate on in the internal mode.
      'xds: { listener_mode: internal, default_certificate: { cert_file: /c.pem, key_file: /k.pem } }\n']) {
      await expect(load(bad)).rejects.toBeInstanceOf(ConfigError);
    }
  });
});

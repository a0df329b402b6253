import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attemptConfigLoad } from '../../../src/config/load.js';

const dir = mkdtempSync(join(tmpdir(), 'bouncer-hostnames-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TENANTS = "tenants:\n  - name: t\n    hostnames: [t.example.test]\n    mtls: { mode: 'off' }\n";
let n = 0;
async function load(section: string): ReturnType<typeof attemptConfigLoad> {
  const file = join(dir, `c${n++}.yaml`);
  writeFileSync(file, `${TENANTS}${section}`);
  return attemptConfigLoad(file, {});
}
async function issues(section: string): Promise<string[]> {
  const r = await load(section);
  if (r.ok) throw new Error('loaded');
  return (r.error as unknown as { issues: Array<{ field: string; message: string }> }).issues.map((i) => `${i.field}: ${i.message}`);
}

describe('the hostnames config section', () => {
  it('reads the keyring source and the ACME CA, with paths relative to the config file', async () => {
    const r = await load(
      'hostnames:\n  kek_file: secrets/kek\n  acme:\n    directory_url: https://acme.example.test/dir\n    email: ops@example.test\n    ca_file: acme-ca.pem\n    expected_addresses: [203.0.113.10, "2001:db8::1"]\n    dns_servers: ["127.0.0.1:5353"]\n',
    );
    if (!r.ok) throw r.error;
    expect(r.config.hostnames).toEqual({
      kekFile: join(dir, 'secrets/kek'),
      kekEnv: 'BOUNCER_HOSTNAME_KEK',
      acme: { directoryUrl: 'https://acme.example.test/dir', email: 'ops@example.test', caFile: join(dir, 'acme-ca.pem'), expectedAddresses: ['203.0.113.10', '2001:db8::1'], dnsServers: ['127.0.0.1:5353'], challenges: ['http-01'], tlsAlpnListen: { host: '127.0.0.1', port: 8444 } },
    });
  });

  it('answers HTTP-01 only unless the challenges say otherwise, in the order given', async () => {
    const r = await load('hostnames:\n  acme:\n    directory_url: https://acme.example.test/dir\n    challenges: [tls-alpn-01, http-01]\n    tls_alpn_listen: 0.0.0.0:9443\n');
    if (!r.ok) throw r.error;
    expect(r.config.hostnames?.acme).toMatchObject({ challenges: ['tls-alpn-01', 'http-01'], tlsAlpnListen: { host: '0.0.0.0', port: 9443 } });
    const only = await load('hostnames:\n  acme:\n    directory_url: https://acme.example.test/dir\n    challenges: [tls-alpn-01]\n');
    if (!only.ok) throw only.error;
    expect(only.config.hostnames?.acme).toMatchObject({ challenges: ['tls-alpn-01'], tlsAlpnListen: { host: '127.0.0.1', port: 8444 } });
  });

  it('defaults to the environment keyring and no ACME', async () => {
    const r = await load('hostnames: {}\n');
    if (!r.ok) throw r.error;
    expect(r.config.hostnames).toEqual({ kekFile: undefined, kekEnv: 'BOUNCER_HOSTNAME_KEK', acme: undefined });
  });

  it.each([
    ['hostnames:\n  kek_file: k\n  kek_env: K\n', 'hostnames.kek_env: set kek_file or kek_env, not both'],
    ['hostnames:\n  kek_env: lower-case\n', 'hostnames.kek_env: \'lower-case\' is not an environment variable name'],
    ['hostnames:\n  acme: { email: a@b.test }\n', 'hostnames.acme.directory_url: directory_url is required'],
    ['hostnames:\n  acme: { directory_url: "http://acme.test/dir" }\n', 'hostnames.acme.directory_url: must be an https:// URL'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", email: nobody }\n', "hostnames.acme.email: 'nobody' is not an e-mail address"],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", expected_addresses: [pay.example] }\n', "hostnames.acme.expected_addresses[0]: 'pay.example' is not an IP address"],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", dns_servers: ["1.1.1.1"] }\n', 'hostnames.acme.dns_servers: dns_servers is used only by the DNS check'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", expected_addresses: [1.2.3.4], dns_servers: ["dns.example:53"] }\n', "hostnames.acme.dns_servers[0]: 'dns.example:53' must be an IP address"],
    ['hostnames:\n  acme_url: x\n', "unknown field 'acme_url'"],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenges: [dns-01] }\n', "hostnames.acme.challenges[0]: challenges must be one of http-01, tls-alpn-01; got 'dns-01'"],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenges: [tls-alpn-01, http-01, tls-alpn-01] }\n', "hostnames.acme.challenges[2]: 'tls-alpn-01' is listed twice"],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenges: [] }\n', 'hostnames.acme.challenges'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenges: tls-alpn-01 }\n', 'hostnames.acme.challenges'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", tls_alpn_listen: "127.0.0.1:8444" }\n', 'hostnames.acme.tls_alpn_listen: tls_alpn_listen is used only by the TLS-ALPN-01 responder: add tls-alpn-01'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenges: [tls-alpn-01], tls_alpn_listen: "127.0.0.1:99999" }\n', 'hostnames.acme.tls_alpn_listen'],
    ['hostnames:\n  acme: { directory_url: "https://acme.test/dir", challenge: [tls-alpn-01] }\n', "unknown field 'challenge' (did you mean 'challenges'?)"],
  ])('refuses %j', async (section, message) => {
    expect((await issues(section)).join('\n')).toContain(message);
  });
});

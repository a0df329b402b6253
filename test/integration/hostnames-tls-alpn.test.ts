// ACME TLS-ALPN-01 (RFC 8737) end to end: one `bouncer serve` (in process) whose
// hostnames answer `tls-alpn-01` first (`challenges: [tls-alpn-01, http-01]`), Pebble
// as the CA, and a real Envoy started only from `bouncer envoy render --xds`, so its
// listener, the `acme-tls/1` chains and the certificates all come from bouncer.
//
// HTTP-01 cannot succeed here: Envoy has no plain HTTP listener (`envoy_http_listen:
// off`) and Pebble's httpPort is a trap that closes every connection (and counts them:
// none are expected). Pebble's tlsPort is a small
// relay in front of Envoy's public listener; it passes Pebble's connections through,
// except that it can hold one (so the test looks at Envoy while the challenge is
// pending) or refuse one (so a validation fails). hostnames-tls-alpn-internal.test.ts
// runs this file with `xds.listener_mode: internal`.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { X509Certificate as PeculiarCertificate } from '@peculiar/x509';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { execFile } from 'node:child_process';
import { hashAdminToken } from '../../src/admin/tokens.js';
import { loadConfig } from '../../src/config/load.js';
import { parseClientHello } from '../../src/hostnames/client-hello.js';
import { ACME_IDENTIFIER_OID } from '../../src/hostnames/tls-alpn-responder.js';
import { createLogger } from '../../src/observability/logger.js';
import { createRootCa, issueServerCert } from '../../src/pki/generate.js';
import { startBouncer, type BouncerApp } from '../../src/serve/start.js';
import { runCaptured } from '../helpers/cli.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { startEnvoyFromBootstrap, type XdsEnvoy } from '../helpers/envoy-xds.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort, waitFor } from '../helpers/ports.js';
import { hostnamesApi, untilServedCertificate } from '../helpers/hostnames-api.js';

const VALIDITY_SEC = 20;
const TOKEN = 'hostnames-tls-alpn-admin-token-0123456789';
const LISTENER_MODE = process.env.BOUNCER_E2E_XDS_LISTENER_MODE === 'internal' ? 'internal' : 'chains';
const ONE = 'pay.one.test';
/** A hostname whose validation connection the relay refuses. */
const FAIL = 'fail.one.test';
/** A wildcard uploaded for tenant one, and a name under it issued by ACME. */
const WILD = '*.shop.one.test';
const UNDER = 'a.shop.one.test';

let dir: string;
let dns: DnsResponder;
let pebble: Pebble;
let app: BouncerApp;
let envoy: XdsEnvoy;
let relay: Relay;
let tlsPort: number;
let pebbleRoot: string;
let logs = '';
/** Pebble's httpPort: closes every connection at once (HTTP-01 cannot succeed) and counts them. */
let httpTrap: TcpServer;
let httpTrapHits = 0;

const api = hostnamesApi(() => app.adminPort as number, TOKEN);
const admin = api.call;
const untilState = api.untilState;

/**
 * Pebble's way to Envoy's public listener. Reads each ClientHello's SNI: a name in
 * `refuse` is closed, the name in `holdFor` waits until `release()`, the rest go through.
 */
interface Relay {
  readonly port: number;
  holdFor: string | undefined;
  readonly refuse: Set<string>;
  /** Resolves when a connection for `holdFor` is being held. */
  held(timeoutMs: number): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

async function startRelay(target: () => number): Promise<Relay> {
  const waiting: Array<() => void> = [];
  let heldOne = false;
  const sockets = new Set<Socket>();
  const pass = (socket: Socket, head: Buffer): void => {
    const up = tcpConnect(target(), '127.0.0.1', () => {
      up.write(head);
      socket.pipe(up).pipe(socket);
      socket.resume();
    });
    sockets.add(up);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  };
  const server: TcpServer = createTcpServer((socket) => {
    sockets.add(socket);
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const parsed = parseClientHello(head);
      if (parsed.kind === 'incomplete') return;
      socket.off('data', onData);
      socket.pause();
      const sni = parsed.kind === 'ok' ? parsed.hello.serverName : undefined;
      if (sni !== undefined && relayState.refuse.has(sni)) return void socket.destroy();
      if (sni !== undefined && sni === relayState.holdFor) {
        heldOne = true;
        waiting.push(() => pass(socket, head));
        return;
      }
      pass(socket, head);
    };
    socket.on('data', onData);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const relayState: Relay = {
    port: (server.address() as { port: number }).port,
    holdFor: undefined,
    refuse: new Set(),
    held: (timeoutMs) => waitFor(`Pebble to connect for ${relayState.holdFor ?? '?'}`, async () => heldOne || undefined, timeoutMs, 20).then(() => undefined),
    release() {
      relayState.holdFor = undefined;
      heldOne = false;
      for (const go of waiting.splice(0)) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return relayState;
}

interface Handshake {
  readonly cert: X509Certificate | undefined;
  readonly alpn: string | false | null | undefined;
}

/** One handshake with Envoy's public listener, offering `alpn`. */
function handshake(servername: string, alpn: string[]): Promise<Handshake> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port: tlsPort, servername, ALPNProtocols: alpn, rejectUnauthorized: false });
    socket.setTimeout(10_000, () => socket.destroy());
    socket.once('secureConnect', () => {
      resolve({ cert: socket.getPeerX509Certificate(), alpn: socket.alpnProtocol });
      socket.destroy();
    });
    socket.once('error', () => resolve({ cert: undefined, alpn: undefined }));
    socket.once('close', () => resolve({ cert: undefined, alpn: undefined }));
  });
}

/** `openssl s_client -servername <name> -alpn <alpn>` against Envoy, then the server certificate it printed as `openssl x509 -text`. */
async function sClientAlpn(servername: string, alpn: string): Promise<string> {
  const run = (args: string[], input: string): Promise<string> =>
    new Promise((resolve) => {
      const child = execFile('openssl', args, { timeout: 15_000 }, (_e, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
      child.stdin?.end(input);
    });
  const session = await run(['s_client', '-connect', `127.0.0.1:${tlsPort}`, '-servername', servername, '-alpn', alpn], '');
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(session)?.[0];
  return `${session}\n${pem === undefined ? '' : await run(['x509', '-noout', '-text'], pem)}`;
}

/** Runs the probes of a held validation, then lets Pebble through whatever happened (a failed probe must not time the next tests out). */
async function whileHeld(probes: () => Promise<void>): Promise<void> {
  try {
    await probes();
  } finally {
    relay.release();
  }
}

/** The digest in a certificate's acmeIdentifier extension, or undefined when it has none. */
function acmeIdentifier(cert: X509Certificate): { critical: boolean; digest: Buffer } | undefined {
  const ext = new PeculiarCertificate(cert.raw).getExtension(ACME_IDENTIFIER_OID);
  if (!ext) return undefined;
  return { critical: ext.critical, digest: Buffer.from(AsnConvert.parse(ext.value, OctetString).buffer) };
}

/** A validation certificate for `hostname`: SAN the hostname, critical acmeIdentifier of 32 bytes, ALPN acme-tls/1. */
function expectValidationCertificate(got: Handshake, hostname: string): void {
  expect(got.alpn).toBe('acme-tls/1');
  expect(got.cert?.checkHost(hostname)).toBe(hostname);
  const id = acmeIdentifier(got.cert as X509Certificate);
  expect(id?.critical).toBe(true);
  expect(id?.digest).toHaveLength(32);
  expect(got.cert?.issuer).toBe(got.cert?.subject);
}

/** Waits until Envoy presents a Pebble certificate for `hostname` (other than `notSerial`). */
const untilServedByPebble = async (hostname: string, notSerial?: string, timeoutMs?: number): Promise<X509Certificate> => (await untilServedCertificate(tlsPort, hostname, { notSerial, issuer: /Pebble/, timeoutMs })).leaf;

const acmeTlsConnections = (): Promise<number> => envoy.stat('cluster.bouncer_acme_tls.upstream_cx_total').then((n) => n ?? 0);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'bouncer-hostnames-tls-alpn-'));
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => (logs += c.toString()));
  dns = await startDnsResponder({ [ONE]: ['127.0.0.1'], [FAIL]: ['127.0.0.1'], [UNDER]: ['127.0.0.1'] });
  const [authzPort, httpPort, xdsPort, envoyAdminPort, tlsAlpnPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  tlsPort = await freePort();
  relay = await startRelay(() => tlsPort);
  httpTrap = createTcpServer((socket) => {
    httpTrapHits++;
    socket.destroy();
  });
  await new Promise<void>((r) => httpTrap.listen(0, '127.0.0.1', r));
  pebble = await startPebble({ httpPort: (httpTrap.address() as { port: number }).port, tlsPort: relay.port, dnsServer: dns.address, certificateValidityPeriodSec: VALIDITY_SEC });
  pebbleRoot = await pebble.issuingRoot();
  const devices = await createRootCa({ commonName: 'One Devices CA' });
  writeFileSync(join(dir, 'one-ca.pem'), devices.certPem);
  writeFileSync(join(dir, 'pebble-tls.pem'), pebble.tlsCaPem);
  writeFileSync(
    join(dir, 'bouncer.yaml'),
    `
listen: { authz: 127.0.0.1:${authzPort}, http: 127.0.0.1:${httpPort} }
tenants:
  - { name: one, hostnames: [${ONE}, ${FAIL}, "${WILD}", ${UNDER}], mtls: { mode: require, ca: ./one-ca.pem } }
admin:
  listen: 127.0.0.1:0
  tokens:
    - { id: ops, secret_sha256: ${hashAdminToken(TOKEN)}, scopes: [hostnames:write, hostnames:read] }
hostnames:
  kek_env: E2E_KEK
  acme:
    directory_url: ${pebble.directoryUrl}
    ca_file: pebble-tls.pem
    expected_addresses: [127.0.0.1]
    dns_servers: ["${dns.address}"]
    challenges: [tls-alpn-01, http-01]
    tls_alpn_listen: 127.0.0.1:${tlsAlpnPort}
xds:
  listen: 127.0.0.1:${xdsPort}
  envoy_listen: 127.0.0.1:${tlsPort}
  envoy_http_listen: "off"
  listener_mode: ${LISTENER_MODE}
`,
  );
  const env = { E2E_KEK: `e2e1:${randomBytes(32).toString('base64')}` };
  app = await startBouncer({ config: await loadConfig(join(dir, 'bouncer.yaml'), env), logger: createLogger('info', sink), env, watch: false });
  // The bootstrap as an operator renders it: bouncer_acme_tls is bouncer's TLS-ALPN-01 responder.
  const bootstrap = join(dir, 'envoy-xds.yaml');
  const rendered = await runCaptured([
    'envoy', 'render', '--xds',
    '--xds-server', `127.0.0.1:${app.xdsPort}`,
    '--admin', `127.0.0.1:${envoyAdminPort}`,
    '--authz', `127.0.0.1:${app.authzPort}`,
    '--upstream', `127.0.0.1:${await freePort()}`,
    '--acme', `127.0.0.1:${app.httpPort}`,
    '--acme-tls', `127.0.0.1:${tlsAlpnPort}`,
    '--node-id', 'tls-alpn-edge',
    '-o', bootstrap,
  ]);
  expect(rendered).toMatchObject({ code: 0, err: '' });
  expect(readFileSync(bootstrap, 'utf8')).toContain(`port_value: ${tlsAlpnPort}`);
  envoy = await startEnvoyFromBootstrap(bootstrap, envoyAdminPort);
  await waitFor('Envoy to take the public listener from bouncer', async () => ((await envoy.stat('listener_manager.total_listeners_active')) ?? 0) >= 1, 20_000, 100);
}, 60_000);

afterAll(async () => {
  await envoy?.stop();
  await app?.close(0);
  await relay?.close();
  if (httpTrap) await new Promise((r) => httpTrap.close(r));
  await pebble?.stop();
  await dns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe(`ACME TLS-ALPN-01 through Envoy (listener_mode ${LISTENER_MODE}), Pebble as the CA`, () => {
  let firstSerial: string;

  it('issues a hostname over TLS-ALPN-01: while pending, only acme-tls/1 for its SNI gets the validation certificate; then Envoy serves the issued one', async () => {
    expect(await envoy.stat('listener_manager.total_listeners_active')).toBe(1); // no plain HTTP listener: no HTTP-01
    const before = await acmeTlsConnections();
    relay.holdFor = ONE;
    const added = await admin('POST', '', { tenant: 'one', hostname: ONE });
    expect(added.status).toBe(201);
    expect(added.json).toMatchObject({ state: 'pending_validation', certificate: null });
    await relay.held(20_000);
    await whileHeld(async () => {
      // Pebble is connected and waiting: the challenge is pending now.
      expect((await admin('GET', `/${ONE}`)).json.state).toBe('issuing');
      expectValidationCertificate(await handshake(ONE, ['acme-tls/1']), ONE);
      // The same seen by openssl, as an operator would look.
      const seen = await sClientAlpn(ONE, 'acme-tls/1');
      expect(seen).toContain('ALPN protocol: acme-tls/1');
      expect(seen).toMatch(/1\.3\.6\.1\.5\.5\.7\.1\.31: critical/);
      // Another ALPN: the hostname has no chain yet, so Envoy closes; never the validation certificate.
      expect((await handshake(ONE, ['h2', 'http/1.1'])).cert).toBeUndefined();
      // Another SNI with acme-tls/1 reaches bouncer, which has no challenge for it and answers nothing.
      expect((await handshake('other.one.test', ['acme-tls/1'])).cert).toBeUndefined();
    });

    const active = await untilState(ONE, 'active');
    expect(active.reason).toBeNull();
    expect(active.certificate?.issuer).toMatch(/Pebble/);
    // Pebble's validations (and the test's probes) went through Envoy's bouncer_acme_tls cluster.
    expect(await acmeTlsConnections()).toBeGreaterThan(before);
    expect(logs).toMatch(new RegExp(`"hostname":"${ONE}"[^\\n]*validation certificate presented`));
    // Counted by result: Pebble's handshakes and the test's answered, the other SNI's closed.
    const counted = new Map(((await app.metrics.registry.getSingleMetric('bouncer_acme_tls_alpn_connections_total')?.get())?.values ?? []).map((v) => [v.labels.result, v.value]));
    expect(counted.get('answered')).toBeGreaterThanOrEqual(2);
    expect(counted.get('no_challenge')).toBeGreaterThanOrEqual(1);
    const leaf = await untilServedByPebble(ONE);
    // Issued by Pebble: the chain bouncer's catalog holds goes up to Pebble's issuing root.
    const chain = (app.hostnameCatalog?.get(ONE)?.certificateChainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b));
    expect(leaf.verify((chain[1] as X509Certificate).publicKey)).toBe(true);
    expect((chain[1] as X509Certificate).verify(new X509Certificate(pebbleRoot).publicKey)).toBe(true);
    firstSerial = leaf.serialNumber;
    // The challenge is over: acme-tls/1 gets nothing any more.
    expect((await handshake(ONE, ['acme-tls/1'])).cert).toBeUndefined();
    // Held for the renewal, which starts about 13 s after issuance.
    relay.holdFor = ONE;
  }, 60_000);

  it('renews over TLS-ALPN-01 while the hostname is served: its SNI with acme-tls/1 gets the validation certificate, any other ALPN the served one', async () => {
    await relay.held(40_000);
    await whileHeld(async () => {
      expect((await admin('GET', `/${ONE}`)).json.state).toBe('renewing');
      expectValidationCertificate(await handshake(ONE, ['acme-tls/1']), ONE);
      const served = await handshake(ONE, ['h2', 'http/1.1']);
      expect(served.cert?.serialNumber).toBe(firstSerial);
      expect(served.cert && acmeIdentifier(served.cert)).toBeUndefined();
    });
    const renewed = await untilServedByPebble(ONE, firstSerial, 30_000);
    expect(renewed.serialNumber).not.toBe(firstSerial);
  }, 60_000);

  it('a name under an uploaded wildcard is validated through the wildcard\'s acme-tls/1 chain', async () => {
    const root = await createRootCa({ commonName: 'Shop Upload Root' });
    const wild = await issueServerCert({ commonName: 'shop wildcard', issuer: root, dns: [WILD] });
    const uploaded = await admin('PUT', `/${encodeURIComponent(WILD)}/certificate`, { tenant: 'one', certificate_chain_pem: `${wild.certPem}${root.certPem}`, private_key_pem: wild.keyPem });
    expect(uploaded.status).toBe(200);
    await waitFor('Envoy to serve the wildcard', async () => (await handshake(UNDER, ['h2'])).cert?.subject.includes('shop wildcard') || undefined, 20_000, 100);
    relay.holdFor = UNDER;
    expect((await admin('POST', '', { tenant: 'one', hostname: UNDER })).status).toBe(201);
    await relay.held(20_000);
    await whileHeld(async () => {
      expectValidationCertificate(await handshake(UNDER, ['acme-tls/1']), UNDER);
      expect((await handshake(UNDER, ['h2'])).cert?.subject).toContain('shop wildcard');
    });
    await untilState(UNDER, 'active');
    await untilServedByPebble(UNDER);
  }, 60_000);

  it('a validation that cannot connect fails with challenge_failed, the CA\'s words and the challenge type in the API', async () => {
    relay.refuse.add(FAIL);
    expect((await admin('POST', '', { tenant: 'one', hostname: FAIL })).status).toBe(201);
    const failed = await untilState(FAIL, 'failed');
    expect(failed.reason).toBe('challenge_failed');
    // The type, then the CA's problem and words (Pebble: "unauthorized: Failed to connect to 127.0.0.1:<port> for the tls-alpn-01 challenge").
    expect(failed.reason_detail).toMatch(/^tls-alpn-01: \w+: .*connect/i);
    expect(logs).toMatch(new RegExp(`"hostname":"${FAIL}"[^\\n]*"state":"failed","reason":"challenge_failed"`));
    // The others are still served.
    await untilServedByPebble(ONE);
  }, 45_000);

  it('never logged key material, and HTTP-01 was never asked for', () => {
    expect(logs).not.toMatch(/PRIVATE KEY/);
    // Pebble never tried HTTP-01: its httpPort saw no connection.
    expect(httpTrapHits).toBe(0);
    expect(envoy.exited()).toBe(false);
  });
});

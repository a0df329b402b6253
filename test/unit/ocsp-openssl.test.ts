/**
 * OCSP against a real responder: `openssl ocsp` over an index file with good,
 * revoked and unknown certificates; a responder that is down, one signing with
 * the wrong key, delegated responders with and without id-kp-OCSPSigning, a
 * stale response and a nonce that comes back changed.
 */
import { jest } from '@jest/globals';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { ParsedCert } from '../../src/core/cert-parse.js';
import type { RevocationAnswer, RevocationMode } from '../../src/core/revocation-policy.js';
import type { Tenant } from '../../src/core/tenant.js';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { createOcspChecker, type OcspChecker } from '../../src/revocation/ocsp-checker.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOpensslPki, issueInPki, startOcspResponder, type OcspResponder, type OpensslPki } from '../helpers/openssl-ocsp.js';
import { createRevocationView } from '../../src/revocation/revocation-view.js';
import { freePort } from '../helpers/ports.js';

jest.setTimeout(120_000);

let pki: OpensslPki;
let aiaPort: number;
const responders: OcspResponder[] = [];
const NONCE = Buffer.from('00112233445566778899aabbccddeeff', 'hex');

beforeAll(async () => {
  aiaPort = await freePort();
  pki = createOpensslPki(`http://127.0.0.1:${aiaPort}`);
});

afterAll(async () => {
  for (const r of responders.splice(0)) await r.close();
  pki?.remove();
});

async function responder(signer: string, key: string, extra: readonly string[] = [], port?: number): Promise<OcspResponder> {
  const r = await startOcspResponder(pki, signer, key, extra, port);
  responders.push(r);
  return r;
}

function tenant(mode: RevocationMode, ocspNonce = true): Tenant {
  return { name: 'acme', hostnames: ['acme.test'], mtls: { mode: 'require', trust: null, exemptPaths: [], revocation: { ocsp: mode, ocspUrl: undefined, ocspNonce, crl: 'off', crlUrls: [], crlDistributionPoints: false } } };
}

function setup(offsetMs = 0): { checker: OcspChecker; registry: Registry } {
  const registry = new Registry();
  const checker = createOcspChecker({
    now: () => Date.now() + offsetMs,
    logger: pino({ level: 'silent' }),
    metrics: createRevocationMetrics(registry),
    settings: { ...REVOCATION_DEFAULTS },
    nonce: () => NONCE,
  });
  return { checker, registry };
}

/** Asks, waits for the first exchange when told to, and asks again: what a first request under `require` sees. */
async function ask(checker: OcspChecker, mode: 'prefer' | 'require', url: string | undefined, leaf: ParsedCert, offsetMs = 0): Promise<RevocationAnswer> {
  const first = checker.answer(tenant(mode), mode, url, leaf, pki.ca, Date.now() + offsetMs);
  if (first.kind === 'deny' && first.settled) {
    await first.settled;
    return checker.answer(tenant(mode), mode, url, leaf, pki.ca, Date.now() + offsetMs);
  }
  await checker.idle();
  return checker.answer(tenant(mode), mode, url, leaf, pki.ca, Date.now() + offsetMs);
}

describe('responder signing as the CA, found through the leaf authorityInfoAccess', () => {
  beforeAll(async () => {
    await responder('ca', 'ca', ['-nmin', '5'], aiaPort);
  });

  test('good passes, and the next request is answered from the cache', async () => {
    const { checker, registry } = setup();
    expect(await ask(checker, 'require', undefined, pki.leaves.good!.cert)).toEqual({ kind: 'pass' });
    expect(checker.answer(tenant('require'), 'require', undefined, pki.leaves.good!.cert, pki.ca, Date.now())).toEqual({ kind: 'pass' });
    await checker.idle();
    expect(await registry.metrics()).toContain('bouncer_ocsp_responses_total{tenant="acme",result="good"} 1');
  });

  test('without a nonce (ocsp_nonce: false) the answer is used on its times alone', async () => {
    const { checker } = setup();
    const t = tenant('require', false);
    const first = checker.answer(t, 'require', undefined, pki.leaves.revoked!.cert, pki.ca, Date.now());
    expect(first).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    await (first.kind === 'deny' ? first.settled : undefined);
    expect(checker.answer(t, 'require', undefined, pki.leaves.revoked!.cert, pki.ca, Date.now())).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked' });
  });

  test('an ageing answer still answers, and is refreshed in the background when used', async () => {
    const { checker, registry } = setup();
    const leaf = pki.leaves.good!.cert;
    expect(await ask(checker, 'require', undefined, leaf)).toEqual({ kind: 'pass' });
    // nextUpdate is 5 min away (plus 1 min skew): at +5 min three quarters of its life are gone.
    const later = Date.now() + 5 * 60_000;
    expect(checker.answer(tenant('require'), 'require', undefined, leaf, pki.ca, later)).toEqual({ kind: 'pass' });
    await checker.idle();
    expect(await registry.metrics()).toContain('bouncer_ocsp_responses_total{tenant="acme",result="good"} 2');
    // Past its expiry without a newer answer, it no longer counts.
    expect(checker.answer(tenant('require'), 'require', undefined, leaf, pki.ca, Date.now() + 7 * 60_000)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    await checker.idle();
  });

  test('revoked is denied with client_cert_revoked, under prefer too', async () => {
    for (const mode of ['require', 'prefer'] as const) {
      const { checker } = setup();
      const answer = await ask(checker, mode, undefined, pki.leaves.revoked!.cert);
      expect(answer).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked' });
    }
  });

  test('unknown: denied under require, soft-fail under prefer (counted)', async () => {
    const strict = setup();
    expect(await ask(strict.checker, 'require', undefined, pki.leaves.unknown!.cert)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unknown' });
    const soft = setup();
    expect(await ask(soft.checker, 'prefer', undefined, pki.leaves.unknown!.cert)).toEqual({ kind: 'pass' });
    expect(await soft.registry.metrics()).toContain('bouncer_ocsp_soft_fail_total{tenant="acme",reason="unknown"} 1');
  });

  test('a stale response (nextUpdate 5 min, clock 10 min ahead) is not used', async () => {
    const { checker, registry } = setup(10 * 60_000);
    expect(await ask(checker, 'require', undefined, pki.leaves.good!.cert, 10 * 60_000)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    expect(await registry.metrics()).toContain('result="stale"');
  });
});

describe('responder failures', () => {
  test('a responder that is down: denied under require, soft-fail under prefer with the metric', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const strict = setup();
    expect(await ask(strict.checker, 'require', url, pki.leaves.good!.cert)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    const soft = setup();
    expect(await ask(soft.checker, 'prefer', url, pki.leaves.good!.cert)).toEqual({ kind: 'pass' });
    expect(await soft.registry.metrics()).toContain('bouncer_ocsp_soft_fail_total{tenant="acme",reason="network"} 1');
  });

  test('a responder signing with the wrong key is refused (bad_signature)', async () => {
    const r = await responder('stray', 'stray');
    const { checker, registry } = setup();
    expect(await ask(checker, 'require', r.url, pki.leaves.good!.cert)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    expect(await registry.metrics()).toContain('result="bad_signature"');
  });

  test('a delegated responder with id-kp-OCSPSigning is accepted; one without it is refused', async () => {
    const delegated = await responder('responder', 'responder');
    const ok = setup();
    expect(await ask(ok.checker, 'require', delegated.url, pki.leaves.good!.cert)).toEqual({ kind: 'pass' });
    expect(await ask(ok.checker, 'require', delegated.url, pki.leaves.revoked!.cert)).toMatchObject({ reason: 'client_cert_revoked' });

    const noEku = await responder('noeku', 'noeku');
    const bad = setup();
    expect(await ask(bad.checker, 'require', noEku.url, pki.leaves.good!.cert)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
    expect(await bad.registry.metrics()).toContain('result="unauthorized_responder"');
  });

  test('a nonce changed on the way is refused (nonce_mismatch)', async () => {
    const upstream = await responder('ca', 'ca');
    // A proxy that swaps the request nonce: the responder then echoes another one.
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const at = body.indexOf(NONCE);
        if (at >= 0) body[at] = (body[at] as number) ^ 0xff;
        const out = request(upstream.url, { method: 'POST', headers: { 'content-type': 'application/ocsp-request', 'content-length': body.length } }, (up) => {
          res.writeHead(up.statusCode ?? 502, { 'content-type': 'application/ocsp-response' });
          up.pipe(res);
        });
        out.end(body);
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const { checker, registry } = setup();
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      expect(await ask(checker, 'require', url, pki.leaves.good!.cert)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
      expect(await registry.metrics()).toContain('result="nonce_mismatch"');
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('an oversized answer is refused', async () => {
    const big: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/ocsp-response' });
      res.end(Buffer.alloc(REVOCATION_DEFAULTS.ocspMaxResponseBytes + 1));
    });
    await new Promise<void>((r) => big.listen(0, '127.0.0.1', r));
    try {
      const { checker, registry } = setup();
      expect(await ask(checker, 'require', `http://127.0.0.1:${(big.address() as AddressInfo).port}`, pki.leaves.good!.cert)).toMatchObject({ reason: 'client_cert_ocsp_unavailable' });
      expect(await registry.metrics()).toContain('result="too_large"');
    } finally {
      await new Promise<void>((r) => big.close(() => r()));
    }
  });
});

describe('CA certificates of the path (mtls.revocation.intermediates)', () => {
  // Two intermediate CAs under the test CA, with the serials the responder's
  // index holds as good (1001) and revoked (1002), naming a responder that
  // signs as the test CA; a device under each, naming no responder.
  const CA_EXT = (aia: string): string => `basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nauthorityInfoAccess=OCSP;URI:${aia}\n`;
  const DEVICE_EXT = 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n';
  let chains: { good: ParsedCert[]; revoked: ParsedCert[] };

  beforeAll(async () => {
    const r = await responder('ca', 'ca', ['-nmin', '5']);
    const goodCa = issueInPki(pki, 'int-good', '/CN=Good Intermediate', '1001', CA_EXT(r.url));
    const revokedCa = issueInPki(pki, 'int-revoked', '/CN=Revoked Intermediate', '1002', CA_EXT(r.url));
    chains = {
      good: [issueInPki(pki, 'dev-good', '/CN=device under good intermediate', '5001', DEVICE_EXT, 'int-good'), goodCa, pki.ca],
      revoked: [issueInPki(pki, 'dev-revoked', '/CN=device under revoked intermediate', '5002', DEVICE_EXT, 'int-revoked'), revokedCa, pki.ca],
    };
  });

  function chainTenant(intermediates: boolean): Tenant {
    return { name: 'acme', hostnames: ['acme.test'], mtls: { mode: 'require', trust: null, exemptPaths: [], revocation: { ocsp: 'prefer', ocspUrl: undefined, ocspNonce: true, crl: 'off', crlUrls: [], crlDistributionPoints: false, intermediates } } };
  }

  /** Asks the view until no exchange is pending: what a device sees once answers are cached. */
  async function settle(view: ReturnType<typeof createRevocationView>, checker: OcspChecker, t: Tenant, chain: ParsedCert[]): Promise<RevocationAnswer> {
    view.check(t, chain, Date.now());
    await checker.idle();
    return view.check(t, chain, Date.now());
  }

  test('a revoked intermediate is denied when asked for; the leaf alone is not enough', async () => {
    const { checker } = setup();
    const view = createRevocationView({ ocsp: checker });
    expect(await settle(view, checker, chainTenant(true), chains.revoked)).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked', detail: expect.stringMatching(/Revoked Intermediate/) });
    expect(await settle(view, checker, chainTenant(true), chains.good)).toEqual({ kind: 'pass' });
    expect(await settle(view, checker, chainTenant(false), chains.revoked)).toEqual({ kind: 'pass' });
  });

  test("the configured ocsp_url serves the leaf only: a CA certificate is asked at the responder it names", async () => {
    const { checker } = setup();
    const view = createRevocationView({ ocsp: checker });
    const dead = `http://127.0.0.1:${await freePort()}`;
    const base = chainTenant(true);
    const t: Tenant = { ...base, mtls: { ...base.mtls, revocation: { ...(base.mtls.revocation as NonNullable<Tenant['mtls']['revocation']>), ocspUrl: dead } } };
    expect(await settle(view, checker, t, chains.revoked)).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked', detail: expect.stringMatching(/Revoked Intermediate/) });
  });
});

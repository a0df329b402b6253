/**
 * CRLs from the network against a real local HTTP server: fetched, verified,
 * refreshed before nextUpdate, the last good one kept when the server then
 * fails or serves something worse (lower cRLNumber, another signer, too big),
 * and the stale alarm once nextUpdate passes without a successor. Then the
 * same through the revocation view: a listed certificate is denied.
 */
import { jest } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseCertificateBundle, type ParsedCert } from '../../src/core/cert-parse.js';
import { judgeCrlUpdate, planCrlRefresh } from '../../src/core/crl-update.js';
import { parseCrlBundle, type ParsedCrl } from '../../src/core/crl.js';
import type { Tenant } from '../../src/core/tenant.js';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { createRootCa, issueClientCert, issueCrl, type KeyPairPem } from '../../src/pki/generate.js';
import { createCrlFetcher, type CrlFetcher } from '../../src/revocation/crl-fetcher.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOcspChecker } from '../../src/revocation/ocsp-checker.js';
import { createRevocationView } from '../../src/revocation/revocation-view.js';
import { DAY, makeCrl, makeLeaf, makeRoot } from '../helpers/pki-fixtures.js';
import { waitFor } from '../helpers/ports.js';
import { gn, rawExtension, tlv } from '../helpers/x509-extensions.js';

jest.setTimeout(60_000);

let ca: KeyPairPem;
let otherCa: KeyPairPem;
let caCert: ParsedCert;
let revokedLeaf: ParsedCert;
let goodLeaf: ParsedCert;

const cert = (pem: string): ParsedCert => parseCertificateBundle(pem)[0] as ParsedCert;

beforeAll(async () => {
  ca = await createRootCa({ commonName: 'CRL Test CA', keyAlgorithm: 'ec-p256' });
  // Same name, another key: its CRLs must not verify.
  otherCa = await createRootCa({ commonName: 'CRL Test CA', keyAlgorithm: 'ec-p256' });
  caCert = cert(ca.certPem);
  revokedLeaf = cert((await issueClientCert({ issuer: ca, commonName: 'revoked-device' })).certPem);
  goodLeaf = cert((await issueClientCert({ issuer: ca, commonName: 'good-device' })).certPem);
});

function crlOf(pem: string): ParsedCrl {
  return parseCrlBundle(pem)[0] as ParsedCrl;
}

/** A local CRL server whose answer the test changes as it goes; records when each request came. */
interface CrlServer {
  readonly url: string;
  body: Buffer | string;
  status: number;
  readonly hits: number[];
  nextHit(): Promise<number>;
  close(): Promise<void>;
}

async function serveCrl(): Promise<CrlServer> {
  const waiters: Array<(t: number) => void> = [];
  const state = {
    body: '' as Buffer | string,
    status: 200,
    hits: [] as number[],
  };
  const server: Server = createServer((_req: IncomingMessage, res) => {
    const t = Date.now();
    state.hits.push(t);
    res.writeHead(state.status, { 'content-type': 'application/pkix-crl' });
    res.end(state.body);
    for (const w of waiters.splice(0)) w(t);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ca.crl`,
    nextHit: () => new Promise<number>((r) => waiters.push(r)),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}

function tenantWith(url: string, mode: 'prefer' | 'require' = 'require'): Tenant {
  return {
    name: 'acme',
    hostnames: ['acme.test'],
    mtls: { mode: 'require', trust: { roots: [caCert], crls: [], staleCrl: 'deny' }, exemptPaths: [], revocation: { ocsp: 'off', ocspUrl: undefined, ocspNonce: true, crl: mode, crlUrls: [url], crlDistributionPoints: false } },
  };
}

function fetcher(registry: Registry, overrides: Partial<typeof REVOCATION_DEFAULTS> = {}): CrlFetcher {
  return createCrlFetcher({
    now: Date.now,
    logger: pino({ level: 'silent' }),
    metrics: createRevocationMetrics(registry),
    settings: { ...REVOCATION_DEFAULTS, crlMinRefreshIntervalMs: 100, ...overrides },
  });
}

describe('update rules (pure)', () => {
  test('cRLNumber must not go backwards; another key is refused; a newer CRL replaces', async () => {
    const now = Date.now();
    const c5 = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: 5n, thisUpdate: new Date(now - 1000) }));
    const c4 = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: 4n, thisUpdate: new Date(now) }));
    const c6 = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: 6n, thisUpdate: new Date(now) }));
    const forged = crlOf(await issueCrl({ issuer: otherCa, revoked: [], crlNumber: 9n }));
    const first = judgeCrlUpdate(undefined, c5, [caCert], now, 60_000);
    expect(first).toMatchObject({ ok: true, accepted: { number: 5n } });
    const current = first.ok ? first.accepted : undefined;
    expect(judgeCrlUpdate(current, c4, [caCert], now, 60_000)).toMatchObject({ ok: false, refusal: 'number_regressed' });
    expect(judgeCrlUpdate(current, c6, [caCert], now, 60_000)).toMatchObject({ ok: true, accepted: { number: 6n } });
    expect(judgeCrlUpdate(current, forged, [caCert], now, 60_000)).toMatchObject({ ok: false, refusal: 'bad_signature' });
    const future = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: 7n, thisUpdate: new Date(now + 3_600_000) }));
    expect(judgeCrlUpdate(current, future, [caCert], now, 60_000)).toMatchObject({ ok: false, refusal: 'not_yet_valid' });
  });

  test('cRLNumber beyond 2^53 is compared exactly', async () => {
    const now = Date.now();
    // As doubles, 2^60 and 2^60 + 1 are the same number; as cRLNumbers the second is newer.
    const big = 2n ** 60n;
    const newer = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: big + 1n, thisUpdate: new Date(now - 1000) }));
    const older = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: big, thisUpdate: new Date(now) }));
    expect(Number(big) === Number(big + 1n)).toBe(true);
    const first = judgeCrlUpdate(undefined, newer, [caCert], now, 60_000);
    expect(first).toMatchObject({ ok: true, accepted: { number: big + 1n } });
    const current = first.ok ? first.accepted : undefined;
    expect(judgeCrlUpdate(current, older, [caCert], now, 60_000)).toMatchObject({ ok: false, refusal: 'number_regressed' });
    // The largest cRLNumber RFC 5280 allows (20 octets) is kept to the last digit.
    const max = 2n ** 159n - 1n;
    const top = crlOf(await issueCrl({ issuer: ca, revoked: [], crlNumber: max, thisUpdate: new Date(now) }));
    expect(top.crlNumber).toBe(max.toString());
    expect(judgeCrlUpdate(current, top, [caCert], now, 60_000)).toMatchObject({ ok: true, accepted: { number: max } });
  });

  test.each([
    ['three quarters of the time left', 0, 40_000, 30_000],
    ['capped at the max interval', 0, 10 * 3_600_000, 3_600_000],
    ['never below the min interval', 0, -5_000, 30_000],
    ['no nextUpdate: the max interval', 0, undefined, 3_600_000],
  ])('refresh plan: %s', (_what, now, next, want) => {
    expect(planCrlRefresh(now, next, 30_000, 3_600_000)).toBe(want);
  });
});

describe('fetched from a local HTTP server', () => {
  let server: CrlServer;
  let crls: CrlFetcher | undefined;
  beforeEach(async () => {
    server = await serveCrl();
  });
  afterEach(async () => {
    crls?.close();
    crls = undefined;
    await server.close();
  });

  test('refreshed before nextUpdate; the last good CRL kept when the server fails; stale alarm after nextUpdate', async () => {
    const registry = new Registry();
    const nextUpdate = Date.now() + 3_000;
    server.body = await issueCrl({ issuer: ca, revoked: [{ serialNumber: revokedLeaf.serial }], crlNumber: 1n, thisUpdate: new Date(Date.now() - 1000), nextUpdate: new Date(nextUpdate) });
    const firstHit = server.nextHit();
    crls = fetcher(registry);
    crls.sync([tenantWith(server.url)]);
    await firstHit;
    await waitFor('the first CRL', async () => crls?.lookup('acme', caCert, Date.now()));
    expect(crls.lookup('acme', caCert, Date.now())?.crl.revokedSerials.has(revokedLeaf.serial)).toBe(true);

    // The server fails from now on; the refresh must come before nextUpdate.
    server.status = 500;
    const refreshAt = await server.nextHit();
    expect(refreshAt).toBeLessThan(nextUpdate);
    const kept = crls.lookup('acme', caCert, Date.now());
    expect(kept?.crl.revokedSerials.has(revokedLeaf.serial)).toBe(true);

    await waitFor('the stale alarm', async () => (await registry.metrics()).includes('bouncer_crl_stale{tenant="acme"} 1'), 10_000, 50);
    expect(crls.lookup('acme', caCert, Date.now())).toMatchObject({ stale: true });
    expect(await registry.metrics()).toContain('bouncer_crl_fetches_total{tenant="acme",result="http_status"}');
  });

  test('a lower cRLNumber, a CRL signed by another key and an oversized body are refused; the good one stays', async () => {
    const registry = new Registry();
    server.body = await issueCrl({ issuer: ca, revoked: [{ serialNumber: revokedLeaf.serial }], crlNumber: 10n });
    crls = fetcher(registry, { crlMaxBytes: 4096 });
    crls.sync([tenantWith(server.url)]);
    await waitFor('the first CRL', async () => crls?.lookup('acme', caCert, Date.now()));

    server.body = await issueCrl({ issuer: ca, revoked: [], crlNumber: 9n });
    await crls.refreshNow('acme', server.url);
    server.body = await issueCrl({ issuer: otherCa, revoked: [], crlNumber: 11n });
    await crls.refreshNow('acme', server.url);
    server.body = Buffer.alloc(5000, 0x30);
    await crls.refreshNow('acme', server.url);

    const text = await registry.metrics();
    for (const result of ['number_regressed', 'bad_signature', 'too_large']) expect(text).toContain(`result="${result}"`);
    expect(crls.lookup('acme', caCert, Date.now())?.crl.revokedSerials.has(revokedLeaf.serial)).toBe(true);
  });

  test('through the revocation view: listed denied, others pass; no CRL yet denies under require', async () => {
    const registry = new Registry();
    const metrics = createRevocationMetrics(registry);
    server.status = 503;
    crls = createCrlFetcher({ now: Date.now, logger: pino({ level: 'silent' }), metrics, settings: { ...REVOCATION_DEFAULTS, crlMinRefreshIntervalMs: 100 } });
    const ocsp = createOcspChecker({ now: Date.now, logger: pino({ level: 'silent' }), metrics, settings: { ...REVOCATION_DEFAULTS } });
    const view = createRevocationView({ ocsp, crls, metrics, logger: pino({ level: 'silent' }) });
    const tenant = tenantWith(server.url);
    crls.sync([tenant]);
    expect(view.check(tenant, [goodLeaf, caCert], Date.now())).toMatchObject({ kind: 'deny', reason: 'client_cert_crl_unavailable' });
    expect(view.check(tenantWith(server.url, 'prefer'), [goodLeaf, caCert], Date.now())).toEqual({ kind: 'pass' });
    expect(await registry.metrics()).toContain('bouncer_crl_soft_fail_total{tenant="acme",reason="no_crl"} 1');

    server.status = 200;
    server.body = await issueCrl({ issuer: ca, revoked: [{ serialNumber: revokedLeaf.serial }], crlNumber: 2n });
    await crls.refreshNow('acme', server.url);
    expect(view.check(tenant, [revokedLeaf, caCert], Date.now())).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked' });
    expect(view.check(tenant, [goodLeaf, caCert], Date.now())).toEqual({ kind: 'pass' });
  });
  test('a fetched CRL scoped by issuingDistributionPoint answers only for the certificates that name its point', async () => {
    const root = await makeRoot('CN=Partitioned Fetch CA');
    const point = `${server.url}?partition=a`;
    const cdp = (uri: string) => rawExtension('2.5.29.31', false, tlv(0x30, tlv(0x30, tlv(0xa0, tlv(0xa0, gn.uri(uri))))));
    const inPartition = await makeLeaf('CN=in partition', root, { extraExtensions: [cdp(point)] });
    const elsewhere = await makeLeaf('CN=elsewhere', root, { extraExtensions: [cdp(`${server.url}?partition=b`)] });
    const idp = rawExtension('2.5.29.28', true, tlv(0x30, tlv(0xa0, tlv(0xa0, gn.uri(point)))));
    server.body = (await makeCrl({ issuer: root, extensions: [idp], revoked: [inPartition.cert, elsewhere.cert], thisUpdate: Date.now() - 1000, nextUpdate: Date.now() + DAY })).pem;
    const registry = new Registry();
    const metrics = createRevocationMetrics(registry);
    crls = createCrlFetcher({ now: Date.now, logger: pino({ level: 'silent' }), metrics, settings: { ...REVOCATION_DEFAULTS, crlMinRefreshIntervalMs: 100 } });
    const ocsp = createOcspChecker({ now: Date.now, logger: pino({ level: 'silent' }), metrics, settings: { ...REVOCATION_DEFAULTS } });
    const view = createRevocationView({ ocsp, crls, metrics, logger: pino({ level: 'silent' }) });
    const base = tenantWith(server.url);
    const tenant: Tenant = { ...base, mtls: { ...base.mtls, trust: { roots: [root.cert], crls: [], staleCrl: 'deny' } } };
    crls.sync([tenant]);
    await waitFor('the partition CRL', async () => crls?.lookup('acme', root.cert, Date.now()));
    expect(crls.lookup('acme', root.cert, Date.now(), inPartition.cert)).toBeDefined();
    expect(crls.lookup('acme', root.cert, Date.now(), elsewhere.cert)).toBeUndefined();
    expect(view.check(tenant, [inPartition.cert, root.cert], Date.now())).toMatchObject({ kind: 'deny', reason: 'client_cert_revoked' });
    // Listed, but on a CRL that does not speak for it: no CRL covers it, and the tenant requires one.
    expect(view.check(tenant, [elsewhere.cert, root.cert], Date.now())).toMatchObject({ kind: 'deny', reason: 'client_cert_crl_unavailable' });
  });
});

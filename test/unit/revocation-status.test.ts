/**
 * The revocation status that /readyz and the admin API show: OCSP responders
 * are reported failing from a failed exchange until a window passes without
 * another, per tenant; the readiness summary counts every tenant and names a
 * bounded number of them.
 */
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { REVOCATION_DEFAULTS } from '../../src/config/defaults.js';
import { parseCertificateBundle, type ParsedCert } from '../../src/core/cert-parse.js';
import type { Tenant } from '../../src/core/tenant.js';
import { createRootCa, issueClientCert } from '../../src/pki/generate.js';
import type { CrlSourceReport } from '../../src/revocation/crl-fetcher.js';
import { RevocationFetchError } from '../../src/revocation/http-fetch.js';
import { createRevocationMetrics } from '../../src/revocation/metrics.js';
import { createOcspChecker, type OcspResponderReport } from '../../src/revocation/ocsp-checker.js';
import { createRevocationStatus } from '../../src/revocation/revocation-status.js';

const T0 = Date.UTC(2026, 11, 1);

const tenantWith = (name: string, ca: ParsedCert): Tenant => ({
  name,
  hostnames: [`${name}.test`],
  mtls: {
    mode: 'require',
    trust: { roots: [ca], crls: [], staleCrl: 'deny' },
    exemptPaths: [],
    revocation: { ocsp: 'require', ocspUrl: 'http://ocsp.test/', ocspNonce: true, crl: 'off', crlUrls: [], crlDistributionPoints: false },
  },
});

test('an OCSP responder is failing from a failed exchange until the report window passes, for its tenant only', async () => {
  const caPem = await createRootCa({ commonName: 'status root', keyAlgorithm: 'ec-p256', validDays: 30 });
  const leafPem = await issueClientCert({ issuer: caPem, commonName: 'status device', keyAlgorithm: 'ec-p256', validDays: 2 });
  const [ca] = parseCertificateBundle(caPem.certPem) as [ParsedCert];
  const [leaf] = parseCertificateBundle(leafPem.certPem) as [ParsedCert];
  let now = T0;
  const ocsp = createOcspChecker({
    now: () => now,
    logger: pino({ level: 'silent' }),
    metrics: createRevocationMetrics(new Registry()),
    settings: { ...REVOCATION_DEFAULTS },
    fetch: () => Promise.reject(new RevocationFetchError('timeout', 'no answer within 2000 ms')),
  });
  const acme = tenantWith('acme', ca);
  expect(ocsp.answer(acme, 'require', 'http://ocsp.test/', leaf, ca, now)).toMatchObject({ kind: 'deny', reason: 'client_cert_ocsp_unavailable' });
  await ocsp.idle();
  expect(ocsp.failing(now)).toEqual<OcspResponderReport[]>([{ tenant: 'acme', url: 'http://ocsp.test/', mode: 'require', failure: 'timeout', failingSince: T0, lastFailureAt: T0 }]);
  const status = createRevocationStatus({ crls: { report: () => [] }, ocsp, maxListed: 10 });
  expect(status.tenant('acme', now)).toEqual({ crl: { sources: 0, stale: [], unavailable: [] }, ocsp: { failing: [{ url: 'http://ocsp.test/', mode: 'require', failure: 'timeout', failing_since: new Date(T0).toISOString() }] } });
  expect(status.tenant('other', now)).toBeUndefined();
  now += REVOCATION_DEFAULTS.ocspFailingReportMs + 1;
  expect(ocsp.failing(now)).toEqual([]);
  expect(status.summary(now)).toEqual({ tenants_crl_stale: 0, tenants_crl_unavailable: 0, tenants_ocsp_failing: 0, tenants: {} });
});

test('the summary counts every tenant with a problem and names at most maxListed, by name', () => {
  const src = (tenant: string, state: CrlSourceReport['state'], url = `http://crl.${tenant}.test/`): CrlSourceReport => ({ tenant, url, configured: true, state, failures: 0, nextUpdate: undefined });
  const crls = [src('c', 'stale'), src('c', 'stale', 'http://other.test/'), src('a', 'unavailable'), src('b', 'fresh'), src('d', 'pending'), src('e', 'stale')];
  const failing: OcspResponderReport[] = [{ tenant: 'a', url: 'http://ocsp.a.test/', mode: 'prefer', failure: 'network', failingSince: T0, lastFailureAt: T0 }];
  const status = createRevocationStatus({ crls: { report: () => crls }, ocsp: { failing: () => failing }, maxListed: 2 });
  expect(status.summary(T0)).toEqual({
    tenants_crl_stale: 2,
    tenants_crl_unavailable: 1,
    tenants_ocsp_failing: 1,
    tenants: { a: { crl_stale: 0, crl_unavailable: 1, ocsp_failing: 1 }, c: { crl_stale: 2, crl_unavailable: 0, ocsp_failing: 0 } },
    tenants_truncated: true,
  });
  expect(status.tenant('b', T0)).toEqual({ crl: { sources: 1, stale: [], unavailable: [] }, ocsp: { failing: [] } });
});

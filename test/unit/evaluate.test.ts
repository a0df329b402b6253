import type { CertVerifier, PresentedCert } from '../../src/core/cert-verifier.js';
import type { CheckInput } from '../../src/core/decision.js';
import { evaluate, isExemptPath, type EvaluateContext } from '../../src/core/evaluate.js';
import { buildTenantIndex } from '../../src/core/tenant-index.js';
import type { Tenant, TrustStore } from '../../src/core/tenant.js';
import type { ParsedCert } from '../../src/core/cert-parse.js';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const trust: TrustStore = { roots: [], crls: [], staleCrl: 'deny' };

function tenant(name: string, hostnames: string[], mode: Tenant['mtls']['mode'], exemptPaths: string[] = []): Tenant {
  return { name, hostnames, mtls: { mode, trust: mode === 'off' ? null : trust, exemptPaths } };
}

const LEAF_PEM = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
const OTHER_PEM = '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n';
const enc = (s: string): string => encodeURIComponent(s);

/** A verifier that accepts exactly LEAF_PEM for tenant acme and records what it was asked. */
function fakeVerifier(): CertVerifier & { calls: Array<{ tenant: string; presented: PresentedCert }> } {
  const calls: Array<{ tenant: string; presented: PresentedCert }> = [];
  const leaf = {
    subject: 'CN=device-1, O=Acme',
    issuer: 'CN=Acme Root',
    serial: '0a',
    fingerprint256: 'ab'.repeat(32),
    sans: { dns: ['device-1.acme.example'], uri: [], email: [], ip: [] },
    notAfter: NOW + 86_400_000,
  } as unknown as ParsedCert;
  return {
    calls,
    size: 0,
    verify(t, presented) {
      calls.push({ tenant: t.name, presented });
      if (t.name === 'acme' && presented.leafPem === LEAF_PEM) {
        return { ok: true, chain: [leaf], validUntil: leaf.notAfter, cached: false };
      }
      return { ok: false, reason: 'client_cert_untrusted', detail: 'no path to a trusted root', cached: false };
    },
  };
}

function ctx(overrides: Partial<EvaluateContext> = {}): EvaluateContext & { verifier: ReturnType<typeof fakeVerifier> } {
  const verifier = fakeVerifier();
  return {
    tenants: buildTenantIndex([
      tenant('acme', ['pay.acme.example', '*.api.acme.example'], 'require', ['/healthz', '/public/*']),
      tenant('globex', ['pay.globex.example'], 'require'),
      tenant('opt', ['opt.example'], 'optional'),
      tenant('open', ['open.example'], 'off'),
    ]),
    verifier,
    xfcc: { trustedHop: false, maxElements: 1 },
    nowMs: NOW,
    ...overrides,
  } as EvaluateContext & { verifier: ReturnType<typeof fakeVerifier> };
}

function input(over: Partial<CheckInput>): CheckInput {
  return {
    requestId: 'req-1',
    authority: 'pay.acme.example',
    sni: 'pay.acme.example',
    method: 'GET',
    path: '/',
    peerCertificate: undefined,
    xfcc: undefined,
    sourceAddress: '127.0.0.1',
    ...over,
  };
}

describe('evaluate', () => {
  test.each<[string, Partial<CheckInput>, string, number | 'allow']>([
    ['valid device on its tenant', { peerCertificate: LEAF_PEM }, 'mtls_verified', 'allow'],
    ['host with port and upper case', { authority: 'PAY.ACME.EXAMPLE:8443', peerCertificate: LEAF_PEM }, 'mtls_verified', 'allow'],
    ['wildcard hostname', { authority: 'eu.api.acme.example', sni: 'eu.api.acme.example', peerCertificate: LEAF_PEM }, 'mtls_verified', 'allow'],
    ['no certificate on require', {}, 'client_cert_missing', 401],
    ['acme device on globex', { authority: 'pay.globex.example', sni: 'pay.globex.example', peerCertificate: LEAF_PEM }, 'client_cert_untrusted', 403],
    ['unknown host', { authority: 'nobody.example', sni: 'nobody.example' }, 'tenant_unknown', 403],
    ['empty authority', { authority: '' }, 'host_missing', 400],
    ['garbage authority', { authority: 'a b' }, 'host_missing', 400],
    ['SNI of acme, Host of globex', { authority: 'pay.globex.example', sni: 'pay.acme.example', peerCertificate: LEAF_PEM }, 'sni_host_mismatch', 421],
    ['SNI of an unknown name', { authority: 'pay.acme.example', sni: 'evil.example', peerCertificate: LEAF_PEM }, 'sni_host_mismatch', 421],
    ['SNI and Host differ within one tenant', { authority: 'eu.api.acme.example', sni: 'pay.acme.example', peerCertificate: LEAF_PEM }, 'mtls_verified', 'allow'],
    ['no SNI (IP connect)', { sni: undefined, peerCertificate: LEAF_PEM }, 'mtls_verified', 'allow'],
    ['exempt path without certificate', { path: '/healthz' }, 'path_exempt', 'allow'],
    ['exempt prefix', { path: '/public/logo.png?x=1' }, 'path_exempt', 'allow'],
    ['dot segments never exempt', { path: '/public/../admin' }, 'client_cert_missing', 401],
    ['encoded path never exempt', { path: '/healthz%2f..' }, 'client_cert_missing', 401],
    ['optional without certificate', { authority: 'opt.example', sni: 'opt.example' }, 'mtls_optional_absent', 'allow'],
    ['optional with a bad certificate', { authority: 'opt.example', sni: 'opt.example', peerCertificate: OTHER_PEM }, 'client_cert_untrusted', 403],
    ['mode off', { authority: 'open.example', sni: 'open.example' }, 'mtls_off', 'allow'],
  ])('%s', (_name, over, reason, status) => {
    const d = evaluate(input(over), ctx());
    expect(d.reason).toBe(reason);
    if (status === 'allow') expect(d.allow).toBe(true);
    else {
      expect(d.allow).toBe(false);
      if (!d.allow) expect(d.status).toBe(status);
    }
  });

  test('verified identity carries the certificate details', () => {
    const d = evaluate(input({ peerCertificate: LEAF_PEM }), ctx());
    expect(d.allow).toBe(true);
    expect(d.tenant).toBe('acme');
    expect(d.identity?.subject).toBe('CN=device-1, O=Acme');
    expect(d.identity?.fingerprint256).toBe('ab'.repeat(32));
  });

  describe('the peer certificate as Envoy sends it (URL-encoded)', () => {
    test('is decoded by the core and judged like the decoded form', () => {
      const c = ctx();
      const d = evaluate(input({ peerCertificateEncoded: encodeURIComponent(LEAF_PEM) }), c);
      expect(d.reason).toBe('mtls_verified');
      expect(c.verifier.calls[0]?.presented.leafPem).toBe(LEAF_PEM);
      expect(evaluate(input({ peerCertificateEncoded: encodeURIComponent(OTHER_PEM) }), ctx()).reason).toBe('client_cert_untrusted');
    });

    test('an empty one is no certificate', () => {
      expect(evaluate(input({ peerCertificateEncoded: '' }), ctx()).reason).toBe('client_cert_missing');
    });

    test('a broken percent-encoding reaches the verifier as is, never as another certificate', () => {
      const c = ctx();
      expect(evaluate(input({ peerCertificateEncoded: '%E0%A4%A' }), c).reason).toBe('client_cert_untrusted');
      expect(c.verifier.calls[0]?.presented.leafPem).toBe('%E0%A4%A');
    });

    test('an XFCC naming another certificate is still a mismatch', () => {
      const xfcc = `Hash=${'cd'.repeat(32)};Cert="${enc(OTHER_PEM)}"`;
      expect(evaluate(input({ peerCertificateEncoded: encodeURIComponent(LEAF_PEM), xfcc }), ctx()).reason).toBe('xfcc_mismatch');
    });
  });

  describe('XFCC', () => {
    const xfccFor = (pem: string, chain?: string): string =>
      `Hash=${'cd'.repeat(32)};Cert="${enc(pem)}"${chain ? `;Chain="${enc(chain)}"` : ''};Subject="CN=device-1";URI=`;

    test('chain from the current hop is used when it describes the peer certificate', () => {
      const c = ctx();
      const d = evaluate(input({ peerCertificate: LEAF_PEM, xfcc: xfccFor(LEAF_PEM, LEAF_PEM + OTHER_PEM) }), c);
      expect(d.reason).toBe('mtls_verified');
      expect(c.verifier.calls[0]?.presented.chainPem).toBe(LEAF_PEM + OTHER_PEM);
    });

    test('XFCC naming another certificate than the peer is denied', () => {
      const d = evaluate(input({ peerCertificate: LEAF_PEM, xfcc: xfccFor(OTHER_PEM) }), ctx());
      expect(d.reason).toBe('xfcc_mismatch');
    });

    test('XFCC alone is never used when the hop is not trusted, and the denial says why', () => {
      const c = ctx();
      const d = evaluate(input({ xfcc: xfccFor(LEAF_PEM) }), c);
      expect(d.reason).toBe('xfcc_untrusted');
      expect(d.allow === false && d.detail).toContain('authz.xfcc.trusted_hop');
      expect(c.verifier.calls).toHaveLength(0);
      // An element that names no certificate (no Cert, no Hash) is not Envoy's, and still means none.
      expect(evaluate(input({ xfcc: 'Subject="CN=x";URI=spiffe://a' }), ctx()).reason).toBe('client_cert_missing');
    });

    test('XFCC alone names the client when the hop is trusted', () => {
      const d = evaluate(input({ xfcc: xfccFor(LEAF_PEM) }), ctx({ xfcc: { trustedHop: true, maxElements: 1 } }));
      expect(d.reason).toBe('mtls_verified');
    });

    test('more elements than the deployment sets is denied', () => {
      const d = evaluate(input({ peerCertificate: LEAF_PEM, xfcc: `By=spiffe://a,${xfccFor(LEAF_PEM)}` }), ctx());
      expect(d.reason).toBe('xfcc_unexpected_elements');
    });

    test.each(['Cert="unterminated', 'Hash', ';;', 'Cert=%zz', 'Unknown=1'])('malformed XFCC %j is denied', (value) => {
      const d = evaluate(input({ peerCertificate: LEAF_PEM, xfcc: value }), ctx());
      expect(d.reason).toBe('xfcc_malformed');
      expect(d.allow).toBe(false);
    });

    test('malformed XFCC on an exempt path does not matter', () => {
      const d = evaluate(input({ path: '/healthz', xfcc: 'Cert="unterminated' }), ctx());
      expect(d.reason).toBe('path_exempt');
    });
  });
});

describe('isExemptPath', () => {
  test.each<[string, string[], boolean]>([
    ['/healthz', ['/healthz'], true],
    ['/healthz?probe=1', ['/healthz'], true],
    ['/healthz/', ['/healthz'], false],
    ['/healthzx', ['/healthz'], false],
    ['/public', ['/public/*'], true],
    ['/public/a/b', ['/public/*'], true],
    ['/publicity', ['/public/*'], false],
    ['/public/./x', ['/public/*'], false],
    ['/public\\..\\x', ['/public/*'], false],
    ['healthz', ['/healthz'], false],
    ['/x', [], false],
  ])('%s with %j → %s', (path, exempt, expected) => {
    expect(isExemptPath(path, exempt)).toBe(expected);
  });
});

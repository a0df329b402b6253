import { IDENTITY_HEADERS, toCheckResponse } from '../../src/authz/check-response.js';
import { toCheckInput, withSession } from '../../src/authz/check-request.js';
import type { Decision } from '../../src/core/decision.js';

const identity = {
  subject: 'CN=device-1, O=Acme',
  issuer: 'CN=Acme Root',
  serial: '0a1b',
  fingerprint256: 'ab'.repeat(32),
  dns: ['d1.acme.example', 'd1b.acme.example'],
  uri: ['spiffe://acme/device-1'],
  email: [],
  ip: [],
  notAfter: 0,
};

describe('toCheckResponse', () => {
  test('allow sets identity headers and removes every other x-bouncer-* header', () => {
    const d: Decision = { allow: true, reason: 'mtls_verified', tenant: 'acme', identity, cacheHit: false };
    const r = toCheckResponse(d, 'req-1', { 'x-bouncer-client-san-email': 'forged@x', 'x-bouncer-admin': 'true', accept: '*/*' });
    expect(r.status.code).toBe(0);
    const set = Object.fromEntries((r.ok_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
    expect(set).toMatchObject({
      [IDENTITY_HEADERS.tenant]: 'acme',
      [IDENTITY_HEADERS.subject]: 'CN=device-1, O=Acme',
      [IDENTITY_HEADERS.serial]: '0a1b',
      [IDENTITY_HEADERS.fingerprint]: 'ab'.repeat(32),
      [IDENTITY_HEADERS.dns]: 'd1.acme.example,d1b.acme.example',
      [IDENTITY_HEADERS.uri]: 'spiffe://acme/device-1',
      [IDENTITY_HEADERS.auth]: 'verified',
    });
    // Overwrite, never append to a client's value.
    expect((r.ok_response?.headers ?? []).every((h) => h.append_action === 2)).toBe(true);
    const removed = r.ok_response?.headers_to_remove ?? [];
    expect(removed).toContain(IDENTITY_HEADERS.email);
    expect(removed).toContain('x-bouncer-admin');
    expect(removed).not.toContain(IDENTITY_HEADERS.subject);
    expect(removed).not.toContain('accept');
  });

  test('every identity header an allow does not set is removed, for each shape of allow, and one request never changes the next', () => {
    const all = Object.values(IDENTITY_HEADERS);
    const user = { token: 't', session: { sub: 's', sid: 'x', email: 'a@b', name: undefined, groups: [], idp: 'okta', idpType: 'oidc' as const, amr: [], authTime: 0, exp: 0 } };
    const shapes: Decision[] = [
      { allow: true, reason: 'mtls_verified', tenant: 'acme', identity, cacheHit: true },
      { allow: true, reason: 'mtls_off', tenant: undefined, identity: undefined, cacheHit: false },
      { allow: true, reason: 'policy_allow', tenant: 'acme', identity: undefined, cacheHit: false, app: 'wiki', policy: 'p', user },
      { allow: true, reason: 'policy_allow', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'p', user, serviceToken: 'ci' },
    ];
    for (let round = 0; round < 2; round++) {
      for (const [i, d] of shapes.entries()) {
        const forged = round === 0 && i % 2 === 0 ? { [`x-bouncer-forged-${i}`]: '1' } : {};
        const r = toCheckResponse(d, 'req', forged);
        const set = new Set((r.ok_response?.headers ?? []).map((h) => h.header.key));
        const removed = [...(r.ok_response?.headers_to_remove ?? [])].sort();
        const expected = [...all.filter((h) => !set.has(h)), ...Object.keys(forged)].sort();
        expect(removed).toEqual(expected);
      }
    }
  });

  test('allow without a certificate removes all certificate headers', () => {
    const d: Decision = { allow: true, reason: 'mtls_optional_absent', tenant: 'opt', identity: undefined, cacheHit: false };
    const r = toCheckResponse(d, 'req-2', {});
    const removed = r.ok_response?.headers_to_remove ?? [];
    for (const h of [IDENTITY_HEADERS.subject, IDENTITY_HEADERS.fingerprint, IDENTITY_HEADERS.serial, IDENTITY_HEADERS.dns]) {
      expect(removed).toContain(h);
    }
  });

  test('non-ASCII certificate names are percent-encoded, never passed raw', () => {
    const d: Decision = { allow: true, reason: 'mtls_verified', tenant: 'acme', identity: { ...identity, subject: 'CN=Zoë\r\nx-evil: 1' }, cacheHit: false };
    const r = toCheckResponse(d, 'req-3', {});
    const subject = r.ok_response?.headers.find((h) => h.header.key === IDENTITY_HEADERS.subject)?.header.value;
    expect(subject).toBe(encodeURIComponent('CN=Zoë\r\nx-evil: 1'));
  });

  test.each<[string, number, number]>([
    ['client_cert_missing', 401, 16],
    ['client_cert_untrusted', 403, 7],
    ['sni_host_mismatch', 421, 7],
    ['tenant_unknown', 403, 7],
  ])('deny %s → HTTP %d, gRPC %d, JSON body', (reason, http, grpc) => {
    const d = { allow: false, reason, status: http, detail: 'because', tenant: 'acme', identity: undefined, cacheHit: false } as Decision;
    const r = toCheckResponse(d, 'req-4', {});
    expect(r.status.code).toBe(grpc);
    expect(r.denied_response?.status.code).toBe(http);
    expect(JSON.parse(r.denied_response?.body ?? '')).toEqual({ error: reason, status: http, message: 'because', request_id: 'req-4' });
    const headers = Object.fromEntries((r.denied_response?.headers ?? []).map((h) => [h.header.key, h.header.value]));
    expect(headers['content-type']).toBe('application/json');
    expect(headers['x-bouncer-reason']).toBe(reason);
  });
});

describe('toCheckInput', () => {
  test('reads authority, SNI, path and the URL-encoded peer certificate', () => {
    const { input } = toCheckInput({
      attributes: {
        source: { address: { socket_address: { address: '10.0.0.1' } }, certificate: '-----BEGIN%20CERTIFICATE-----%0AAA%0A-----END%20CERTIFICATE-----%0A' },
        request: { http: { id: '7', headers: { ':authority': 'pay.acme.example', ':path': '/x?y', ':method': 'POST', 'x-request-id': 'rid' } } },
        tls_session: { sni: 'pay.acme.example' },
      },
    });
    expect(input).toMatchObject({
      requestId: 'rid',
      authority: 'pay.acme.example',
      sni: 'pay.acme.example',
      path: '/x?y',
      method: 'POST',
      sourceAddress: '10.0.0.1',
      // Kept as Envoy sent it; the core decodes it only when it reads the certificate.
      peerCertificateEncoded: '-----BEGIN%20CERTIFICATE-----%0AAA%0A-----END%20CERTIFICATE-----%0A',
    });
    expect(input.peerCertificate).toBeUndefined();
  });

  test('withSession keeps every field toCheckInput sets and adds the session', () => {
    const { input } = toCheckInput(
      {
        attributes: {
          source: { address: { socket_address: { address: '10.0.0.1' } }, certificate: 'pem' },
          request: {
            http: {
              id: '7',
              headers: {
                ':authority': 'a.test',
                ':path': '/p',
                ':method': 'GET',
                accept: 'text/html',
                'x-forwarded-client-cert': 'Hash=ab',
                'x-bouncer-client-id': 'ci',
                'x-bouncer-client-secret': 's',
                'cf-ipcountry': 'de',
              },
            },
          },
          tls_session: { sni: 'a.test' },
        },
      },
      { countryHeader: 'CF-IPCountry' },
    );
    const session = { status: 'absent' } as const;
    const out = withSession(input, session);
    expect(Object.keys(out).sort()).toEqual([...Object.keys(input), 'session'].sort());
    expect(out).toStrictEqual({ ...input, session });
  });

  test('an empty request does not throw and yields nothing to trust', () => {
    const { input } = toCheckInput({});
    expect(input.authority).toBe('');
    expect(input.peerCertificate).toBeUndefined();
    expect(input.peerCertificateEncoded).toBeUndefined();
    expect(input.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test.each(['x'.repeat(129), 'a b', 'id\u0000', '<script>', ''])('an unsafe request id %j is replaced by a fresh one', (rid) => {
    const { input } = toCheckInput({ attributes: { request: { http: { id: rid, headers: { 'x-request-id': rid } } } } });
    expect(input.requestId).not.toBe(rid);
    expect(input.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

});

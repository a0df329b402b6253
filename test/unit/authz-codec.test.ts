import type * as grpc from '@grpc/grpc-js';
import { decodeCheckRequest, knownHeaderName, type CheckRequestMessage } from '../../src/authz/check-request.js';
import { encodeCheckDecision, encodeCheckResponse, toCheckResponse } from '../../src/authz/check-response.js';
import { loadAuthzPackageDefinition } from '../../src/authz/proto.js';
import { readFields, referenceCheck as refCheck } from '../helpers/check-codec.js';
import type { Decision } from '../../src/core/decision.js';

// The server's Check codec writes and reads the wire format by hand. protobufjs,
// loaded from the same protos, is the reference: requests it encodes must decode
// to the same fields bouncer reads, and responses must be byte-identical.

const PEM = `-----BEGIN CERTIFICATE-----\n${'MIIB0TCCAXegAwIBAgIQCOoRubLwfmXYp'.repeat(30)}\n-----END CERTIFICATE-----\n`;

function envoyLike(extra: Record<string, string> = {}): object {
  return {
    attributes: {
      source: { address: { socket_address: { address: '10.1.2.3', port_value: 51234 } }, principal: 'device', certificate: encodeURIComponent(PEM) },
      destination: { address: { socket_address: { address: '127.0.0.1', port_value: 8443 } }, principal: '*.acme.test' },
      request: {
        time: { seconds: '1795438298', nanos: 723826000 },
        http: {
          id: '10674705001957479960',
          method: 'POST',
          headers: { ':authority': 'pay.acme.test', ':path': '/x?y=1', 'x-forwarded-client-cert': `Cert="${encodeURIComponent(PEM)}"`, cookie: 'a=b', ...extra },
          path: '/x?y=1',
          host: 'pay.acme.test',
          scheme: 'https',
          protocol: 'HTTP/2',
          size: '12',
        },
      },
      context_extensions: { k: 'v' },
      metadata_context: { filter_metadata: { f: { fields: { a: { string_value: 'b' } } } } },
      tls_session: { sni: 'pay.acme.test' },
    },
  };
}

describe('decodeCheckRequest', () => {
  test.each<[string, object]>([
    ['a request shaped like Envoy 1.40 sends', envoyLike()],
    ['non-ASCII and long header values', envoyLike({ 'x-name': 'Zoë ✓ 𝄞', 'x-long': 'é'.repeat(500), 'x-ascii': 'a'.repeat(5000) })],
    ['headers named like Object.prototype members', envoyLike({ constructor: 'c', toString: 't', hasOwnProperty: 'h' })],
    ['no attributes at all', {}],
    ['a source without address', { attributes: { source: { certificate: 'x' } } }],
    ['a pipe address', { attributes: { source: { address: { pipe: { path: '/tmp/s' } } } } }],
    ['an empty header value and empty key', { attributes: { request: { http: { headers: { '': '', a: '' } } } } }],
    [
      'names one byte off the known ones, and a non-ASCII name of a known name\'s length',
      envoyLike({ 'x-request-iD': '1', ':authorities': '2', cooki: '3', 'cookie ': '4', 'x-forwarded-fos': '5', 'cöokie': '6', ['ñ'.repeat(3)]: '7' }),
    ],
  ])('%s', (_name, obj) => {
    const bytes = refCheck.requestSerialize(obj);
    const expected = refCheck.requestDeserialize(bytes) as CheckRequestMessage;
    const actual = decodeCheckRequest(bytes);
    expect(readFields(actual)).toEqual(readFields(expected));
  });

  test('known header names are recognised only when every byte matches', () => {
    const at = (text: string): string | undefined => {
      const buf = Buffer.from(`..${text}..`, 'utf8');
      return knownHeaderName(buf, 2, buf.length - 2);
    };
    for (const name of [':authority', ':path', 'cookie', 'x-forwarded-client-cert', 'x-request-id', 'user-agent']) expect(at(name)).toBe(name);
    for (const other of ['', 'Cookie', 'cookiE', 'cooki', 'cookies', 'x-request-iD', ':Authority', 'x-forwarded-fos', 'cöokie', 'user_agent']) expect(at(other)).toBeUndefined();
  });

  test('a header named __proto__ is an ordinary header (protobufjs drops it)', () => {
    const bytes = refCheck.requestSerialize(envoyLike({ ['__proto__']: 'p' }));
    const headers = decodeCheckRequest(bytes).attributes?.request?.http?.headers ?? {};
    expect(Object.getPrototypeOf(headers)).toBeNull();
    expect(Object.keys(headers)).toContain('__proto__');
    expect(headers['__proto__']).toBe('p');
    expect(headers['toString']).toBeUndefined();
  });

  test('the last of a repeated field wins and map entries accumulate, as with protobufjs', () => {
    const one = refCheck.requestSerialize({ attributes: { request: { http: { method: 'GET', headers: { a: '1' } } }, tls_session: { sni: 'a' } } });
    const two = refCheck.requestSerialize({ attributes: { request: { http: { headers: { b: '2' } } }, tls_session: { sni: 'b' } } });
    const joined = Buffer.concat([one, two]);
    expect(readFields(decodeCheckRequest(joined))).toEqual(readFields(refCheck.requestDeserialize(joined) as CheckRequestMessage));
  });

  test.each<[string, Buffer]>([
    ['truncated length', Buffer.from([0x0a, 0x05, 0x0a])],
    ['length past the end', Buffer.from([0x0a, 0x7f])],
    ['truncated varint', Buffer.from([0x08, 0x80])],
    ['a group wire type', Buffer.from([0x0b])],
    ['a fixed64 past the end', Buffer.from([0x09, 1, 2, 3])],
  ])('malformed input throws: %s', (_name, bytes) => {
    expect(() => decodeCheckRequest(bytes)).toThrow();
  });

  test('is what the server uses for Check', () => {
    const check = loadAuthzPackageDefinition()['envoy.service.auth.v3.Authorization'] as Record<string, grpc.MethodDefinition<object, object>>;
    expect(check.Check?.requestDeserialize).toBe(decodeCheckRequest);
    expect(check.Check?.responseSerialize).toBe(encodeCheckResponse);
  });
});

describe('encodeCheckResponse', () => {
  const identity = { subject: 'CN=device-1, O=Acmé', issuer: 'CN=Acme Root', serial: '0a1b', fingerprint256: 'ab'.repeat(32), dns: ['d1.acme.example'], uri: ['spiffe://acme/d1'], email: ['d@acme.example'], ip: [], notAfter: 0 };
  const user = { token: 'e'.repeat(700), session: { sub: 'okta:alice', sid: 's', email: 'alice@acme.example', name: 'Alice Ünder', groups: ['staff', 'wiki'], idp: 'okta', idpType: 'oidc' as const, amr: ['mfa'], authTime: 0, exp: 0 } };
  test.each<[string, Decision]>([
    ['allow with a certificate', { allow: true, reason: 'mtls_verified', tenant: 'acme', identity, cacheHit: true }],
    ['allow for an app with a user', { allow: true, reason: 'policy_allow', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'staff', user, serviceToken: 'ci' }],
    ['allow with nothing', { allow: true, reason: 'mtls_off', tenant: undefined, identity: undefined, cacheHit: false }],
    ['deny as JSON', { allow: false, reason: 'client_cert_untrusted', status: 403, detail: 'no path to a trusted root for issuer CN=Zoë', tenant: 'acme', identity: undefined, cacheHit: false }],
    ['deny as HTML with a redirect and cookies', { allow: false, reason: 'login_required', status: 302, detail: 'sign in', tenant: undefined, identity: undefined, cacheHit: false, location: 'https://auth/login?rd=x', setCookies: ['a=1; Path=/', 'b=2'], html: true }],
    ['a 401', { allow: false, reason: 'client_cert_missing', status: 401, detail: 'x'.repeat(200), tenant: 'acme', identity: undefined, cacheHit: false }],
  ])('%s: the same bytes as protobufjs', (_name, decision) => {
    const msg = toCheckResponse(decision, 'req-1', { 'x-bouncer-forged': '1', accept: '*/*' });
    expect(encodeCheckResponse(msg).equals(refCheck.responseSerialize(msg))).toBe(true);
  });

  test('strings on both sides of the short-string cut-off, ASCII or not: the same bytes as protobufjs', () => {
    const lengths = [0, 1, 47, 48, 49, 700];
    const values = lengths.flatMap((n) => ['a'.repeat(n), `${'ü'.repeat(n)}x`, `${'a'.repeat(n)}€`]);
    const msg = {
      status: { code: 0 },
      ok_response: { headers: values.map((v, i) => ({ header: { key: `k${i}`, value: v }, append_action: 2 })), headers_to_remove: values },
    };
    expect(encodeCheckResponse(msg).equals(refCheck.responseSerialize(msg))).toBe(true);
  });

  test('field values protobufjs writes even when zero or empty', () => {
    const msg = { status: { code: 0, message: '' }, ok_response: { headers: [{ header: { key: '', value: '' }, append_action: 0 }], headers_to_remove: [''] } };
    expect(encodeCheckResponse(msg).equals(refCheck.responseSerialize(msg))).toBe(true);
  });
});

describe('encodeCheckDecision', () => {
  const identity = { subject: 'CN=device-1, O=Acmé', issuer: 'CN=Acme Root', serial: '0a1b', fingerprint256: 'ab'.repeat(32), dns: ['d1.acme.example'], uri: [], email: [], ip: [], notAfter: 0 };
  const session = { sub: 'okta:alice', sid: 's', email: 'alice@acme.example', name: 'Alice Ünder', groups: ['staff', 'wiki'], idp: 'okta', idpType: 'oidc' as const, amr: ['mfa'], authTime: 0, exp: 0 };
  const decisions: Array<[string, Decision]> = [
    ['a certificate', { allow: true, reason: 'mtls_verified', tenant: 'acme', identity, cacheHit: true }],
    ['an app user with a certificate', { allow: true, reason: 'policy_allow', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'staff', user: { token: 't'.repeat(600), session } }],
    ['the same user under another policy', { allow: true, reason: 'policy_allow', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'admins', user: { token: 't'.repeat(600), session } }],
    ['the same user with another token', { allow: true, reason: 'policy_allow', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'staff', user: { token: 'u'.repeat(600), session } }],
    ['a service token, no tenant', { allow: true, reason: 'policy_service_auth', tenant: undefined, identity: undefined, cacheHit: false, app: 'wiki', policy: 'ci', serviceToken: 'ci-bot' }],
    ['nothing', { allow: true, reason: 'mtls_off', tenant: undefined, identity: undefined, cacheHit: false }],
    ['a tenant named like another field', { allow: true, reason: 'mtls_off', tenant: 'mtls_off', identity: undefined, cacheHit: false }],
    ['a deny', { allow: false, reason: 'policy_deny', status: 403, detail: 'no', tenant: 'acme', identity, cacheHit: true, app: 'wiki', policy: 'staff' }],
  ];
  const requests: Array<[string, Record<string, string>]> = [
    ['req-1', { accept: '*/*' }],
    ['req-2', { 'x-bouncer-forged': '1', 'x-bouncer-user-sub': 'admin', accept: '*/*' }],
    ['a'.repeat(128), { 'x-bouncer-a': '', 'x-bouncer-b': '' }],
  ];

  test('gives the bytes of encodeCheckResponse(toCheckResponse(...)) and of protobufjs, first time and when reused, in any order', () => {
    for (let round = 0; round < 3; round++) {
      for (const [name, decision] of round === 1 ? [...decisions].reverse() : decisions) {
        for (const [requestId, headers] of requests) {
          const msg = toCheckResponse(decision, requestId, headers);
          const fast = encodeCheckDecision(decision, requestId, headers);
          expect({ name, requestId, same: fast.equals(encodeCheckResponse(msg)) }).toEqual({ name, requestId, same: true });
          expect(fast.equals(refCheck.responseSerialize(msg))).toBe(true);
          // With room for the gRPC frame prefix: the same message after it.
          const roomy = encodeCheckDecision(decision, requestId, headers, 5);
          expect({ name, requestId, length: roomy.length, same: roomy.subarray(5).equals(fast) }).toEqual({ name, requestId, length: fast.length + 5, same: true });
        }
      }
    }
  });

  test('a reused block decodes to the request id of each request and the user of its own token', () => {
    const decode = (b: Buffer) => refCheck.responseDeserialize(b) as { ok_response: { headers: Array<{ header: { key: string; value: string } }> } };
    const header = (b: Buffer, key: string) => decode(b).ok_response.headers.find((h) => h.header.key === key)?.header.value;
    const [, withUser] = decisions[1] as [string, Decision];
    const [, otherToken] = decisions[3] as [string, Decision];
    expect(header(encodeCheckDecision(withUser, 'first', {}), 'x-bouncer-request-id')).toBe('first');
    expect(header(encodeCheckDecision(withUser, 'second', {}), 'x-bouncer-request-id')).toBe('second');
    expect(header(encodeCheckDecision(otherToken, 'third', {}), 'x-bouncer-jwt-assertion')).toBe('u'.repeat(600));
    expect(header(encodeCheckDecision(withUser, 'fourth', {}), 'x-bouncer-jwt-assertion')).toBe('t'.repeat(600));
  });
});

// The admin API's small parts on their own: bearer token checks, scopes, the
// bounded decision log and audit ring, decision records from Check inputs, and
// the wording of schema validation errors.
import { describe, expect, it } from '@jest/globals';
import { createMemoryAuditSink, type AuditEntry } from '../../src/admin/audit-sink.js';
import { createDecisionLog, toDecisionRecord, type DecisionRecord } from '../../src/admin/decision-log.js';
import { createRingBuffer } from '../../src/admin/ring-buffer.js';
import { grants } from '../../src/config/admin-scopes.js';
import { authenticateBearer, hashAdminToken, type AdminToken } from '../../src/admin/tokens.js';
import { describeSchemaError, fieldOf } from '../../src/admin/validation-message.js';
import { renderError } from '../../src/admin/errors.js';
import { TenantStoreError } from '../../src/stores/tenant-store.js';
import type { CheckInput, Decision } from '../../src/core/decision.js';

const tokens: AdminToken[] = [
  { id: 'ops', secretSha256: hashAdminToken('ops-token'), scopes: ['admin'] },
  { id: 'ci', secretSha256: hashAdminToken('ci-token'), scopes: ['tenants:write'] },
];

describe('authenticateBearer', () => {
  it.each([
    [undefined, { ok: false, reason: 'missing' }],
    ['', { ok: false, reason: 'missing' }],
    ['Basic b3BzOnRva2Vu', { ok: false, reason: 'malformed' }],
    ['Bearer', { ok: false, reason: 'malformed' }],
    ['Bearer a b', { ok: false, reason: 'malformed' }],
    [`Bearer ${'x'.repeat(5000)}`, { ok: false, reason: 'malformed' }],
    ['Bearer ops-token-2', { ok: false, reason: 'unknown' }],
    ['Bearer ci-token', { ok: true, token: tokens[1] }],
    ['BEARER   ops-token', { ok: true, token: tokens[0] }],
  ])('%s', (header, expected) => {
    expect(authenticateBearer(header, tokens)).toEqual(expected);
  });

  it('matches nothing with no tokens configured, and never a malformed configured hash', () => {
    expect(authenticateBearer('Bearer ops-token', [])).toEqual({ ok: false, reason: 'unknown' });
    expect(authenticateBearer('Bearer ops-token', [{ id: 'bad', secretSha256: 'zz', scopes: ['admin'] }])).toEqual({ ok: false, reason: 'unknown' });
  });

  it('hashes like sha256sum', () => {
    // printf %s test | sha256sum
    expect(hashAdminToken('test')).toBe('9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08');
  });
});

describe('scopes', () => {
  it('admin grants everything; others only themselves', () => {
    expect(grants(['admin'], 'audit:read')).toBe(true);
    expect(grants(['tenants:write'], 'tenants:write')).toBe(true);
    expect(grants(['tenants:write'], 'tenants:read')).toBe(false);
    expect(grants([], 'config:read')).toBe(false);
  });
});

describe('ring buffer', () => {
  it('keeps the newest items up to its capacity', () => {
    const ring = createRingBuffer<number>(3);
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.size).toBe(3);
    expect(ring.newestFirst(() => true, 10)).toEqual([7, 6, 5]);
    expect(ring.newestFirst((n) => n % 2 === 1, 10)).toEqual([7, 5]);
    expect(ring.newestFirst(() => true, 1)).toEqual([7]);
    expect(() => createRingBuffer(0)).toThrow(RangeError);
  });
});

describe('decision log', () => {
  const rec = (i: number, over: Partial<DecisionRecord> = {}): DecisionRecord => ({
    time: 1000 * i,
    request_id: `r${i}`,
    host: 'a.example',
    path: '/',
    method: 'GET',
    tenant: 'a',
    app: null,
    allow: true,
    status: 200,
    reason: 'mtls_verified',
    sub: null,
    email: null,
    cert_fingerprint: null,
    ...over,
  });

  it('is bounded and filters with AND, newest first', () => {
    const log = createDecisionLog({ capacity: 4 });
    log.record(rec(1));
    log.record(rec(2, { allow: false, status: 403, reason: 'client_cert_untrusted' }));
    log.record(rec(3, { host: 'b.example', tenant: 'b' }));
    log.record(rec(4, { allow: false, status: 403, reason: 'client_cert_untrusted', tenant: 'b', host: 'b.example' }));
    log.record(rec(5));
    expect(log.size).toBe(4);
    const ids = (q: Parameters<typeof log.recent>[0]): string[] => log.recent(q).map((r) => r.request_id);
    expect(ids({})).toEqual(['r5', 'r4', 'r3', 'r2']);
    expect(ids({ allow: false })).toEqual(['r4', 'r2']);
    expect(ids({ allow: false, tenant: 'b' })).toEqual(['r4']);
    expect(ids({ host: 'b.example', reason: 'client_cert_untrusted' })).toEqual(['r4']);
    expect(ids({ since: 3000 })).toEqual(['r5', 'r4', 'r3']);
    expect(ids({ limit: 2 })).toEqual(['r5', 'r4']);
  });

  it('makes records from a Check: host without port, path without query, identity fields', () => {
    const input = { requestId: 'req-1', authority: 'Pay.Acme.Example:8443', method: 'GET', path: '/pay?token=secret', sni: undefined, peerCertificate: undefined, xfcc: undefined, sourceAddress: '10.0.0.1' } satisfies CheckInput;
    const allow: Decision = {
      allow: true,
      reason: 'policy_allow',
      tenant: 'acme',
      app: 'pay',
      cacheHit: false,
      identity: { subject: 'CN=d', issuer: 'CN=r', serial: '01', fingerprint256: 'ab'.repeat(32), dns: [], uri: [], email: [], ip: [], notAfter: 0 },
      user: { token: 'jwt', session: { sub: 'okta|1', sid: 's', email: 'a@acme.example', name: undefined, groups: [], idp: 'okta', idpType: 'oidc', amr: [], authTime: 0, exp: 0 } },
    };
    expect(toDecisionRecord(input, allow, 42)).toEqual({
      time: 42,
      request_id: 'req-1',
      host: 'pay.acme.example',
      path: '/pay',
      method: 'GET',
      tenant: 'acme',
      app: 'pay',
      allow: true,
      status: 200,
      reason: 'policy_allow',
      sub: 'okta|1',
      email: 'a@acme.example',
      cert_fingerprint: 'ab'.repeat(32),
    });
    const deny: Decision = { allow: false, reason: 'tenant_unknown', status: 403, detail: 'no tenant', tenant: undefined, identity: undefined, cacheHit: false };
    expect(toDecisionRecord({ ...input, authority: '[::1]:8443' }, deny, 1)).toMatchObject({ host: '[::1]', allow: false, status: 403, tenant: null, sub: null, cert_fingerprint: null });
  });
});

describe('memory audit sink', () => {
  it('keeps the newest entries and filters by time, actor and target', async () => {
    const sink = createMemoryAuditSink({ capacity: 3 });
    const entry = (i: number, actor: string, target: string): AuditEntry => ({
      time: i,
      actor,
      action: 'tenant.create',
      method: 'POST',
      path: '/v1/tenants',
      target,
      status: 201,
      result: 'ok',
      summary: {},
      request_id: `r${i}`,
    });
    for (const [i, a, t] of [[1, 'ops', 'a'], [2, 'ci', 'b'], [3, 'ops', 'b'], [4, 'ci', 'a']] as const) await sink.write(entry(i, a, t));
    expect(sink.size).toBe(3);
    expect((await sink.recent({})).map((e) => e.request_id)).toEqual(['r4', 'r3', 'r2']);
    expect((await sink.recent({ actor: 'ci' })).map((e) => e.request_id)).toEqual(['r4', 'r2']);
    expect((await sink.recent({ target: 'b', since: 3 })).map((e) => e.request_id)).toEqual(['r3']);
  });
});

describe('error wording', () => {
  it('names the field as the client wrote it', () => {
    expect(fieldOf('body', '/mtls/crl_pems/2')).toBe('body.mtls.crl_pems[2]');
    expect(fieldOf('body', '')).toBe('body');
    expect(fieldOf('body', '/a~1b')).toBe('body.a/b');
    expect(describeSchemaError('body', { keyword: 'required', instancePath: '/mtls', params: { missingProperty: 'mode' } })).toEqual({ field: 'body.mtls.mode', message: 'body.mtls.mode is required' });
    expect(
      describeSchemaError('querystring', { keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'limt' }, parentSchema: { properties: { limit: {}, after: {} } } }),
    ).toEqual({ field: 'query.limt', message: "query: unknown field 'limt' (did you mean 'limit'?); expected limit, after" });
    expect(describeSchemaError('body', { keyword: 'type', instancePath: '/x', params: { type: 'string,null' }, data: 3.5 }).message).toBe('body.x: must be a string or null; got a number');
  });

  it('maps store codes to statuses and snake_case fields, and hides internals of unexpected errors', () => {
    expect(renderError(new TenantStoreError('ERR_HOSTNAME_TAKEN', 'hostnames: taken', { field: 'hostnames' }))).toMatchObject({ status: 409, code: 'ERR_HOSTNAME_TAKEN' });
    expect(renderError(new TenantStoreError('ERR_CA_INVALID', 'mtls.caPem: no PEM', { field: 'mtls.caPem' }))).toMatchObject({ status: 400, field: 'mtls.ca_pem', message: 'mtls.ca_pem: no PEM' });
    expect(renderError(new TenantStoreError('ERR_STORE_UNAVAILABLE', 'down'))).toMatchObject({ status: 503 });
    const internal = renderError(new Error('SELECT * FROM secrets failed at db.internal:5432'));
    expect(internal).toMatchObject({ status: 500, code: 'ERR_ADMIN_INTERNAL' });
    expect(internal.message).not.toContain('db.internal');
  });
});

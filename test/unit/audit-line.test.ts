import type { DestinationStream } from 'pino';
import type { CheckInput } from '../../src/core/decision.js';
import { auditRecordJson, toAuditRecord, writeAudit, type AuditRecord } from '../../src/observability/audit.js';
import { createLogger, writeInfoLine } from '../../src/observability/logger.js';

function capture(): { stream: DestinationStream; lines: string[] } {
  const lines: string[] = [];
  return { stream: { write: (s: string) => void lines.push(s) }, lines };
}

const record: AuditRecord = {
  request_id: 'r-1',
  tenant: 'acme',
  host: 'pay.acme.example',
  method: 'GET',
  // Quotes, a backslash, a control character, non-ASCII and a lone surrogate all need escaping.
  path: '/a"b\\c\u0001d/é/\ud800',
  source: null,
  outcome: 'deny',
  reason: 'policy_deny',
  status: 403,
  detail: 'line one\nline two',
  app: 'wiki',
  policy: 'no-"contractors"',
  user_sub: 'okta:00u1',
  user_email: 'zoë@acme.example',
  idp: 'okta',
  cert_fingerprint: null,
  cert_subject: 'CN=Zoë, O="Acme"',
  cache_hit: false,
  duration_ms: 0.042,
};

const withoutTime = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":"T"');

describe('the audit line', () => {
  test('is byte for byte the line pino writes for the same record, time aside', () => {
    const fast = capture();
    writeAudit(createLogger('info', fast.stream), record);
    const slow = capture();
    createLogger('info', slow.stream).info({ decision: record }, 'decision');
    expect(fast.lines).toHaveLength(1);
    expect(withoutTime(fast.lines[0] as string)).toBe(withoutTime(slow.lines[0] as string));
    const parsed = JSON.parse(fast.lines[0] as string) as { level: string; time: string; service: string; decision: AuditRecord; msg: string };
    expect(parsed).toMatchObject({ level: 'info', service: 'bouncer', msg: 'decision', decision: record });
    expect(Math.abs(Date.parse(parsed.time) - Date.now())).toBeLessThan(60_000);
    expect((fast.lines[0] as string).endsWith('}\n')).toBe(true);
  });

  test('follows the logger level, including a level changed at run time', () => {
    const out = capture();
    const logger = createLogger('warn', out.stream);
    writeAudit(logger, record);
    expect(out.lines).toEqual([]);
    logger.level = 'info';
    writeAudit(logger, record);
    expect(out.lines).toHaveLength(1);
  });

  test('a logger not made by createLogger (here a child with its own bindings) goes through pino', () => {
    const out = capture();
    const child = createLogger('info', out.stream).child({ component: 'authz' });
    expect(writeInfoLine(child, 'decision', '{}', 'decision')).toBe(false);
    writeAudit(child, record);
    expect(JSON.parse(out.lines[0] as string)).toMatchObject({ service: 'bouncer', component: 'authz', decision: { request_id: 'r-1' } });
  });

  test('an allow has no detail; a denial has its detail, clipped, and no line keeps the query string', () => {
    const input: CheckInput = {
      requestId: 'r-2',
      authority: 'wiki.acme.example',
      sni: undefined,
      method: 'GET',
      path: '/page?token=secret',
      peerCertificate: undefined,
      peerCertificateEncoded: undefined,
      xfcc: undefined,
      sourceAddress: '10.0.0.9',
      accept: undefined,
      serviceClientId: undefined,
      serviceClientSecret: undefined,
      country: undefined,
    };
    const lineOf = (r: AuditRecord): Record<string, unknown> => {
      const out = capture();
      writeAudit(createLogger('info', out.stream), r);
      return (JSON.parse(out.lines[0] as string) as { decision: Record<string, unknown> }).decision;
    };
    const allowed = lineOf(toAuditRecord(input, { allow: true, reason: 'mtls_off', tenant: 'acme', identity: undefined, cacheHit: false }, 0.01));
    expect(allowed).toMatchObject({ outcome: 'allow', status: 200, path: '/page', source: '10.0.0.9' });
    expect(Object.keys(allowed)).not.toContain('detail');
    const denied = lineOf(toAuditRecord(input, { allow: false, reason: 'policy_deny', status: 403, detail: 'x'.repeat(600), tenant: 'acme', identity: undefined, cacheHit: false }, 0.01));
    expect(denied).toMatchObject({ outcome: 'deny', status: 403, reason: 'policy_deny' });
    expect(denied['detail']).toBe(`${'x'.repeat(512)}…`);
    expect(Object.keys(denied).indexOf('detail')).toBe(Object.keys(denied).indexOf('status') + 1);
  });

  test('the hand-written JSON is JSON.stringify\'s, character for character, for any strings', () => {
    // Every kind of character JSON treats apart: quotes, backslashes, controls,
    // DEL, non-ASCII, astral pairs, lone surrogates, U+2028.
    const alphabet = ['a', 'Z', '0', ' ', '"', '\\', '/', '\u0000', '\u001f', '\n', '\t', '\u007f', 'é', '€', '\u2028', '😀', '\ud800', '\udfff', '%', '<'];
    let seed = 7;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const text = (): string => Array.from({ length: rand(12) }, () => alphabet[rand(alphabet.length)]).join('');
    for (let i = 0; i < 2000; i++) {
      const r: AuditRecord = {
        request_id: text(),
        tenant: rand(3) === 0 ? null : text(),
        host: text(),
        method: text(),
        path: text(),
        source: rand(2) === 0 ? null : text(),
        outcome: rand(2) === 0 ? 'allow' : 'deny',
        reason: text(),
        status: [200, 302, 403][rand(3)] as number,
        detail: rand(2) === 0 ? undefined : text(),
        app: rand(2) === 0 ? null : text(),
        policy: rand(2) === 0 ? null : text(),
        user_sub: rand(2) === 0 ? null : text(),
        user_email: rand(2) === 0 ? null : text(),
        idp: rand(2) === 0 ? null : text(),
        cert_fingerprint: rand(2) === 0 ? null : text(),
        cert_subject: rand(2) === 0 ? null : text(),
        cache_hit: rand(2) === 0,
        duration_ms: rand(2) === 0 ? rand(100_000_000) / 1000 : ([0, -0, 0.042, 12.5, 1e-7, 0.1 + 0.2, 123456789.0125, -1.5, Number.NaN, Number.POSITIVE_INFINITY][rand(10)] as number),
      };
      expect(auditRecordJson(r)).toBe(JSON.stringify(r));
    }
  });
});

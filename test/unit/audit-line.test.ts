import type { DestinationStream } from 'pino';
import { writeAudit, type AuditRecord } from '../../src/observability/audit.js';
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
});

import { describe, expect, it } from '@jest/globals';
import { classifyAcmeFailure, nextRetryDelay, parseRetryAfter, type AcmeProblem } from '../../../src/hostnames/acme-problems.js';

const problem = (type: string, status?: number, retryAfterMs?: number): AcmeProblem => ({ type: `urn:ietf:params:acme:error:${type}`, detail: 'the CA says so', status, retryAfterMs });

describe('ACME failures to reasons', () => {
  it.each([
    ['order', problem('rateLimited', 429, 3_600_000), 'rate_limited'],
    ['order', problem('rejectedIdentifier', 400), 'ca_refused'],
    ['order', problem('caa', 403), 'ca_refused'],
    ['order', problem('serverInternal', 500), 'ca_unavailable'],
    ['challenge', problem('dns'), 'dns_not_pointing_here'],
    ['challenge', problem('connection'), 'challenge_failed'],
    ['challenge', problem('unauthorized'), 'challenge_failed'],
    ['challenge', problem('incorrectResponse'), 'challenge_failed'],
    ['order', problem('unauthorized', 403), 'ca_refused'],
    ['finalize', problem('badCSR', 400), 'ca_refused'],
    ['challenge', problem('somethingNew'), 'challenge_failed'],
  ] as const)('%s: %j is %s', (stage, p, reason) => {
    expect(classifyAcmeFailure(stage, p, new Error('x')).reason).toBe(reason);
  });

  it('keeps the CA\'s Retry-After with a rate limit', () => {
    expect(classifyAcmeFailure('order', problem('rateLimited', 429, 120_000), undefined)).toEqual({ reason: 'rate_limited', detail: 'rateLimited: the CA says so', retryAfterMs: 120_000 });
  });

  it('a request that got no answer is the CA being unavailable', () => {
    const c = classifyAcmeFailure('order', undefined, Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:14000'), { code: 'ECONNREFUSED' }));
    expect(c.reason).toBe('ca_unavailable');
    expect(c.detail).toContain('ECONNREFUSED');
  });

  it('parses Retry-After as seconds or a date', () => {
    const now = Date.UTC(2026, 0, 1);
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(new Date(now + 30_000).toUTCString(), now)).toBe(30_000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('backs off exponentially, honours Retry-After, and caps both', () => {
    const o = { initialMs: 1_000, maxMs: 10_000, retryAfterMaxMs: 60_000 };
    expect([1, 2, 3, 4, 5, 6].map((n) => nextRetryDelay(n, undefined, o))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(nextRetryDelay(1, 30_000, o)).toBe(30_000);
    expect(nextRetryDelay(1, 3_600_000, o)).toBe(60_000);
  });
});

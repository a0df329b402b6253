/**
 * Maps what an ACME CA says (RFC 8555 §6.7 problem documents, HTTP statuses,
 * network failures) to a hostname's failure reason and when to try again.
 */
import type { HostnameReason } from './lifecycle.js';

/** A problem document as a CA sends it, with the Retry-After of its response. */
export interface AcmeProblem {
  readonly type: string;
  readonly detail: string;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
}

/** Where in the flow the problem arose: ordering, or the CA validating a challenge. */
export type AcmeStage = 'account' | 'order' | 'challenge' | 'finalize';

export interface ClassifiedProblem {
  readonly reason: HostnameReason;
  readonly detail: string;
  readonly retryAfterMs: number | undefined;
}

const PREFIX = 'urn:ietf:params:acme:error:';

/** Challenge validation errors (RFC 8555 §8, §6.7) that mean the CA reached nothing useful at our address. */
const CHALLENGE_ERRORS = new Set(['connection', 'incorrectResponse', 'unauthorized', 'tls']);
/** Refusals of the name or of our request, not transient. */
const REFUSALS = new Set(['rejectedIdentifier', 'unsupportedIdentifier', 'caa', 'malformed', 'badCSR', 'orderNotReady', 'accountDoesNotExist', 'externalAccountRequired', 'userActionRequired', 'unauthorized', 'compound', 'badSignatureAlgorithm', 'badPublicKey', 'unsupportedContact', 'invalidContact', 'badRevocationReason', 'alreadyRevoked']);

/**
 * Classifies the problem the CA reported (the most recent one), or, when the
 * CA said nothing (the request never got an answer), the error itself.
 */
export function classifyAcmeFailure(stage: AcmeStage, problem: AcmeProblem | undefined, error: unknown): ClassifiedProblem {
  if (problem === undefined) {
    const message = error instanceof Error ? error.message : String(error);
    return { reason: 'ca_unavailable', detail: `no answer from the CA: ${message}`.slice(0, 500), retryAfterMs: undefined };
  }
  const type = problem.type.startsWith(PREFIX) ? problem.type.slice(PREFIX.length) : problem.type;
  const detail = `${type}: ${problem.detail}`.slice(0, 500);
  const r = (reason: HostnameReason): ClassifiedProblem => ({ reason, detail, retryAfterMs: problem.retryAfterMs });
  if (type === 'rateLimited' || problem.status === 429) return r('rate_limited');
  if (type === 'dns') return r('dns_not_pointing_here');
  if (stage === 'challenge' && CHALLENGE_ERRORS.has(type)) return r('challenge_failed');
  if (type === 'serverInternal' || (problem.status !== undefined && problem.status >= 500)) return r('ca_unavailable');
  if (REFUSALS.has(type)) return r('ca_refused');
  // An unknown problem during validation is the validation failing; elsewhere, the CA refusing.
  return r(stage === 'challenge' ? 'challenge_failed' : 'ca_refused');
}

/** Parses a Retry-After value (seconds, or an HTTP date) into ms from `nowMs`. */
export function parseRetryAfter(header: string | undefined, nowMs: number): number | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

/**
 * When to try again after `attempts` failures in a row: the CA's Retry-After
 * when it gave one (capped), else exponential backoff from `initialMs` up to `maxMs`.
 */
export function nextRetryDelay(attempts: number, retryAfterMs: number | undefined, o: { initialMs: number; maxMs: number; retryAfterMaxMs: number }): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, 1_000), o.retryAfterMaxMs);
  const exp = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(o.initialMs * 2 ** exp, o.maxMs);
}

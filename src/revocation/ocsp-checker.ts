import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { ParsedCert } from '../core/cert-parse.js';
import { buildOcspRequest, checkOcspResponse } from '../core/ocsp.js';
import { readRevocationSources } from '../core/revocation-sources.js';
import type { RevocationAnswer, RevocationMode } from '../core/revocation-policy.js';
import type { Tenant } from '../core/tenant.js';
import type { RevocationSettings } from '../config/defaults.js';
import { fetchBounded, RevocationFetchError } from './http-fetch.js';
import type { RevocationMetrics } from './metrics.js';

/** What is known about one (tenant, certificate): an answer, or why there is none. */
type Known =
  | { readonly kind: 'good' }
  | { readonly kind: 'revoked'; readonly revokedAt: number }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'failed'; readonly failure: string; readonly detail: string };

interface Entry {
  readonly known: Known;
  readonly expiresAt: number;
  /** After this instant, the next use starts a background refresh. */
  refreshAt: number;
}

export interface OcspCheckerDeps {
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics: RevocationMetrics;
  readonly settings: RevocationSettings;
  readonly fetch?: typeof fetchBounded;
  /** The request nonce (RFC 8954); 16 random octets by default. */
  readonly nonce?: () => Buffer;
}

/** A responder of one tenant whose last exchange failed, recently (see `ocspFailingReportMs`). */
export interface OcspResponderReport {
  readonly tenant: string;
  readonly url: string;
  /** The tenant's mode at that exchange: under `require` its new certificates are being denied. */
  readonly mode: Exclude<RevocationMode, 'off'>;
  /** Why (`timeout`, `network`, `http_status`, `bad_signature`, `stale`…). */
  readonly failure: string;
  readonly failingSince: number;
  readonly lastFailureAt: number;
}

interface ResponderState {
  readonly tenant: string;
  readonly url: string;
  mode: Exclude<RevocationMode, 'off'>;
  failure: string;
  failingSince: number;
  lastFailureAt: number;
}

export interface OcspChecker {
  /** From memory only; starts a fetch in the background when the answer is missing or ageing. */
  answer(tenant: Tenant, mode: Exclude<RevocationMode, 'off'>, ocspUrl: string | undefined, leaf: ParsedCert, issuer: ParsedCert, nowMs: number): RevocationAnswer;
  /** Settles when no fetch is in flight; for tests and shutdown. */
  idle(): Promise<void>;
  /** Responders whose last exchange failed within `ocspFailingReportMs` of `nowMs`. */
  failing(nowMs: number): OcspResponderReport[];
}

const PASS: RevocationAnswer = { kind: 'pass' };
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * OCSP for client certificates (RFC 6960), off the request path: answers come
 * from a bounded cache filled by background exchanges; a certificate seen for
 * the first time starts one. Under `require` the first request is denied with
 * a promise the adapter may wait on once (bounded by the exchange timeout);
 * under `prefer` it passes and the soft-fail is counted and logged.
 */
export function createOcspChecker(deps: OcspCheckerDeps): OcspChecker {
  const s = deps.settings;
  const fetch = deps.fetch ?? fetchBounded;
  const makeNonce = deps.nonce ?? (() => randomBytes(16));
  const cache = new LRUCache<string, Entry>({ max: s.ocspMaxEntries });
  const inFlight = new Map<string, Promise<void>>();
  // The last answer per parsed leaf: a verified chain hands the same leaf object to
  // every request of its device, so the warm path skips building the string key and
  // the LRU lookup. Kept in step with `cache` on every write, so it is never older.
  const byLeaf = new WeakMap<ParsedCert, { readonly tenant: string; readonly entry: Entry }>();
  // The last exchange per (tenant, responder), kept only while it failed.
  const responders = new LRUCache<string, ResponderState>({ max: s.ocspMaxRespondersTracked });
  const noteExchange = (tenant: Tenant, mode: RevocationMode, url: string | undefined, failure: string | undefined, nowMs: number): void => {
    if (url === undefined || mode === 'off') return;
    const key = `${tenant.name}\n${url}`;
    if (failure === undefined) {
      responders.delete(key);
      return;
    }
    const known = responders.get(key);
    if (known) {
      known.mode = mode;
      known.failure = failure;
      known.lastFailureAt = nowMs;
    } else responders.set(key, { tenant: tenant.name, url, mode, failure, failingSince: nowMs, lastFailureAt: nowMs });
  };
  const remember = (key: string, tenant: Tenant, leaf: ParsedCert, entry: Entry): void => {
    cache.set(key, entry);
    byLeaf.set(leaf, { tenant: tenant.name, entry });
  };

  function softFail(tenant: Tenant, mode: RevocationMode, reason: string, leaf: ParsedCert, detail: string): void {
    if (mode !== 'prefer') return;
    deps.metrics.ocspSoftFail.inc({ tenant: tenant.name, reason });
    deps.logger.warn({ tenant: tenant.name, reason, serial: leaf.serial, subject: leaf.subject, detail }, 'ocsp soft-fail: client certificate allowed without a usable OCSP answer');
  }

  async function exchange(tenant: Tenant, ocspUrl: string | undefined, leaf: ParsedCert, issuer: ParsedCert): Promise<{ known: Known; until: number | undefined; url: string | undefined }> {
    const url = ocspUrl ?? readRevocationSources(leaf).ocsp[0];
    if (url === undefined) return { known: { kind: 'failed', failure: 'no_responder', detail: `certificate ${leaf.subject} names no OCSP responder and none is configured` }, until: undefined, url };
    const withNonce = tenant.mtls.revocation?.ocspNonce ?? true;
    const request = buildOcspRequest(leaf, issuer, { nonce: withNonce ? makeNonce() : undefined });
    let body: Buffer;
    try {
      ({ body } = await fetch(url, {
        method: 'POST',
        body: request.der,
        headers: { 'content-type': 'application/ocsp-request', accept: 'application/ocsp-response' },
        timeoutMs: s.ocspTimeoutMs,
        maxBytes: s.ocspMaxResponseBytes,
      }));
    } catch (err) {
      const failure = err instanceof RevocationFetchError ? err.failure : 'network';
      return { known: { kind: 'failed', failure, detail: err instanceof Error ? err.message : String(err) }, until: undefined, url };
    }
    const nowMs = deps.now();
    const result = checkOcspResponse(body, request, issuer, { nowMs, skewMs: s.clockSkewMs, noNextUpdateMaxAgeMs: s.ocspNoNextUpdateMaxAgeMs, requireNonceEcho: withNonce });
    if (!result.ok) return { known: { kind: 'failed', failure: result.failure, detail: `OCSP responder ${url}: ${result.detail}` }, until: undefined, url };
    const until = (result.nextUpdate ?? result.thisUpdate + s.ocspNoNextUpdateMaxAgeMs) + s.clockSkewMs;
    if (result.status === 'revoked') return { known: { kind: 'revoked', revokedAt: result.revokedAt }, until, url };
    return { known: { kind: result.status }, until, url };
  }

  function start(key: string, tenant: Tenant, mode: RevocationMode, ocspUrl: string | undefined, leaf: ParsedCert, issuer: ParsedCert): Promise<void> | undefined {
    const running = inFlight.get(key);
    if (running) return running;
    if (inFlight.size >= s.ocspMaxInFlight) return undefined;
    const done = exchange(tenant, ocspUrl, leaf, issuer)
      .then(({ known, until, url }) => {
        const nowMs = deps.now();
        noteExchange(tenant, mode, url, known.kind === 'failed' ? known.failure : undefined, nowMs);
        deps.metrics.ocspResponses.inc({ tenant: tenant.name, result: known.kind === 'failed' ? known.failure : known.kind });
        const previous = cache.get(key);
        if (known.kind === 'failed') {
          deps.logger.warn({ tenant: tenant.name, reason: known.failure, serial: leaf.serial, detail: known.detail }, 'ocsp exchange failed');
          // A still-valid answer outlives a failed refresh; it is retried later.
          if (previous && previous.known.kind !== 'failed' && previous.expiresAt > nowMs) {
            previous.refreshAt = nowMs + s.ocspRetryMs;
            return;
          }
          softFail(tenant, mode, known.failure, leaf, known.detail);
          remember(key, tenant, leaf, { known, expiresAt: nowMs + s.ocspRetryMs, refreshAt: nowMs + s.ocspRetryMs });
          return;
        }
        if (known.kind === 'unknown') softFail(tenant, mode, 'unknown', leaf, `the responder does not know certificate ${leaf.serial}`);
        // Never beyond nextUpdate (plus skew), the leaf's own expiry, or the cap.
        const expiresAt = Math.min(until ?? nowMs, leaf.notAfter, nowMs + s.ocspMaxCacheMs, known.kind === 'unknown' ? nowMs + s.ocspRetryMs : Number.POSITIVE_INFINITY);
        remember(key, tenant, leaf, { known, expiresAt, refreshAt: nowMs + (expiresAt - nowMs) * s.refreshAfterFraction });
      })
      .catch((err: unknown) => {
        deps.logger.error({ err, tenant: tenant.name }, 'ocsp check failed unexpectedly');
        remember(key, tenant, leaf, { known: { kind: 'failed', failure: 'internal', detail: 'internal error' }, expiresAt: deps.now() + s.ocspRetryMs, refreshAt: deps.now() + s.ocspRetryMs });
      })
      .finally(() => inFlight.delete(key));
    inFlight.set(key, done);
    return done;
  }

  function fromEntry(entry: Entry, mode: RevocationMode, leaf: ParsedCert): RevocationAnswer {
    const known = entry.known;
    switch (known.kind) {
      case 'good':
        return PASS;
      case 'revoked':
        return { kind: 'deny', reason: 'client_cert_revoked', detail: `certificate ${leaf.subject} (serial ${leaf.serial}) was revoked at ${iso(known.revokedAt)} (OCSP)` };
      case 'unknown':
        return mode === 'require' ? { kind: 'deny', reason: 'client_cert_ocsp_unknown', detail: `the OCSP responder does not know certificate serial ${leaf.serial}` } : PASS;
      case 'failed':
        return mode === 'require' ? { kind: 'deny', reason: 'client_cert_ocsp_unavailable', detail: `no usable OCSP answer: ${known.detail}` } : PASS;
    }
  }

  return {
    answer(tenant, mode, ocspUrl, leaf, issuer, nowMs) {
      const seen = byLeaf.get(leaf);
      if (seen !== undefined && seen.tenant === tenant.name && seen.entry.expiresAt > nowMs && nowMs < seen.entry.refreshAt) return fromEntry(seen.entry, mode, leaf);
      const key = `${tenant.name}\n${leaf.fingerprint256}`;
      // The LRU may have dropped an answer the fast path kept using (its reads do not count as use).
      const entry = cache.get(key) ?? (seen?.tenant === tenant.name ? seen.entry : undefined);
      if (entry !== undefined && entry.expiresAt > nowMs) {
        byLeaf.set(leaf, { tenant: tenant.name, entry });
        if (nowMs >= entry.refreshAt && !inFlight.has(key)) {
          entry.refreshAt = nowMs + s.ocspRetryMs;
          void start(key, tenant, mode, ocspUrl, leaf, issuer);
        }
        return fromEntry(entry, mode, leaf);
      }
      const already = inFlight.has(key);
      const settled = start(key, tenant, mode, ocspUrl, leaf, issuer);
      if (mode === 'prefer') {
        // The certificate passes before its answer is known: a soft-fail too, counted once per exchange.
        if (!settled) softFail(tenant, mode, 'busy', leaf, `more than ${s.ocspMaxInFlight} OCSP exchanges in flight`);
        else if (!already) softFail(tenant, mode, 'pending', leaf, 'first request of this certificate; its OCSP answer is being fetched');
        return PASS;
      }
      return {
        kind: 'deny',
        reason: 'client_cert_ocsp_unavailable',
        detail: settled ? `OCSP status of certificate serial ${leaf.serial} is being fetched` : `more than ${s.ocspMaxInFlight} OCSP exchanges in flight`,
        settled,
      };
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight.values()]);
    },
    failing(nowMs) {
      const out: OcspResponderReport[] = [];
      for (const r of responders.values()) {
        if (nowMs - r.lastFailureAt <= s.ocspFailingReportMs) out.push({ tenant: r.tenant, url: r.url, mode: r.mode, failure: r.failure, failingSince: r.failingSince, lastFailureAt: r.lastFailureAt });
      }
      return out;
    },
  };
}

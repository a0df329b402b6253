/**
 * Tenants kept in a store (PostgreSQL) instead of the config file: the only
 * asynchronous step before the pure decision. The request's Host and its TLS
 * server name are looked up (usually both cache hits), and the answers are
 * handed to `evaluate` as a two-entry index, so the core decides exactly as it
 * does with the file's tenants.
 */
import type { Decision, CheckInput } from '../core/decision.js';
import { statusFor } from '../core/reasons.js';
import type { Tenant } from '../core/tenant.js';
import { normalizeHost, type TenantIndex } from '../core/tenant-index.js';
import type { TenantLookup, TenantStore } from '../stores/tenant-store.js';
import type { SyncOrAsync } from './sync-or-async.js';

/** A store to resolve tenants from, and how long a check may wait for it. */
export interface StoreTenants {
  readonly store: Pick<TenantStore, 'resolveHost' | 'peekHost'>;
  /** A lookup slower than this is a `tenant_store_unavailable` denial (keep it under Envoy's ext_authz timeout). */
  readonly timeoutMs: number;
}

export type LookupOutcome = { readonly kind: 'index'; readonly tenants: TenantIndex } | { readonly kind: 'deny'; readonly decision: Decision };

const EMPTY_WILDCARDS: ReadonlyMap<string, Tenant> = new Map();

function unavailable(detail: string): LookupOutcome {
  return {
    kind: 'deny',
    decision: {
      allow: false,
      reason: 'tenant_store_unavailable',
      status: statusFor('tenant_store_unavailable'),
      detail: `cannot tell which tenant serves this host: ${detail}`,
      tenant: undefined,
      identity: undefined,
      cacheHit: false,
    },
  };
}

/**
 * The lookup, or an unavailable answer once `timeoutMs` pass or the call is
 * aborted (its grpc-timeout passed, or Envoy gave up). The store's query is
 * shared by every check waiting on the same host, so it is not cancelled:
 * this check just stops waiting for it.
 */
function withDeadline(lookup: Promise<TenantLookup>, timeoutMs: number, signal: AbortSignal | undefined): Promise<TenantLookup> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const late = new Promise<TenantLookup>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'store_unavailable', detail: `the tenant store did not answer within ${timeoutMs} ms` }), timeoutMs);
    if (signal === undefined) return;
    onAbort = () => resolve({ kind: 'store_unavailable', detail: 'the call was abandoned before the tenant store answered' });
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([lookup, late]).finally(() => {
    clearTimeout(timer);
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  });
}

/**
 * Resolves the hosts `evaluate` will ask about. An unknown host is simply left
 * out (the core then denies `tenant_unknown`); a store that cannot answer for
 * either host denies the request, since the missing tenant might require a
 * client certificate.
 */
export function lookupTenants(input: CheckInput, source: StoreTenants, call?: { readonly signal: AbortSignal }): SyncOrAsync<LookupOutcome> {
  const host = normalizeHost(input.authority);
  const sniHost = input.sni === undefined || input.sni === '' ? '' : normalizeHost(input.sni);
  const hosts = host === sniHost || sniHost === '' ? (host === '' ? [] : [host]) : host === '' ? [sniHost] : [host, sniHost];
  // Warm tenants answer from memory; only hosts that need a query pay for a promise and a deadline.
  const peeked = hosts.map((h) => source.store.peekHost(h));
  if (peeked.every((a) => a !== undefined)) return toIndex(hosts, peeked as TenantLookup[]);
  // The signal is asked for only here: a warm check never makes one.
  const signal = call?.signal;
  return Promise.all(hosts.map((h, i) => peeked[i] ?? withDeadline(source.store.resolveHost(h), source.timeoutMs, signal))).then((answers) => toIndex(hosts, answers));
}

function toIndex(hosts: readonly string[], answers: readonly TenantLookup[]): LookupOutcome {
  const exact = new Map<string, Tenant>();
  for (let i = 0; i < hosts.length; i++) {
    const found = answers[i] as TenantLookup;
    if (found.kind === 'store_unavailable') return unavailable(found.detail);
    if (found.kind === 'tenant') exact.set(hosts[i] as string, found.tenant);
  }
  return { kind: 'index', tenants: { exact, wildcard: EMPTY_WILDCARDS, size: exact.size } };
}

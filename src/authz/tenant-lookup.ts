/**
 * Tenants kept in a store (PostgreSQL) instead of the config file: the only
 * asynchronous step before the pure decision. The request's Host and its TLS
 * server name are looked up (usually both cache hits), and the answers are
 * handed to `evaluate` as a two-entry index, so the core decides exactly as it
 * does with the file's tenants.
 */
import { LRUCache } from 'lru-cache';
import type { Decision, CheckInput } from '../core/decision.js';
import { statusFor } from '../core/reasons.js';
import type { Tenant } from '../core/tenant.js';
import { normalizeHost, resolveTenant, type HostIndex, type TenantIndex } from '../core/tenant-index.js';
import type { TenantLookup, TenantStore } from '../stores/tenant-store.js';
import type { SyncOrAsync } from './sync-or-async.js';

/** A store to resolve tenants from, and how long a check may wait for it. */
export interface StoreTenants {
  readonly store: Pick<TenantStore, 'resolveHost' | 'peekHost'>;
  /** A lookup slower than this is a `tenant_store_unavailable` denial (keep it under Envoy's ext_authz timeout). */
  readonly timeoutMs: number;
  /** The store's last answers for hosts the config file serves; see {@link FileHostAnswers}. */
  readonly fileHosts?: FileHostAnswers | undefined;
}

/**
 * The hosts the config file serves itself (apps behind sign-in, the login
 * service), as the request's state knows them: the state's `identity` fits as is,
 * so the request path allocates nothing for it.
 */
export interface FileHostsView {
  readonly apps?: HostIndex<unknown> | undefined;
  readonly auth?: { readonly domain: string } | undefined;
}

/** Hosts the config file serves under a wildcard are remembered one by one; this bounds them. */
const FILE_HOST_ANSWERS_MAX = 10_000;

/**
 * The store's last answer (a tenant, or none) for each host the config file
 * serves: apps behind sign-in and the login service. Those hosts are the file's,
 * so a PostgreSQL outage must not take them down; but a tenant in the database
 * may still own one of them (a client certificate in front of sign-in), so the
 * database is asked while it is up, and its last answer stands in while it is
 * down, without expiry. A cached absence of any other host is no answer during
 * an outage: that host gets `tenant_store_unavailable`.
 */
export class FileHostAnswers {
  private readonly answers = new LRUCache<string, TenantLookup>({ max: FILE_HOST_ANSWERS_MAX });

  /** Keeps `answer` for `host` unless it is the same as the one kept (the common case costs one map read). */
  remember(host: string, answer: TenantLookup): void {
    if (answer.kind === 'store_unavailable') return;
    const kept = this.answers.peek(host);
    if (kept !== undefined && kept.kind === answer.kind && (kept.kind !== 'tenant' || (answer.kind === 'tenant' && kept.tenant === answer.tenant))) return;
    this.answers.set(host, answer);
  }

  recall(host: string): TenantLookup | undefined {
    return this.answers.get(host);
  }

  get size(): number {
    return this.answers.size;
  }
}

function servedByFile(view: FileHostsView | undefined, host: string): boolean {
  if (view === undefined) return false;
  return host === view.auth?.domain || (view.apps !== undefined && resolveTenant(view.apps, host) !== undefined);
}

/**
 * Asks the store about hosts the config file serves (exact app hostnames, the
 * login service) so their answers are known before any outage. Never throws.
 */
export async function warmFileHosts(source: StoreTenants, hosts: readonly string[]): Promise<void> {
  const memory = source.fileHosts;
  if (!memory) return;
  await Promise.all(
    hosts.map(async (h) => {
      const host = normalizeHost(h);
      if (host === '') return;
      try {
        memory.remember(host, await withDeadline(source.store.resolveHost(host), source.timeoutMs, undefined));
      } catch {
        // resolveHost never throws by contract; nothing to remember if it did.
      }
    }),
  );
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
 * client certificate, unless the host is one the config file serves and the
 * store's last answer for it is known (see {@link FileHostAnswers}).
 */
export function lookupTenants(input: CheckInput, source: StoreTenants, fileHosts?: FileHostsView, call?: { readonly signal: AbortSignal }): SyncOrAsync<LookupOutcome> {
  const host = normalizeHost(input.authority);
  const sniHost = input.sni === undefined || input.sni === '' ? '' : normalizeHost(input.sni);
  const hosts = host === sniHost || sniHost === '' ? (host === '' ? [] : [host]) : host === '' ? [sniHost] : [host, sniHost];
  // Warm tenants answer from memory; only hosts that need a query pay for a promise and a deadline.
  const peeked = hosts.map((h) => source.store.peekHost(h));
  const settle = (answers: readonly TenantLookup[]): LookupOutcome => toIndex(hosts, withFileAnswers(hosts, answers, source.fileHosts, fileHosts));
  if (peeked.every((a) => a !== undefined)) return settle(peeked as TenantLookup[]);
  // The signal is asked for only here: a warm check never makes one.
  const signal = call?.signal;
  return Promise.all(hosts.map((h, i) => peeked[i] ?? withDeadline(source.store.resolveHost(h), source.timeoutMs, signal))).then(settle);
}

/** Remembers the store's answers for the file's hosts, and stands in with them when the store could not answer. */
function withFileAnswers(hosts: readonly string[], answers: readonly TenantLookup[], memory: FileHostAnswers | undefined, view: FileHostsView | undefined): readonly TenantLookup[] {
  if (memory === undefined || view === undefined) return answers;
  let out: TenantLookup[] | undefined;
  for (let i = 0; i < hosts.length; i++) {
    const h = hosts[i] as string;
    if (!servedByFile(view, h)) continue;
    const answer = answers[i] as TenantLookup;
    if (answer.kind !== 'store_unavailable') {
      memory.remember(h, answer);
      continue;
    }
    const known = memory.recall(h);
    if (known !== undefined) (out ??= [...answers])[i] = known;
  }
  return out ?? answers;
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

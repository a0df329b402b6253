/**
 * The lifecycle of customer hostnames: added (ACME) or uploaded, validated,
 * issued, served, renewed at about two thirds of the certificate's lifetime,
 * or failed with a reason and retried with backoff. Admin calls only write
 * the wanted state and schedule work; a worker on every replica takes due
 * hostnames under a lease (store.claimDue), off the request path, so one
 * replica orders for a hostname at a time.
 */
import { randomUUID } from 'node:crypto';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';
import { TenantStoreError } from '../stores/tenant-store.js';
import { nextRetryDelay } from './acme-problems.js';
import type { IssueOutcome } from './acme-issuer.js';
import { createHostnameCatalog, hostnameKeyContext, isServable } from './catalog.js';
import { isRetryable, type HostnameReason, type HostnameState } from './lifecycle.js';
import { checkCustomHostname } from './names.js';
import type { HostnamePatch, HostnameRecord, HostnameStore } from './store.js';
import { HostnameStoreError } from './store.js';
import { checkUpload } from './upload-check.js';
import { HostnameError, type HostnameManager, type HostnameManagerDeps } from './manager-contract.js';

/** The normalised name, or the specific reason it is refused. */
function normalize(text: string): { hostname: string; wildcard: boolean } {
  const checked = checkCustomHostname(text);
  if (!checked.ok) throw new HostnameError('ERR_CUSTOM_HOSTNAME_INVALID', checked.message);
  return checked.value;
}

export function createHostnameManager(deps: HostnameManagerDeps): HostnameManager {
  const reserved = new Set(deps.reserved ?? []);
  /** A valid name that no tenant may claim, because bouncer serves it itself. */
  const customerName = (text: string): { hostname: string; wildcard: boolean } => {
    const name = normalize(text);
    if (reserved.has(name.hostname)) throw new HostnameError('ERR_CUSTOM_HOSTNAME_RESERVED', `${name.hostname} is the login service's domain (auth.domain), which bouncer serves itself`);
    return name;
  };
  const owner = deps.replicaId ?? `replica-${randomUUID()}`;
  const fraction = deps.renewAtFraction ?? HOSTNAME_DEFAULTS.renewAtFraction;
  const retry = deps.retry ?? { initialMs: HOSTNAME_DEFAULTS.retryInitialMs, maxMs: HOSTNAME_DEFAULTS.retryMaxMs, retryAfterMaxMs: HOSTNAME_DEFAULTS.retryAfterMaxMs };
  const leaseMs = deps.leaseMs ?? HOSTNAME_DEFAULTS.leaseMs;
  const catalog = createHostnameCatalog({ store: deps.store, tenants: deps.tenants, keys: deps.keys, clock: deps.clock, logger: deps.logger });
  const log = deps.logger;
  const intervalMs = deps.workerIntervalMs ?? HOSTNAME_DEFAULTS.workerIntervalMs;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;
  /** Work asked for while a pass ran (an add, a retry, a due time): one more pass follows it. */
  let again = false;
  /** Wake-ups for work due soon, one per hostname (its latest due time). */
  const wakes = new Map<string, NodeJS.Timeout>();
  let closed = false;
  const unsubscribes: Array<() => void> = [];

  /** Every state change goes through here: one log line and one metric, never the key or the PEM. */
  const record = (before: HostnameRecord | undefined, after: HostnameRecord): HostnameRecord => {
    if (before?.state !== after.state || before?.reason !== after.reason) {
      const line = { hostname: after.hostname, tenant: after.tenant, source: after.source, from: before?.state ?? null, state: after.state, reason: after.reason, detail: after.reasonDetail };
      if (after.state === 'failed' || after.reason !== null) log.warn(line, 'custom hostname: state');
      else log.info(line, 'custom hostname: state');
      deps.metrics?.transition(after.state, after.reason);
    }
    return after;
  };

  const mustGet = async (hostname: string): Promise<HostnameRecord> => {
    const r = await deps.store.get(hostname);
    if (!r) throw new HostnameError('ERR_CUSTOM_HOSTNAME_NOT_FOUND', `no custom hostname ${hostname}`);
    return r;
  };

  /**
   * The hostname must route to this tenant at the ext_authz server too: when
   * no tenant serves it yet, it is added to this tenant's hostnames; when
   * another tenant does (exactly or by wildcard), it is refused.
   */
  const claimRouting = async (tenant: string, hostname: string, wildcard: boolean): Promise<void> => {
    const probe = wildcard ? `_probe.${hostname.slice(2)}` : hostname;
    const found = await deps.tenants.resolveHost(probe);
    if (found.kind === 'tenant') {
      if (found.tenant.name !== tenant) throw new HostnameError('ERR_CUSTOM_HOSTNAME_TAKEN', `${hostname} is served by another tenant`);
      return;
    }
    if (found.kind === 'store_unavailable') throw new TenantStoreError('ERR_STORE_UNAVAILABLE', `cannot tell which tenant serves ${hostname}: ${found.detail}`);
    try {
      await deps.tenants.addHostname(tenant, hostname);
    } catch (err) {
      if (err instanceof TenantStoreError && err.code === 'ERR_HOSTNAME_TAKEN') throw new HostnameError('ERR_CUSTOM_HOSTNAME_TAKEN', `${hostname} is a hostname of another tenant`, { cause: err });
      if (err instanceof TenantStoreError && err.code === 'ERR_STORE_READ_ONLY') {
        throw new TenantStoreError('ERR_STORE_READ_ONLY', `${hostname} is not among tenant '${tenant}''s hostnames, and tenants come from the config file here: add it there first`);
      }
      throw err;
    }
  };

  const mustHaveTenant = async (tenant: string): Promise<void> => {
    if ((await deps.tenants.getTenant(tenant)) === undefined) throw new HostnameError('ERR_TENANT_NOT_FOUND', `no tenant named '${tenant}'`);
  };

  const create = async (tenant: string, name: { hostname: string; wildcard: boolean }, input: Omit<Parameters<HostnameStore['create']>[0], 'hostname' | 'tenant' | 'wildcard'>): Promise<HostnameRecord> => {
    try {
      return record(undefined, await deps.store.create({ hostname: name.hostname, tenant, wildcard: name.wildcard, ...input }, deps.clock()));
    } catch (err) {
      if (err instanceof HostnameStoreError && err.code === 'ERR_CUSTOM_HOSTNAME_TAKEN') throw new HostnameError('ERR_CUSTOM_HOSTNAME_TAKEN', err.message, { cause: err });
      throw err;
    }
  };

  /** Writes a worker's result, if its lease still holds. */
  const save = async (before: HostnameRecord, patch: HostnamePatch): Promise<HostnameRecord | undefined> => {
    const after = await deps.store.update(before.hostname, patch, { leaseOwner: owner }, deps.clock());
    if (after === undefined) {
      log.warn({ hostname: before.hostname }, 'custom hostname: changed or removed while this replica worked on it; result dropped');
      return undefined;
    }
    await catalog.refresh(after.hostname);
    wakeAt(after.hostname, after.nextAttemptAt);
    return record(before, after);
  };

  const failPatch = (r: HostnameRecord, reason: HostnameReason, detail: string, retryAfterMs: number | undefined, now: number): HostnamePatch => {
    const attempts = r.attempts + 1;
    const stillServing = isServable(r, now);
    let next: number | null = isRetryable(reason) ? now + nextRetryDelay(attempts, retryAfterMs, retry) : null;
    // A renewal that keeps failing must still notice the expiry.
    if (stillServing && r.notAfter !== null) next = Math.min(next ?? r.notAfter, r.notAfter);
    return {
      state: stillServing ? 'renewing' : 'failed',
      reason,
      reasonDetail: detail,
      attempts,
      nextAttemptAt: next,
      // An order the CA could not be asked about may still be resumed; any other failure ends it.
      orderUrl: reason === 'ca_unavailable' ? r.orderUrl : null,
    };
  };

  const issue = async (r: HostnameRecord): Promise<void> => {
    const now = deps.clock();
    if (!deps.issuer) {
      await save(r, { state: isServable(r, now) ? r.state : 'failed', reason: 'acme_not_configured', reasonDetail: null, nextAttemptAt: isServable(r, now) ? r.notAfter : null });
      return;
    }
    if (r.wildcard) {
      await save(r, { state: 'failed', reason: 'wildcard_needs_upload', reasonDetail: null, nextAttemptAt: null });
      return;
    }
    const working: HostnameState = isServable(r, now) ? 'renewing' : 'issuing';
    const started = await save(r, working === 'renewing' ? { state: working } : { state: working, reason: null, reasonDetail: null });
    if (!started) return;
    if (deps.dnsCheck) {
      const dns = await deps.dnsCheck(r.hostname);
      if (!dns.ok) {
        deps.metrics?.order('dns_not_pointing_here');
        await save(started, failPatch(started, 'dns_not_pointing_here', dns.detail, undefined, deps.clock()));
        return;
      }
    }
    let current = started;
    const outcome: IssueOutcome = await deps.issuer.issue(r.hostname, r.orderUrl, async (url) => {
      const saved = await deps.store.update(r.hostname, { orderUrl: url }, { leaseOwner: owner }, deps.clock());
      if (saved) current = saved;
    });
    const done = deps.clock();
    if (!outcome.ok) {
      deps.metrics?.order(outcome.reason);
      await save(current, failPatch(current, outcome.reason, outcome.detail, outcome.retryAfterMs, done));
      return;
    }
    deps.metrics?.order('issued');
    const renewAt = Math.round(outcome.notBefore + (outcome.notAfter - outcome.notBefore) * fraction);
    await save(current, {
      state: 'active',
      reason: null,
      reasonDetail: null,
      certificateChainPem: outcome.chainPem,
      sealedKey: deps.keys.seal(outcome.privateKeyPem, hostnameKeyContext(r.hostname)),
      notBefore: outcome.notBefore,
      notAfter: outcome.notAfter,
      renewAt,
      nextAttemptAt: Math.min(renewAt, outcome.notAfter),
      attempts: 0,
      orderUrl: null,
    });
  };

  /** One due hostname, under this replica's lease. */
  const work = async (r: HostnameRecord): Promise<void> => {
    const now = deps.clock();
    if (r.notAfter !== null && r.notAfter <= now && r.state !== 'failed' && r.certificateChainPem !== null) {
      r = (await save(r, { state: 'failed', reason: 'certificate_expired', reasonDetail: `expired at ${new Date(r.notAfter).toISOString()}`, nextAttemptAt: r.source === 'acme' ? now : null })) ?? r;
      if (r.source !== 'acme') return;
    }
    if (r.source === 'upload') {
      // Nothing to renew: look again when it expires.
      if (r.nextAttemptAt !== r.notAfter) await save(r, { nextAttemptAt: r.notAfter });
      return;
    }
    if (r.state === 'active' && r.renewAt !== null && r.renewAt > now) {
      await save(r, { nextAttemptAt: Math.min(r.renewAt, r.notAfter ?? r.renewAt) });
      return;
    }
    await issue(r);
  };

  const runDue = async (): Promise<number> => {
    const claimed = await deps.store.claimDue(owner, deps.clock(), leaseMs, HOSTNAME_DEFAULTS.workerBatch);
    for (const r of claimed) {
      try {
        await work(r);
      } catch (err) {
        log.error({ hostname: r.hostname, code: (err as { code?: string }).code, message: (err as Error).message }, 'custom hostname: work failed; retried after the lease');
      } finally {
        await deps.store.release(r.hostname, owner).catch(() => undefined);
      }
    }
    return claimed.length;
  };

  const tick = (): void => {
    // Before start() (tests, one-shot commands) work runs only when runDue is called.
    if (closed || timer === undefined) return;
    if (running) {
      again = true;
      return;
    }
    running = runDue()
      .catch((err: unknown) => {
        log.error({ code: (err as { code?: string }).code, message: (err as Error).message }, 'custom hostnames: worker pass failed');
        return 0;
      })
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          tick();
        }
      });
  };

  /**
   * A renewal or retry due soon is looked at on time: with certificates that
   * live for seconds or minutes, a periodic look up to a worker interval late
   * could find them already expired. Work due later waits for the periodic look.
   */
  function wakeAt(hostname: string, at: number | null): void {
    if (closed || timer === undefined) return;
    clearTimeout(wakes.get(hostname));
    wakes.delete(hostname);
    const delay = at === null ? 0 : at - deps.clock();
    // Due now: the pass that saved it is working on it.
    if (delay <= 0 || delay > HOSTNAME_DEFAULTS.wakeWithinMs) return;
    // A few milliseconds late, so the store sees the work as due.
    const wake = setTimeout(() => {
      wakes.delete(hostname);
      tick();
    }, delay + 5);
    wake.unref();
    wakes.set(hostname, wake);
  }

  return {
    catalog,
    async add(tenant, text) {
      const name = customerName(text);
      await mustHaveTenant(tenant);
      const existing = await deps.store.get(name.hostname);
      if (existing) throw new HostnameError('ERR_CUSTOM_HOSTNAME_TAKEN', existing.tenant === tenant ? `${name.hostname} is already a custom hostname of tenant '${tenant}'` : `${name.hostname} belongs to another tenant`);
      await claimRouting(tenant, name.hostname, name.wildcard);
      const reason: HostnameReason | null = name.wildcard ? 'wildcard_needs_upload' : deps.issuer ? null : 'acme_not_configured';
      const created = await create(tenant, name, {
        source: 'acme',
        state: reason === null ? 'pending_validation' : 'failed',
        reason,
        nextAttemptAt: reason === null ? deps.clock() : null,
      });
      tick();
      return created;
    },
    async upload(tenant, text, up) {
      const name = customerName(text);
      await mustHaveTenant(tenant);
      const existing = await deps.store.get(name.hostname);
      if (existing && existing.tenant !== tenant) throw new HostnameError('ERR_CUSTOM_HOSTNAME_TAKEN', `${name.hostname} belongs to another tenant`);
      const now = deps.clock();
      const checked = checkUpload({ hostname: name.hostname, certificateChainPem: up.certificateChainPem, privateKeyPem: up.privateKeyPem, anchorsPem: up.anchorsPem }, now);
      if (!checked.ok) {
        deps.metrics?.upload(checked.reason);
        // Shown on the hostname too, unless a good certificate is being served (the refused upload does not replace it).
        if (existing && !isServable(existing, now)) {
          const after = await deps.store.update(existing.hostname, { source: 'upload', state: 'failed', reason: checked.reason, reasonDetail: checked.message, nextAttemptAt: null }, {}, now);
          if (after) record(existing, after);
        }
        throw new HostnameError('ERR_UPLOAD_INVALID', `${checked.reason}: ${checked.message}`, { reason: checked.reason });
      }
      deps.metrics?.upload('accepted');
      const patch = {
        source: 'upload' as const,
        state: 'active' as const,
        reason: null,
        reasonDetail: null,
        certificateChainPem: checked.value.chainPem,
        sealedKey: deps.keys.seal(checked.value.privateKeyPem, hostnameKeyContext(name.hostname)),
        notBefore: checked.value.notBefore,
        notAfter: checked.value.notAfter,
        nextAttemptAt: checked.value.notAfter,
      };
      // The answer means "served here": the catalog has the new certificate before it is sent.
      if (!existing) {
        await claimRouting(tenant, name.hostname, name.wildcard);
        const created = await create(tenant, name, patch);
        await catalog.refresh(created.hostname);
        return created;
      }
      const after = await deps.store.update(existing.hostname, { ...patch, renewAt: null, attempts: 0, orderUrl: null }, {}, now);
      if (!after) throw new HostnameError('ERR_CUSTOM_HOSTNAME_NOT_FOUND', `custom hostname ${name.hostname} was removed meanwhile`);
      await catalog.refresh(after.hostname);
      return record(existing, after);
    },
    async remove(text) {
      const name = normalize(text);
      const existing = await mustGet(name.hostname);
      await deps.store.remove(name.hostname);
      await catalog.refresh(name.hostname);
      log.info({ hostname: existing.hostname, tenant: existing.tenant, from: existing.state, state: 'removed' }, 'custom hostname: removed');
      return existing;
    },
    get: (hostname) => deps.store.get(hostname),
    list: (options) => deps.store.list(options),
    async retry(text) {
      const name = normalize(text);
      const existing = await mustGet(name.hostname);
      if (existing.source === 'upload') throw new HostnameError('ERR_UPLOAD_INVALID', `${existing.hostname} has an uploaded certificate; upload a new one instead`, { reason: existing.reason ?? 'upload_invalid_pem' });
      const after = await deps.store.update(existing.hostname, { nextAttemptAt: deps.clock(), attempts: 0, ...(existing.state === 'failed' ? { state: 'pending_validation' as const, reason: null, reasonDetail: null } : {}) }, {}, deps.clock());
      if (!after) throw new HostnameError('ERR_CUSTOM_HOSTNAME_NOT_FOUND', `custom hostname ${existing.hostname} was removed meanwhile`);
      tick();
      return record(existing, after);
    },
    runDue,
    async start() {
      unsubscribes.push(
        deps.store.onChange((hostname) => {
          const job = hostname === '*' ? catalog.reload() : catalog.refresh(hostname);
          job.catch((err: unknown) => log.error({ hostname, message: (err as Error).message }, 'hostnames: catalog refresh failed'));
        }),
      );
      unsubscribes.push(
        deps.tenants.onChange((change) => {
          const job = change.kind === 'resync' ? catalog.reload() : catalog.refreshTenant(change.name);
          job.catch((err: unknown) => log.error({ message: (err as Error).message }, 'hostnames: catalog refresh after a tenant change failed'));
        }),
      );
      await catalog.reload();
      timer = setInterval(tick, intervalMs);
      timer.unref();
      tick();
    },
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      for (const w of wakes.values()) clearTimeout(w);
      wakes.clear();
      for (const u of unsubscribes.splice(0)) u();
      await running;
    },
  };
}

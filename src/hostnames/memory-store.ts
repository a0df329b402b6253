/**
 * The hostname store of one embedded process: everything in memory. Leases
 * still apply, so the worker and an admin call never act on a hostname at once.
 */
import type { AcmeChallengeType } from '../config/types.js';
import { HostnameStoreError, type HostnameRecord, type HostnamePatch, type HostnameStore, type NewHostname, type SealedEntry, type StateCount, type StoredAccount } from './store.js';

interface Lease {
  owner: string;
  until: number;
}

export function createMemoryHostnameStore(): HostnameStore {
  const records = new Map<string, HostnameRecord>();
  const leases = new Map<string, Lease>();
  const challenges = new Map<string, { keyAuthorization: string; hostname: string; expiresAt: number; type: AcmeChallengeType }>();
  const accounts = new Map<string, StoredAccount>();
  const pendingAccounts = new Map<string, Promise<StoredAccount>>();
  const listeners = new Set<(hostname: string) => void>();
  const changed = (hostname: string): void => {
    for (const l of [...listeners]) l(hostname);
  };

  return {
    async create(input: NewHostname, nowMs) {
      const existing = records.get(input.hostname);
      if (existing) {
        throw new HostnameStoreError('ERR_CUSTOM_HOSTNAME_TAKEN', existing.tenant === input.tenant ? `${input.hostname} is already a custom hostname of tenant '${input.tenant}'` : `${input.hostname} belongs to another tenant`);
      }
      const record: HostnameRecord = {
        hostname: input.hostname,
        tenant: input.tenant,
        wildcard: input.wildcard,
        source: input.source,
        state: input.state,
        reason: input.reason ?? null,
        reasonDetail: input.reasonDetail ?? null,
        certificateChainPem: input.certificateChainPem ?? null,
        sealedKey: input.sealedKey ?? null,
        notBefore: input.notBefore ?? null,
        notAfter: input.notAfter ?? null,
        renewAt: null,
        nextAttemptAt: input.nextAttemptAt,
        attempts: 0,
        orderUrl: null,
        version: 1,
        createdAt: nowMs,
        updatedAt: nowMs,
      };
      records.set(record.hostname, record);
      changed(record.hostname);
      return record;
    },
    async get(hostname) {
      return records.get(hostname);
    },
    async list(o) {
      return [...records.values()]
        .filter((r) => (o.tenant === undefined || r.tenant === o.tenant) && (o.after === undefined || r.hostname > o.after))
        .sort((a, b) => (a.hostname < b.hostname ? -1 : 1))
        .slice(0, o.limit);
    },
    async listWithCertificates(tenant) {
      return [...records.values()].filter((r) => r.certificateChainPem !== null && r.sealedKey !== null && (tenant === undefined || r.tenant === tenant));
    },
    async update(hostname, patch: HostnamePatch, guard, nowMs) {
      const current = records.get(hostname);
      if (!current) return undefined;
      if (guard.version !== undefined && current.version !== guard.version) return undefined;
      if (guard.leaseOwner !== undefined) {
        const lease = leases.get(hostname);
        if (!lease || lease.owner !== guard.leaseOwner) return undefined;
      }
      const given = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
      const next: HostnameRecord = { ...current, ...given, version: current.version + 1, updatedAt: nowMs };
      records.set(hostname, next);
      changed(hostname);
      return next;
    },
    async remove(hostname) {
      const had = records.delete(hostname);
      leases.delete(hostname);
      for (const [token, c] of challenges) if (c.hostname === hostname) challenges.delete(token);
      if (had) changed(hostname);
      return had;
    },
    async claimDue(owner, nowMs, leaseMs, limit) {
      const out: HostnameRecord[] = [];
      const due = [...records.values()].filter((r) => r.nextAttemptAt !== null && r.nextAttemptAt <= nowMs).sort((a, b) => (a.nextAttemptAt ?? 0) - (b.nextAttemptAt ?? 0));
      for (const r of due) {
        if (out.length >= limit) break;
        const lease = leases.get(r.hostname);
        if (lease && lease.until > nowMs) continue;
        leases.set(r.hostname, { owner, until: nowMs + leaseMs });
        out.push(r);
      }
      return out;
    },
    async release(hostname, owner) {
      if (leases.get(hostname)?.owner === owner) leases.delete(hostname);
    },
    async countByState() {
      const counts = new Map<string, StateCount>();
      for (const r of records.values()) {
        const key = `${r.state}|${r.reason ?? ''}`;
        const c = counts.get(key);
        counts.set(key, { state: r.state, reason: r.reason, count: (c?.count ?? 0) + 1 });
      }
      return [...counts.values()];
    },
    async putChallenge(token, keyAuthorization, hostname, expiresAt, type = 'http-01') {
      challenges.set(token, { keyAuthorization, hostname, expiresAt, type });
    },
    async getTlsAlpnChallenge(hostname, nowMs) {
      // The latest stored expires last (one TTL for all).
      let latest: { keyAuthorization: string; expiresAt: number } | undefined;
      for (const c of challenges.values()) {
        if (c.type === 'tls-alpn-01' && c.hostname === hostname && c.expiresAt > nowMs && (latest === undefined || c.expiresAt >= latest.expiresAt)) latest = c;
      }
      return latest?.keyAuthorization;
    },
    async getChallenge(token, nowMs) {
      const c = challenges.get(token);
      if (!c || c.type !== 'http-01') return undefined;
      if (c.expiresAt <= nowMs) {
        challenges.delete(token);
        return undefined;
      }
      return c.keyAuthorization;
    },
    async deleteChallenge(token) {
      challenges.delete(token);
    },
    async account(directoryUrl, create) {
      const existing = accounts.get(directoryUrl);
      if (existing) return existing;
      // Callers asking together share one creation.
      let pending = pendingAccounts.get(directoryUrl);
      if (!pending) {
        pending = create().then((a) => {
          accounts.set(directoryUrl, a);
          return a;
        });
        pendingAccounts.set(directoryUrl, pending);
        pending.finally(() => pendingAccounts.delete(directoryUrl)).catch(() => undefined);
      }
      return pending;
    },
    async listSealed() {
      const out: SealedEntry[] = [];
      for (const r of records.values()) if (r.sealedKey !== null) out.push({ kind: 'hostname', id: r.hostname, sealedKey: r.sealedKey });
      for (const a of accounts.values()) out.push({ kind: 'account', id: a.directoryUrl, sealedKey: a.sealedKey });
      return out;
    },
    async replaceSealed(entry, replacement) {
      if (entry.kind === 'account') {
        const a = accounts.get(entry.id);
        if (!a || a.sealedKey !== entry.sealedKey) return false;
        accounts.set(entry.id, { ...a, sealedKey: replacement });
        return true;
      }
      const r = records.get(entry.id);
      if (!r || r.sealedKey !== entry.sealedKey) return false;
      // The key itself is unchanged: no new version, nothing for the catalog to redo.
      records.set(entry.id, { ...r, sealedKey: replacement });
      return true;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      listeners.clear();
    },
  };
}

// The lifecycle manager on the in-memory store, with a clock the test moves:
// uploaded certificates expire into certificate_expired, a renewal that keeps
// failing goes on serving the old certificate until it expires, backoff grows,
// and the catalog follows every step. The ACME CA here is a closed port, so
// every order fails the way an unreachable CA does.
import 'reflect-metadata';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { pino } from 'pino';
import type { TenantStore } from '../../../src/stores/tenant-store.js';
import { createAcmeIssuer, type AcmeIssuer } from '../../../src/hostnames/acme-issuer.js';
import { hostnameKeyContext } from '../../../src/hostnames/catalog.js';
import { parseKekRing } from '../../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../../src/hostnames/manager.js';
import type { HostnameManager } from '../../../src/hostnames/manager-contract.js';
import { createMemoryHostnameStore } from '../../../src/hostnames/memory-store.js';
import type { HostnameStore } from '../../../src/hostnames/store.js';
import { createRootCa, issueServerCert, type KeyPairPem } from '../../../src/pki/generate.js';

const HOUR = 3_600_000;
const kek = parseKekRing(`m1:${randomBytes(32).toString('base64')}`, 'test');
const logger = pino({ level: 'silent' });

/** A tenant store with one tenant serving every hostname asked about (the lifecycle is what is tested here). */
function oneTenant(name: string): Pick<TenantStore, 'getTenant' | 'resolveHost' | 'addHostname' | 'onChange'> {
  const record = { name, hostnames: [], mtls: { mode: 'off' as const, caPem: null, crlPems: [], staleCrl: 'deny' as const, exemptPaths: [] }, version: 1, createdAt: 0, updatedAt: 0 };
  return {
    getTenant: async (n) => (n === name ? record : undefined),
    resolveHost: async () => ({ kind: 'unknown' }),
    addHostname: async () => record,
    onChange: () => () => undefined,
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

let now: number;
let store: HostnameStore;
let manager: HostnameManager;
let root: KeyPairPem;

async function leafFor(hostname: string, lifetimeMs: number): Promise<KeyPairPem> {
  root ??= await createRootCa({ commonName: 'Manager Test Root' });
  return issueServerCert({ commonName: hostname, issuer: root, dns: [hostname], notBefore: new Date(now - 60_000), notAfter: new Date(now + lifetimeMs) });
}

beforeEach(async () => {
  now = Date.now();
  store = createMemoryHostnameStore();
  const issuer = createAcmeIssuer({ settings: { directoryUrl: `https://127.0.0.1:${await closedPort()}/dir` }, store, keys: kek, clock: () => now, logger });
  manager = createHostnameManager({ store, tenants: oneTenant('t'), keys: kek, issuer, clock: () => now, logger, retry: { initialMs: 60_000, maxMs: 4 * 60_000, retryAfterMaxMs: HOUR } });
});

describe('the lifecycle manager', () => {
  it('an uploaded certificate is served until it expires, then fails with certificate_expired and leaves the catalog', async () => {
    const leaf = await leafFor('up.t.test', HOUR);
    const r = await manager.upload('t', 'up.t.test', { certificateChainPem: leaf.certPem + root.certPem, privateKeyPem: leaf.keyPem });
    expect(r.nextAttemptAt).toBe(r.notAfter);
    expect(manager.catalog.get('up.t.test')).toBeDefined();
    now += HOUR / 2;
    expect(await manager.runDue()).toBe(0);
    now += HOUR;
    expect(await manager.runDue()).toBe(1);
    expect(await store.get('up.t.test')).toMatchObject({ state: 'failed', reason: 'certificate_expired', nextAttemptAt: null });
    expect(manager.catalog.get('up.t.test')).toBeUndefined();
  });

  it('an ACME order that cannot reach the CA fails with ca_unavailable and backs off exponentially', async () => {
    await manager.add('t', 'new.t.test');
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      expect(await manager.runDue()).toBe(1);
      const r = await store.get('new.t.test');
      expect(r).toMatchObject({ state: 'failed', reason: 'ca_unavailable', attempts: i + 1 });
      delays.push((r?.nextAttemptAt ?? 0) - now);
      expect(await manager.runDue()).toBe(0);
      now = r?.nextAttemptAt ?? now;
    }
    expect(delays).toEqual([60_000, 120_000, 240_000, 240_000]);
  });

  it('a renewal that keeps failing serves the old certificate (renewing, with the reason) until it expires', async () => {
    const leaf = await leafFor('renew.t.test', 3 * HOUR);
    await store.create(
      {
        hostname: 'renew.t.test',
        tenant: 't',
        wildcard: false,
        source: 'acme',
        state: 'active',
        certificateChainPem: leaf.certPem,
        sealedKey: kek.seal(leaf.keyPem, hostnameKeyContext('renew.t.test')),
        notBefore: now - 60_000,
        notAfter: now + 3 * HOUR,
        nextAttemptAt: now + 2 * HOUR,
      },
      now,
    );
    await manager.catalog.reload();
    const version = manager.catalog.get('renew.t.test')?.version;
    expect(version).toBeDefined();
    now += 2 * HOUR;
    expect(await manager.runDue()).toBe(1);
    expect(await store.get('renew.t.test')).toMatchObject({ state: 'renewing', reason: 'ca_unavailable', attempts: 1 });
    expect(manager.catalog.get('renew.t.test')?.version).toBe(version);
    // The retries never go past the expiry, where the hostname must stop being served.
    now += HOUR - 1_000;
    await manager.runDue();
    const last = await store.get('renew.t.test');
    expect(last?.state).toBe('renewing');
    expect(last?.nextAttemptAt).toBeLessThanOrEqual(last?.notAfter ?? 0);
    now = (last?.notAfter ?? 0) + 1;
    expect(await manager.runDue()).toBe(1);
    expect(await store.get('renew.t.test')).toMatchObject({ state: 'failed', reason: 'ca_unavailable' });
    expect(manager.catalog.get('renew.t.test')).toBeUndefined();
  });

  it('a wildcard added for ACME fails with wildcard_needs_upload and is never ordered', async () => {
    expect(await manager.add('t', '*.wild.t.test')).toMatchObject({ state: 'failed', reason: 'wildcard_needs_upload', nextAttemptAt: null });
    expect(await manager.runDue()).toBe(0);
  });

  it("the login service's auth domain is never a customer hostname, added or uploaded", async () => {
    const guarded = createHostnameManager({ store, tenants: oneTenant('t'), keys: kek, clock: () => now, logger, reserved: ['auth.t.test'] });
    await expect(guarded.add('t', 'AUTH.t.test.')).rejects.toMatchObject({ code: 'ERR_CUSTOM_HOSTNAME_RESERVED', message: "auth.t.test is the login service's domain (auth.domain), which bouncer serves itself" });
    const leaf = await leafFor('auth.t.test', HOUR);
    await expect(guarded.upload('t', 'auth.t.test', { certificateChainPem: leaf.certPem, privateKeyPem: leaf.keyPem })).rejects.toMatchObject({ code: 'ERR_CUSTOM_HOSTNAME_RESERVED' });
    expect(await store.get('auth.t.test')).toBeUndefined();
    expect(await guarded.add('t', 'pay.t.test')).toMatchObject({ hostname: 'pay.t.test' });
  });

  it('a key envelope that does not open keeps the hostname out of the catalog', async () => {
    const leaf = await leafFor('moved.t.test', HOUR);
    await store.create(
      {
        hostname: 'moved.t.test',
        tenant: 't',
        wildcard: false,
        source: 'upload',
        state: 'active',
        certificateChainPem: leaf.certPem,
        // Sealed for another hostname: copied rows must not serve.
        sealedKey: kek.seal(leaf.keyPem, hostnameKeyContext('other.t.test')),
        notBefore: now - 60_000,
        notAfter: now + HOUR,
        nextAttemptAt: now + HOUR,
      },
      now,
    );
    await manager.catalog.reload();
    expect(manager.catalog.get('moved.t.test')).toBeUndefined();
  });
});

describe('the worker of a started manager', () => {
  /** An ACME CA stand-in: each order waits until the test releases it, and reports when it starts. */
  function heldIssuer(lifetimeMs: number): { issuer: AcmeIssuer; started: (hostname: string, nth?: number) => Promise<void>; release: () => void } {
    const calls: string[] = [];
    const waiters: Array<() => void> = [];
    let gate: Promise<void> = new Promise(() => undefined);
    let open: () => void = () => undefined;
    const hold = (): void => {
      gate = new Promise((r) => (open = r));
    };
    hold();
    return {
      issuer: {
        directoryUrl: 'https://ca.invalid/dir',
        async issue(hostname) {
          calls.push(hostname);
          for (const w of waiters.splice(0)) w();
          await gate;
          const issuedAt = Date.now();
          root ??= await createRootCa({ commonName: 'Manager Test Root' });
          const leaf = await issueServerCert({ commonName: hostname, issuer: root, dns: [hostname], notBefore: new Date(issuedAt - 60_000), notAfter: new Date(issuedAt + 60_000) });
          return { ok: true, chainPem: leaf.certPem + root.certPem, privateKeyPem: leaf.keyPem, notBefore: issuedAt, notAfter: issuedAt + lifetimeMs };
        },
      },
      started: (hostname, nth = 1) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (calls.filter((c) => c === hostname).length >= nth) resolve();
            else waiters.push(check);
          };
          check();
        }),
      release: () => open(),
    };
  }

  let started: HostnameManager | undefined;
  afterEach(async () => {
    await started?.close();
    started = undefined;
  });

  it('an add while a pass is running is worked right after that pass, not at the next periodic look', async () => {
    const ca = heldIssuer(HOUR);
    const s = createMemoryHostnameStore();
    started = createHostnameManager({ store: s, tenants: oneTenant('t'), keys: kek, issuer: ca.issuer, clock: Date.now, logger, workerIntervalMs: HOUR });
    await started.start();
    await started.add('t', 'first.t.test');
    await ca.started('first.t.test');
    await started.add('t', 'second.t.test');
    ca.release();
    await ca.started('second.t.test');
    expect((await s.get('first.t.test'))?.state).toBe('active');
  });

  it('a renewal due before the next periodic look starts on time', async () => {
    const ca = heldIssuer(1_500);
    ca.release();
    const s = createMemoryHostnameStore();
    started = createHostnameManager({ store: s, tenants: oneTenant('t'), keys: kek, issuer: ca.issuer, clock: Date.now, logger, workerIntervalMs: HOUR });
    await started.start();
    await started.add('t', 'short.t.test');
    await ca.started('short.t.test', 2);
    const r = await s.get('short.t.test');
    expect(r?.renewAt).not.toBeNull();
  });
});

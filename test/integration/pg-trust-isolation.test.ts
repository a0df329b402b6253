// Tenants in PostgreSQL: bad trust data in a row degrades that tenant only, and
// a database outage touches only hosts that need a tenant lookup. Hosts the
// config file serves (apps behind sign-in, the login service) keep the store's
// last answer for them; any other host gets tenant_store_unavailable while the
// store is known to be down, even when an absence of it is still cached.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { FileHostAnswers, lookupTenants, warmFileHosts, type FileHostsView, type LookupOutcome, type StoreTenants } from '../../src/authz/tenant-lookup.js';
import { createCertVerifier } from '../../src/core/cert-verifier.js';
import type { CheckInput } from '../../src/core/decision.js';
import { buildHostIndex } from '../../src/core/tenant-index.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import type { TenantLookup } from '../../src/stores/tenant-store.js';
import { sha256Hex } from '../../src/stores/tenant-input-check.js';
import { DAY, NOW, makeLeaf, makeRoot, type TestCert } from '../helpers/pki-fixtures.js';
import { createTestDatabase, waitFor, type TestDatabase } from '../helpers/pg.js';

let db: TestDatabase;
let store: PgTenantStore;
let root: TestCert;
let expired: TestCert;
let device: TestCert;

const input = (authority: string): CheckInput => ({ requestId: 'r', authority, sni: undefined, method: 'GET', path: '/', peerCertificate: undefined, xfcc: undefined, sourceAddress: undefined });
const tenantOf = (found: TenantLookup) => (found.kind === 'tenant' ? found.tenant : undefined);

/** What the request path would hand `evaluate`: the tenant names in the index, or the denial. */
async function lookup(host: string, source: StoreTenants, view?: FileHostsView): Promise<string[] | string> {
  const out: LookupOutcome = await lookupTenants(input(host), source, view);
  if (out.kind === 'deny') return out.decision.allow ? 'allow?' : out.decision.reason;
  return [...out.tenants.exact.values()].map((t) => t.name);
}

beforeAll(async () => {
  db = await createTestDatabase();
  [root, expired] = await Promise.all([makeRoot('CN=Isolation Root'), makeRoot('CN=Isolation Old Root', { notBefore: NOW - 800 * DAY, notAfter: NOW - DAY })]);
  device = await makeLeaf('CN=isolation device', root);
  store = await createPgTenantStore({ connection: db.connection, now: () => NOW, reconnect: { initialDelayMs: 50, maxDelayMs: 300 }, cache: { negativeTtlMs: 60_000 } });
  for (const [name, host] of [
    ['good', 'good.example'],
    ['edited', 'edited.example'],
    ['rotating', 'rotating.example'],
    ['garbled', 'garbled.example'],
    ['secure-wiki', 'secure.apps.example'],
  ] as const) {
    await store.putTenant({ name, hostnames: [host], mtls: { caPem: root.pem } });
  }
  // Edited behind the API's back, as a migration script or a hand fix might: the store must cope when it loads them.
  const setCa = (name: string, pem: string) => db.query('UPDATE tenant_ca_bundles SET pem = $2, sha256 = $3 WHERE tenant_name = $1', [name, pem, sha256Hex(pem)]);
  await setCa('edited', expired.pem);
  await setCa('rotating', expired.pem + root.pem);
  await setCa('garbled', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  await db.query(`SELECT pg_notify('bouncer_tenants', '{"t":"edited","h":["edited.example"]}')`);
});

afterAll(async () => {
  await db?.allowConnections(true).catch(() => undefined);
  await store?.close();
  await db?.drop();
});

describe('bad trust data in a stored row', () => {
  it('degrades that tenant only: no usable root means no roots and the problems, never a failed lookup', async () => {
    const edited = tenantOf(await store.resolveHost('edited.example'));
    expect(edited?.mtls.trust?.roots).toEqual([]);
    expect(edited?.mtls.trust?.problems?.map((p) => p.code)).toEqual(['ca_expired']);
    const garbled = tenantOf(await store.resolveHost('garbled.example'));
    expect(garbled?.mtls.trust?.roots).toEqual([]);
    expect(garbled?.mtls.trust?.problems?.map((p) => p.code)).toEqual(['ca_unparsable']);
    const rotating = tenantOf(await store.resolveHost('rotating.example'));
    expect(rotating?.mtls.trust?.roots.map((r) => r.subject)).toEqual(['CN=Isolation Root']);
    expect(rotating?.mtls.trust?.problems?.map((p) => p.code)).toEqual(['ca_expired']);
    const good = tenantOf(await store.resolveHost('good.example'));
    expect(good?.mtls.trust?.roots).toHaveLength(1);
    expect(good?.mtls.trust?.problems).toBeUndefined();
  });

  it("gives the degraded tenant's devices the specific denial, and the others' devices pass", async () => {
    const verifier = createCertVerifier({ maxEntries: 100, ttlMs: 60_000 });
    const presented = { leafPem: device.pem, chainPem: undefined };
    const verdict = (host: string) => store.resolveHost(host).then((found) => verifier.verify(tenantOf(found)!, presented, NOW));
    expect(await verdict('edited.example')).toMatchObject({ ok: false, reason: 'tenant_trust_unusable' });
    expect(await verdict('garbled.example')).toMatchObject({ ok: false, reason: 'tenant_trust_unusable' });
    expect(await verdict('rotating.example')).toMatchObject({ ok: true });
    expect(await verdict('good.example')).toMatchObject({ ok: true });
  });
});

describe('a database outage touches only hosts that need a lookup', () => {
  const view: FileHostsView = {
    apps: buildHostIndex([{ hostnames: ['wiki.apps.example', 'secure.apps.example', 'cold.apps.example', '*.team.apps.example'] }]),
    auth: { domain: 'auth.apps.example' },
  };
  let source: StoreTenants;

  it('before: the file hosts are warmed, an absence is cached', async () => {
    source = { store, timeoutMs: 2_000, fileHosts: new FileHostAnswers() };
    await warmFileHosts(source, ['wiki.apps.example', 'secure.apps.example', 'auth.apps.example']);
    expect(source.fileHosts?.size).toBe(3);
    expect(await lookup('wiki.apps.example', source, view)).toEqual([]);
    expect(await lookup('secure.apps.example', source, view)).toEqual(['secure-wiki']);
    expect(await lookup('x.team.apps.example', source, view)).toEqual([]);
    // Cached as absent for a minute (negativeTtlMs).
    expect(await lookup('absent.example', source, view)).toEqual([]);
    expect(store.peekHost('absent.example')).toEqual({ kind: 'unknown' });
  });

  it('during: file hosts keep their last answer, a tenant on an app host keeps its certificate check, others get 503 and never tenant_unknown', async () => {
    await db.allowConnections(false);
    expect(await db.terminateConnections()).toBeGreaterThan(0);
    await waitFor('the store to notice', () => !store.health().healthy, 5_000);

    // An app behind sign-in that the file defines: no tenant, so sign-in decides, not a 503.
    expect(await lookup('wiki.apps.example', source, view)).toEqual([]);
    expect(await lookup('auth.apps.example', source, view)).toEqual([]);
    expect(await lookup('x.team.apps.example', source, view)).toEqual([]);
    // A tenant in the database that owns an app's hostname is still applied.
    expect(await lookup('secure.apps.example', source, view)).toEqual(['secure-wiki']);
    // The absence cached a moment ago is no proof while notifications cannot arrive.
    expect(store.peekHost('absent.example')).toBeUndefined();
    expect(await lookup('absent.example', source, view)).toBe('tenant_store_unavailable');
    expect(await lookup('never-seen.example', source, view)).toBe('tenant_store_unavailable');
    // A file host never answered before the outage is not guessed: fail closed.
    expect(await lookup('cold.apps.example', source, view)).toBe('tenant_store_unavailable');
    // Without the file's view (a host the file does not serve), the same app host is not special.
    expect(await lookup('wiki.apps.example', source)).toBe('tenant_store_unavailable');
    // Cached tenants are served as before.
    expect(await lookup('good.example', source, view)).toEqual(['good']);
  });

  it('after: the store recovers and answers as before', async () => {
    await db.allowConnections(true);
    await waitFor('the store to recover', () => store.health().healthy, 10_000);
    expect(await lookup('absent.example', source, view)).toEqual([]);
    expect(await lookup('cold.apps.example', source, view)).toEqual([]);
    expect(await lookup('secure.apps.example', source, view)).toEqual(['secure-wiki']);
  });
});

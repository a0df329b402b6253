// TLS-ALPN-01 with two replicas on one PostgreSQL: replica A orders, and Pebble's
// validation handshake is answered by replica B's responder, which has only the key
// authorization A stored (challenge type `tls-alpn-01`, migration 7). The database
// never holds a validation certificate or key, the web service's HTTP-01 lookup never
// returns a TLS-ALPN-01 key authorization, and B stops answering once A's attempt ended.
import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:tls';
import { pino } from 'pino';
import { createAcmeIssuer } from '../../src/hostnames/acme-issuer.js';
import { parseKekRing } from '../../src/hostnames/key-envelope.js';
import { createHostnameManager } from '../../src/hostnames/manager.js';
import type { HostnameManager } from '../../src/hostnames/manager-contract.js';
import { createPgHostnameStore, type PgHostnameStore } from '../../src/hostnames/pg-store.js';
import { createTlsAlpnResponder, type TlsAlpnResponder } from '../../src/hostnames/tls-alpn-responder.js';
import { createRootCa } from '../../src/pki/generate.js';
import { createPgTenantStore, type PgTenantStore } from '../../src/stores/postgres/pg-tenant-store.js';
import { startDnsResponder, type DnsResponder } from '../helpers/dns-responder.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startPebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';

const HOST = 'alpn.fleet.test';
const logger = pino({ level: 'silent' });
let db: TestDatabase;
let tenants: PgTenantStore;
let dns: DnsResponder;
let pebble: Pebble;
let storeA: PgHostnameStore;
let storeB: PgHostnameStore;
let responderB: TlsAlpnResponder;
let responderPort: number;
let a: HostnameManager;
/** What the database held while Pebble was validating (read by B's lookup, as it answered). */
const seenDuringValidation: Array<{ type: string; keyAuthorization: string; httpLookup: string | undefined }> = [];

function handshake(servername: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port: responderPort, servername, ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false });
    s.once('secureConnect', () => {
      resolve(true);
      s.destroy();
    });
    s.once('error', () => resolve(false));
    s.once('close', () => resolve(false));
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  tenants = await createPgTenantStore({ connection: db.connection });
  const ca = await createRootCa({ commonName: 'Fleet Devices CA' });
  await tenants.putTenant({ name: 'fleet', hostnames: ['www.fleet.test'], mtls: { caPem: ca.certPem } });
  dns = await startDnsResponder({ [HOST]: ['127.0.0.1'] });
  [storeA, storeB] = await Promise.all([createPgHostnameStore({ connection: db.connection, logger }), createPgHostnameStore({ connection: db.connection, logger })]);
  responderB = createTlsAlpnResponder({
    logger,
    keyAuthorization: async (hostname) => {
      const found = await storeB.getTlsAlpnChallenge(hostname, Date.now());
      const rows = await db.query<{ token: string; challenge_type: string; key_authorization: string }>('SELECT token, challenge_type, key_authorization FROM acme_challenges WHERE hostname = $1', [hostname]);
      for (const r of rows.rows) seenDuringValidation.push({ type: r.challenge_type, keyAuthorization: r.key_authorization, httpLookup: await storeB.getChallenge(r.token, Date.now()) });
      return found;
    },
  });
  responderPort = await responderB.listen('127.0.0.1', 0);
  // HTTP-01 has nowhere to go: Pebble's httpPort is a free port nobody listens on.
  pebble = await startPebble({ httpPort: await freePort(), tlsPort: responderPort, dnsServer: dns.address });
  const kek = parseKekRing(`fleet1:${randomBytes(32).toString('base64')}`, 'test');
  const issuer = createAcmeIssuer({ settings: { directoryUrl: pebble.directoryUrl, caPem: pebble.tlsCaPem, pollMinMs: 100, pollMaxMs: 500, challenges: ['tls-alpn-01'] }, store: storeA, keys: kek, clock: Date.now, logger });
  a = createHostnameManager({ store: storeA, tenants, keys: kek, issuer, clock: Date.now, logger, replicaId: 'replica-a' });
}, 60_000);

afterAll(async () => {
  await a?.close();
  await responderB?.close();
  await storeA?.close();
  await storeB?.close();
  await pebble?.stop();
  await dns?.close();
  await tenants?.close();
  await db?.drop();
});

describe('TLS-ALPN-01 across replicas on PostgreSQL', () => {
  it('replica A orders, replica B answers the validation from the stored key authorization, and the hostname is issued', async () => {
    await a.add('fleet', HOST);
    expect(await a.runDue()).toBe(1);
    const r = await a.get(HOST);
    expect(r).toMatchObject({ state: 'active', reason: null });
    expect(seenDuringValidation.length).toBeGreaterThan(0);
    for (const seen of seenDuringValidation) {
      expect(seen.type).toBe('tls-alpn-01');
      // A key authorization (token.thumbprint), nothing more: no certificate, no key.
      expect(seen.keyAuthorization).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      // The web service's HTTP-01 lookup does not serve it.
      expect(seen.httpLookup).toBeUndefined();
    }
  }, 60_000);

  it('the attempt over, nothing is left in the store and B answers no more', async () => {
    expect((await db.query('SELECT 1 FROM acme_challenges')).rowCount).toBe(0);
    expect(await storeB.getTlsAlpnChallenge(HOST, Date.now())).toBeUndefined();
    expect(await handshake(HOST)).toBe(false);
  });

  it('the store finds a hostname\'s TLS-ALPN-01 challenge by hostname, the one expiring last, and never an HTTP-01 one', async () => {
    const now = Date.now();
    await storeA.putChallenge('tok-http', 'tok-http.x', HOST, now + 60_000, 'http-01');
    expect(await storeB.getTlsAlpnChallenge(HOST, now)).toBeUndefined();
    await storeA.putChallenge('tok-old', 'tok-old.x', HOST, now + 30_000, 'tls-alpn-01');
    await storeA.putChallenge('tok-new', 'tok-new.x', HOST, now + 50_000, 'tls-alpn-01');
    expect(await storeB.getTlsAlpnChallenge(HOST, now)).toBe('tok-new.x');
    expect(await storeB.getTlsAlpnChallenge(HOST, now + 50_000)).toBeUndefined();
    expect(await storeB.getChallenge('tok-new', now)).toBeUndefined();
    expect(await storeB.getChallenge('tok-http', now)).toBe('tok-http.x');
    expect(await handshake(HOST)).toBe(true);
    await expect(db.query("INSERT INTO acme_challenges (token, key_authorization, hostname, expires_at_ms, challenge_type) VALUES ('t', 'k', $1, 1, 'dns-01')", [HOST])).rejects.toThrow(/check constraint/);
  });
});

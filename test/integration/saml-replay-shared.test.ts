/**
 * In a fleet, a SAML response used on one process is refused on every other:
 * the connectors that buildConnectors makes remember assertion IDs in the
 * shared store they are given (Redis in production; one memory store standing
 * in for it here), not each in a cache of its own.
 */
import type { IdpConfig } from '../../src/config/types.js';
import { createMemoryOnceStore } from '../../src/stores/memory/once-store.js';
import { buildConnectors } from '../../src/web/idp/build.js';
import { LoginError, type IdpConnector } from '../../src/web/idp/connector.js';
import { startSamlIdp, type SamlIdp } from '../helpers/saml-idp.js';

const ACS = 'https://auth.acme.test:8443/callback/corp';

let idp: SamlIdp;
beforeAll(async () => {
  idp = await startSamlIdp();
}, 60_000);
afterAll(async () => {
  await idp?.close();
});

test('a response finished on one process is a replay on another that shares the store', async () => {
  const shared = createMemoryOnceStore();
  const consumed: string[] = [];
  const samlReplay = {
    remember: (id: string, expiresAtMs: number, nowMs: number) => {
      consumed.push(id);
      return shared.consume(id, Math.max(1, expiresAtMs - nowMs), nowMs);
    },
  };
  const config: IdpConfig[] = [{ id: 'corp', type: 'saml', metadataXml: idp.metadataXml, entityId: 'https://auth.acme.test/saml/corp' }];
  // Two processes: each builds its own connectors from the same config, over the same shared store.
  const one = buildConnectors(config, new Map(), { samlReplay }).get('corp')?.connector as IdpConnector;
  const two = buildConnectors(config, new Map(), { samlReplay }).get('corp')?.connector as IdpConnector;

  const { redirectUrl, secrets } = await one.start({ callbackUrl: ACS, transactionId: 'tx-fleet' });
  const answer = await idp.loginResponse({ redirectUrl, user: { email: 'carol@acme.test' } });
  const params = new URLSearchParams({ SAMLResponse: answer.samlResponse, RelayState: answer.relayState });
  await expect(one.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() })).resolves.toMatchObject({ email: 'carol@acme.test' });
  expect(consumed).toHaveLength(1);

  const replayed = await two.finish({ callbackUrl: ACS, params, secrets, nowMs: Date.now() }).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(replayed).toBeInstanceOf(LoginError);
  expect((replayed as LoginError).code).toBe('login_saml_invalid');
  expect((replayed as LoginError).message).toMatch(/already used \(replay\)/);
});

import type { IdpConfig } from '../../config/types.js';
import type { IdpConnector } from './connector.js';
import { createGithubConnector } from './github.js';
import { createOidcConnector } from './oidc.js';
import { createSamlConnector } from './saml-sp.js';
import type { AssertionReplayStore } from './saml/replay-cache.js';

/** Loopback issuers exist only in tests and local setups; everything else must be https. */
function isLoopbackHttp(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
  } catch {
    return false;
  }
}

/**
 * Builds one connector per configured IdP. A connector whose settings did not
 * change is reused across reloads, so OIDC discovery and the SAML replay cache
 * survive a config edit.
 */
export function buildConnectors(
  idps: readonly IdpConfig[],
  previous: ReadonlyMap<string, { key: string; connector: IdpConnector }> = new Map(),
  shared: { samlReplay?: AssertionReplayStore } = {},
): Map<string, { key: string; connector: IdpConnector }> {
  const out = new Map<string, { key: string; connector: IdpConnector }>();
  for (const idp of idps) {
    const key = JSON.stringify(idp);
    const old = previous.get(idp.id);
    if (old && old.key === key) {
      out.set(idp.id, old);
      continue;
    }
    let connector: IdpConnector;
    switch (idp.type) {
      case 'oidc':
        connector = createOidcConnector({
          id: idp.id,
          issuer: idp.issuer,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          preset: idp.preset,
          scopes: idp.scopes,
          groupsClaim: idp.groupsClaim,
          idTokenAlgorithms: idp.idTokenSigningAlgs,
          allowInsecureRequests: isLoopbackHttp(idp.issuer),
          // Several generic IdPs would all read "Single sign-on"; their ids tell them apart.
          ...(idp.preset === 'generic' ? { displayName: idp.id } : {}),
        });
        break;
      case 'github':
        connector = createGithubConnector({
          id: idp.id,
          clientId: idp.clientId,
          clientSecret: idp.clientSecret,
          orgs: idp.orgs,
          apiUrl: idp.apiUrl,
          authorizeUrl: idp.authorizeUrl,
          tokenUrl: idp.tokenUrl,
        });
        break;
      case 'saml':
        connector = createSamlConnector({ id: idp.id, metadataXml: idp.metadataXml, entityId: idp.entityId }, shared.samlReplay ? { replayCache: shared.samlReplay } : {});
        break;
    }
    out.set(idp.id, { key, connector });
  }
  return out;
}

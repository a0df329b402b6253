/**
 * Generic OpenID Connect connector on top of `openid-client` 6: discovery,
 * authorization code flow with PKCE (S256), `state`, `nonce`, and the issuer
 * checks of both the ID token and the authorization response (RFC 9207 `iss`),
 * which stop an IdP mix-up when several IdPs are configured at once. The ID
 * token's signature is verified against the IdP's JWKS on every login
 * (openid-client does not do it for tokens from the token endpoint).
 *
 * Presets only fill defaults (scopes, groups claim, display name); every
 * preset speaks plain OIDC and goes through the same code path.
 */
import * as client from 'openid-client';
import type { Identity } from '../../core/identity.js';
import { LoginError, type IdpConnector, type LoginErrorCode } from './connector.js';
import { createIdTokenVerifier, type IdTokenAlgorithm } from './id-token-signature.js';

/** Names accepted in `idps[].preset`. */
export type OidcPresetName = 'okta' | 'google' | 'azure' | 'keycloak' | 'generic';

/** Defaults a preset contributes; explicit config always wins. */
export interface OidcPreset {
  readonly displayName: string;
  readonly scopes: readonly string[];
  readonly groupsClaim: string;
}

/**
 * Defaults per IdP product.
 * - okta: the `groups` scope makes Okta put a `groups` claim in the ID token
 *   (needs a groups claim filter on the Okta app).
 * - google: Google has no groups claim and rejects unknown scopes, so only the
 *   standard ones.
 * - azure (Entra ID): `groups` carries group object ids when "groups claim" is
 *   enabled on the app registration; use a tenant-specific issuer
 *   (`https://login.microsoftonline.com/<tenant>/v2.0`), because the `common`
 *   endpoint's issuer is a template that cannot match the ID token.
 * - keycloak: realm issuer `https://<host>/realms/<realm>`; groups need the
 *   "Group Membership" mapper with claim name `groups`.
 */
export const OIDC_PRESETS: Readonly<Record<OidcPresetName, OidcPreset>> = Object.freeze({
  okta: { displayName: 'Okta', scopes: ['openid', 'email', 'profile', 'groups'], groupsClaim: 'groups' },
  google: { displayName: 'Google', scopes: ['openid', 'email', 'profile'], groupsClaim: 'groups' },
  azure: { displayName: 'Microsoft', scopes: ['openid', 'email', 'profile'], groupsClaim: 'groups' },
  keycloak: { displayName: 'Keycloak', scopes: ['openid', 'email', 'profile'], groupsClaim: 'groups' },
  generic: { displayName: 'Single sign-on', scopes: ['openid', 'email', 'profile'], groupsClaim: 'groups' },
});

/** True when `name` is a known preset. */
export function isOidcPresetName(name: string): name is OidcPresetName {
  return Object.prototype.hasOwnProperty.call(OIDC_PRESETS, name);
}

/** Options of {@link createOidcConnector}. */
export interface OidcConnectorOptions {
  readonly id: string;
  /** Issuer URL exactly as the IdP spells it in its discovery document. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Defaults to `generic`. */
  readonly preset?: string;
  /** Overrides the preset's scopes; `openid` is added when missing. */
  readonly scopes?: readonly string[];
  /** Overrides the preset's groups claim. */
  readonly groupsClaim?: string;
  /** Overrides the preset's display name on the login chooser. */
  readonly displayName?: string;
  /**
   * Allow `http:` IdP endpoints. For tests against a local IdP only; production
   * IdPs are https and openid-client refuses plain HTTP without this.
   */
  readonly allowInsecureRequests?: boolean;
  /** Timeout of each request to the IdP. Default 10 s. */
  readonly timeoutMs?: number;
  /** `alg` values accepted on ID tokens; default {@link DEFAULT_ID_TOKEN_ALGORITHMS}. */
  readonly idTokenAlgorithms?: readonly IdTokenAlgorithm[];
  /** Least time between two JWKS fetches for an unknown `kid`; default {@link IDP_JWKS_DEFAULTS.cooldownMs}. */
  readonly jwksCooldownMs?: number;
}

const SECRET_VERIFIER = 'pkce_verifier';
const SECRET_NONCE = 'nonce';
const SECRET_MAX_AGE = 'max_age';

/**
 * An {@link IdpConnector} for one OIDC IdP. Discovery runs on first use and is
 * cached; a failed discovery is retried by the next login instead of being
 * cached, so an IdP outage at boot does not need a restart.
 *
 * The login `transactionId` is used as the OAuth `state`, so the auth service
 * finds its transaction from the callback's `state` parameter.
 *
 * @example
 * ```ts
 * const okta = createOidcConnector({ id: 'okta', preset: 'okta', issuer: 'https://acme.okta.com', clientId, clientSecret });
 * const { redirectUrl, secrets } = await okta.start({ callbackUrl, transactionId });
 * ```
 */
export function createOidcConnector(o: OidcConnectorOptions): IdpConnector {
  const preset = OIDC_PRESETS[o.preset !== undefined && isOidcPresetName(o.preset) ? o.preset : 'generic'];
  if (o.preset !== undefined && !isOidcPresetName(o.preset)) {
    throw new TypeError(`unknown OIDC preset "${o.preset}"`);
  }
  const scopes = [...new Set(['openid', ...(o.scopes ?? preset.scopes)])];
  const groupsClaim = o.groupsClaim ?? preset.groupsClaim;
  const displayName = o.displayName ?? preset.displayName;
  let configuration: Promise<client.Configuration> | undefined;
  const idTokens = createIdTokenVerifier({
    idp: o.id,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    allowInsecureRequests: o.allowInsecureRequests === true,
    ...(o.idTokenAlgorithms !== undefined ? { algorithms: o.idTokenAlgorithms } : {}),
    ...(o.jwksCooldownMs !== undefined ? { cooldownMs: o.jwksCooldownMs } : {}),
  });

  function discover(): Promise<client.Configuration> {
    if (configuration === undefined) {
      const options: client.DiscoveryRequestOptions = { timeout: Math.ceil((o.timeoutMs ?? 10_000) / 1000) };
      if (o.allowInsecureRequests === true) options.execute = [client.allowInsecureRequests];
      // client_secret_basic is the OIDC default and what every preset's IdP accepts.
      configuration = client
        .discovery(new URL(o.issuer), o.clientId, undefined, client.ClientSecretBasic(o.clientSecret), options)
        .catch((err: unknown) => {
          configuration = undefined;
          throw new LoginError('login_idp_error', `OIDC discovery for ${o.id} failed: ${describe(err)}`);
        });
    }
    return configuration;
  }

  return {
    id: o.id,
    type: 'oidc',
    displayName,
    async start({ callbackUrl, transactionId, reauth }) {
      const config = await discover();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const maxAge = reauth?.maxAgeSec;
      const redirectUrl = client.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl,
        response_type: 'code',
        scope: scopes.join(' '),
        state: transactionId,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        // OIDC Core §3.1.2.1: prompt=login makes the IdP authenticate again; max_age makes it report auth_time.
        ...(reauth !== undefined ? { prompt: 'login' } : {}),
        ...(maxAge !== undefined ? { max_age: String(maxAge) } : {}),
      });
      const secrets: Record<string, string> = { [SECRET_VERIFIER]: verifier, [SECRET_NONCE]: nonce };
      if (maxAge !== undefined) secrets[SECRET_MAX_AGE] = String(maxAge);
      return { redirectUrl: redirectUrl.href, secrets };
    },
    async finish({ callbackUrl, params, secrets, nowMs }) {
      const verifier = secrets[SECRET_VERIFIER];
      const nonce = secrets[SECRET_NONCE];
      const state = params.get('state');
      if (verifier === undefined || nonce === undefined || state === null) {
        throw new LoginError('login_state_mismatch', 'login transaction is incomplete');
      }
      const config = await discover();
      const current = new URL(callbackUrl);
      current.search = params.toString();
      let claims: client.IDToken | undefined;
      let accessToken: string;
      let idToken: string | undefined;
      try {
        const tokens = await client.authorizationCodeGrant(config, current, {
          pkceCodeVerifier: verifier,
          expectedNonce: nonce,
          expectedState: state,
          idTokenExpected: true,
          // With max_age sent, openid-client requires auth_time and checks it is recent enough.
          ...(secrets[SECRET_MAX_AGE] !== undefined ? { maxAge: Number(secrets[SECRET_MAX_AGE]) } : {}),
        });
        claims = tokens.claims();
        accessToken = tokens.access_token;
        idToken = tokens.id_token;
      } catch (err) {
        throw toLoginError(err);
      }
      if (claims === undefined || idToken === undefined) throw new LoginError('login_token_invalid', 'token response carried no ID token');
      // openid-client trusted the token for coming over TLS; nothing of it is used before its signature verifies.
      const meta = config.serverMetadata();
      await idTokens.verify(idToken, { issuer: meta.issuer, jwksUri: meta.jwks_uri }, nowMs);
      let merged: Record<string, unknown> = { ...claims };
      // Some IdPs keep profile claims out of the ID token in the code flow; only
      // then is the userinfo endpoint worth a round trip.
      if (typeof claims.email !== 'string' && config.serverMetadata().userinfo_endpoint !== undefined) {
        try {
          const info = await client.fetchUserInfo(config, accessToken, claims.sub);
          merged = { ...info, ...claims };
        } catch (err) {
          throw toLoginError(err);
        }
      }
      return toIdentity(o.id, merged, groupsClaim, nowMs);
    },
  };
}

/** Normalise ID token (+ userinfo) claims into an {@link Identity}. */
export function toIdentity(idpId: string, claims: Readonly<Record<string, unknown>>, groupsClaim: string, nowMs: number): Identity {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '') throw new LoginError('login_token_invalid', 'ID token has no subject');
  const email = typeof claims.email === 'string' && claims.email !== '' ? claims.email.toLowerCase() : undefined;
  const name = typeof claims.name === 'string' && claims.name !== '' ? claims.name : undefined;
  const authTime = typeof claims.auth_time === 'number' && Number.isFinite(claims.auth_time) ? claims.auth_time * 1000 : nowMs;
  return {
    sub: `${idpId}:${sub}`,
    email,
    // Only an explicit `true` counts: a missing claim is not a verification.
    emailVerified: email !== undefined && claims.email_verified === true,
    name,
    groups: stringList(claims[groupsClaim]),
    idp: { id: idpId, type: 'oidc' },
    amr: stringList(claims.amr),
    authTime,
  };
}

function stringList(v: unknown): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v];
  if (!Array.isArray(v)) return [];
  return v.filter((x): x is string => typeof x === 'string' && x !== '');
}

/**
 * Map openid-client / oauth4webapi failures onto our stable login codes.
 * openid-client wraps the oauth4webapi error (`ClientError` → cause
 * `OperationProcessingError` → cause `{ claim, ... }`), so walk the chain.
 */
function toLoginError(err: unknown): LoginError {
  if (err instanceof LoginError) return err;
  const chain: unknown[] = [];
  for (let e: unknown = err; e !== undefined && e !== null && chain.length < 5; e = (e as { cause?: unknown }).cause) chain.push(e);
  const messages = chain.filter((e): e is Error => e instanceof Error).map((e) => describe(e));
  const text = messages.join(': ');
  const has = (pred: (e: unknown) => boolean): boolean => chain.some(pred);
  const claimIs = (name: string) => (e: unknown) => typeof e === 'object' && e !== null && (e as { claim?: unknown }).claim === name;
  let code: LoginErrorCode = 'login_token_invalid';
  if (has((e) => e instanceof client.AuthorizationResponseError || e instanceof client.ResponseBodyError)) code = 'login_idp_error';
  else if (has(claimIs('nonce'))) code = 'login_nonce_mismatch';
  else if (has(claimIs('iss')) || /"iss"/.test(text)) code = 'login_issuer_mismatch';
  else if (/"state"/.test(text)) code = 'login_state_mismatch';
  else if (has((e) => e instanceof TypeError || ['OAUTH_RESPONSE_IS_NOT_JSON', 'OAUTH_RESPONSE_IS_NOT_CONFORM'].includes(String((e as { code?: unknown }).code)))) {
    // Network failures and garbage from the IdP: the IdP's fault, not the user's.
    code = 'login_idp_error';
  }
  return new LoginError(code, text);
}

function describe(err: unknown): string {
  if (err instanceof client.ResponseBodyError || err instanceof client.AuthorizationResponseError) {
    return `${err.error}${err.error_description ? `: ${err.error_description}` : ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

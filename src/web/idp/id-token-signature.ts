/**
 * Verifying an IdP's ID token signature ourselves.
 *
 * openid-client 6 checks the claims of an ID token from the token endpoint
 * (`iss`, `aud`, `exp`, `nonce`) but not its signature: OIDC Core §3.1.3.7
 * allows a client to rely on TLS with the token endpoint instead. bouncer does
 * not: every ID token is verified against the IdP's JWKS (`jwks_uri` from
 * discovery), with an algorithm allow-list per IdP, so a token endpoint
 * answer that was tampered with, proxied or forged does not sign anyone in.
 *
 * Keys are cached; an unknown `kid` (the IdP rotated its keys) refetches the
 * JWKS, at most once per cooldown, so a flood of tokens with made-up `kid`s
 * costs the IdP one request per cooldown, not one per login.
 */
import { createLocalJWKSet, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWTHeaderParameters } from 'jose';
import { CONFIG_DEFAULTS, type IdTokenSigningAlg } from '../../config/defaults.js';
import { LoginError } from './connector.js';

/** One of the algorithms an IdP may be allowed to sign ID tokens with. */
export type IdTokenAlgorithm = IdTokenSigningAlg;
/** Default allow-list, {@link CONFIG_DEFAULTS.oidc.idTokenSigningAlgs}. */
export const DEFAULT_ID_TOKEN_ALGORITHMS: readonly IdTokenAlgorithm[] = CONFIG_DEFAULTS.oidc.idTokenSigningAlgs;

/** Limits of the JWKS cache, each documented with its reason. */
export const IDP_JWKS_DEFAULTS = {
  /** A JWKS is used for 10 minutes, then fetched again on the next login: retired keys drop out. */
  maxAgeMs: 600_000,
  /** An unknown `kid` refetches at most once per 30 s (jose's default): rotation works, floods do not reach the IdP. */
  cooldownMs: 30_000,
  /** A JWKS fetch gets 5 s. */
  timeoutMs: 5_000,
  /** A JWKS is a few KB; 256 KB refuses garbage before parsing it. */
  maxBytes: 256 * 1024,
} as const;

/** Options of {@link createIdTokenVerifier}. */
export interface IdTokenVerifierOptions {
  /** IdP id, for messages. */
  readonly idp: string;
  readonly clientId: string;
  /** Keys HS* tokens (only when an HS* algorithm is allowed). */
  readonly clientSecret: string;
  /** Allowed `alg` values; default {@link DEFAULT_ID_TOKEN_ALGORITHMS}. */
  readonly algorithms?: readonly IdTokenAlgorithm[];
  readonly cooldownMs?: number;
  readonly maxAgeMs?: number;
  readonly timeoutMs?: number;
  /** Default global `fetch`. */
  readonly fetch?: typeof fetch;
  /** Accept an `http:` jwks_uri (a local test IdP only, as for the connector). Default false. */
  readonly allowInsecureRequests?: boolean;
}

/** What the verifier needs from discovery. */
export interface IdTokenIssuer {
  readonly issuer: string;
  readonly jwksUri: string | undefined;
}

/** Verifies ID tokens of one IdP; holds that IdP's JWKS cache. */
export interface IdTokenVerifier {
  /**
   * Verify `idToken`'s signature (and, again, `iss`, `aud`, `exp`) at `nowMs`.
   * @throws LoginError `login_token_invalid` for a bad token, `login_idp_error` when the JWKS cannot be had.
   */
  verify(idToken: string, issuer: IdTokenIssuer, nowMs: number): Promise<void>;
  /** JWKS fetches so far (for tests and metrics). */
  fetches(): number;
}

/** Thrown inside the key resolver to carry our own code out of jose. */
class KeyProblem extends Error {
  constructor(
    readonly code: 'login_token_invalid' | 'login_idp_error',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Create the verifier of one IdP's ID tokens.
 *
 * @example
 * ```ts
 * const idTokens = createIdTokenVerifier({ idp: 'okta', clientId, clientSecret, algorithms: ['RS256'] });
 * await idTokens.verify(tokens.id_token, { issuer: meta.issuer, jwksUri: meta.jwks_uri }, nowMs);
 * ```
 */
export function createIdTokenVerifier(o: IdTokenVerifierOptions): IdTokenVerifier {
  const algorithms = [...(o.algorithms ?? DEFAULT_ID_TOKEN_ALGORITHMS)];
  const cooldownMs = o.cooldownMs ?? IDP_JWKS_DEFAULTS.cooldownMs;
  const maxAgeMs = o.maxAgeMs ?? IDP_JWKS_DEFAULTS.maxAgeMs;
  const timeoutMs = o.timeoutMs ?? IDP_JWKS_DEFAULTS.timeoutMs;
  const doFetch = o.fetch ?? fetch;
  const secret = new TextEncoder().encode(o.clientSecret);
  let local: ReturnType<typeof createLocalJWKSet> | undefined;
  let localUri: string | undefined;
  /** When the last fetch was tried (success or not): the cooldown counts from it. */
  let triedMs = -Infinity;
  let fetchedMs = -Infinity;
  let pending: Promise<void> | undefined;
  let count = 0;

  async function load(uri: string, nowMs: number): Promise<void> {
    triedMs = nowMs;
    count += 1;
    let res: Response;
    try {
      res = await doFetch(uri, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    } catch (err) {
      throw new KeyProblem('login_idp_error', `JWKS of ${o.idp} could not be fetched: ${(err as Error).message}`);
    }
    const text = await res.text();
    if (res.status !== 200) throw new KeyProblem('login_idp_error', `JWKS of ${o.idp} answered HTTP ${res.status}`);
    if (text.length > IDP_JWKS_DEFAULTS.maxBytes) throw new KeyProblem('login_idp_error', `JWKS of ${o.idp} is larger than ${IDP_JWKS_DEFAULTS.maxBytes} bytes`);
    let jwks: unknown;
    try {
      jwks = JSON.parse(text);
    } catch {
      throw new KeyProblem('login_idp_error', `JWKS of ${o.idp} is not JSON`);
    }
    if (typeof jwks !== 'object' || jwks === null || !Array.isArray((jwks as { keys?: unknown }).keys)) {
      throw new KeyProblem('login_idp_error', `JWKS of ${o.idp} has no "keys" array`);
    }
    local = createLocalJWKSet(jwks as JSONWebKeySet);
    localUri = uri;
    fetchedMs = nowMs;
  }

  /** One fetch at a time; logins waiting meanwhile share it. */
  function reload(uri: string, nowMs: number): Promise<void> {
    pending ??= load(uri, nowMs).finally(() => {
      pending = undefined;
    });
    return pending;
  }

  async function keyFor(header: JWTHeaderParameters, token: FlattenedJWSInput, issuer: IdTokenIssuer, nowMs: number): Promise<CryptoKey | Uint8Array> {
    const alg = header.alg ?? '';
    if (!(algorithms as string[]).includes(alg)) throw new KeyProblem('login_token_invalid', `ID token of ${o.idp} is signed with ${alg || 'no algorithm'}, not one of ${algorithms.join(', ')}`);
    // RFC 7518 §3.2: HS* is keyed with the client secret, which the IdP shares with us.
    if (alg.startsWith('HS')) return secret;
    const uri = issuer.jwksUri;
    if (uri === undefined) throw new KeyProblem('login_idp_error', `${o.idp} publishes no jwks_uri: its ID tokens cannot be verified`);
    if (!uri.startsWith('https://') && !(o.allowInsecureRequests === true && uri.startsWith('http://'))) throw new KeyProblem('login_idp_error', `jwks_uri of ${o.idp} is not https`);
    if (local === undefined || localUri !== uri || nowMs - fetchedMs >= maxAgeMs) await reload(uri, nowMs);
    try {
      return await local!(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // Rotation at the IdP: a new kid. Fetch again, unless we just did.
      if (nowMs - triedMs < cooldownMs) throw new KeyProblem('login_token_invalid', `no key of ${o.idp} matches the ID token (kid ${JSON.stringify(header.kid ?? null)}); JWKS refetch is rate-limited`);
      await reload(uri, nowMs);
      try {
        return await local!(header, token);
      } catch (again) {
        if (again instanceof errors.JWKSNoMatchingKey) throw new KeyProblem('login_token_invalid', `no key of ${o.idp} matches the ID token (kid ${JSON.stringify(header.kid ?? null)})`);
        throw again;
      }
    }
  }

  return {
    async verify(idToken, issuer, nowMs) {
      try {
        await jwtVerify(idToken, (header, token) => keyFor(header, token, issuer, nowMs), {
          algorithms,
          issuer: issuer.issuer,
          audience: o.clientId,
          requiredClaims: ['sub', 'iat', 'exp'],
          clockTolerance: 30,
          currentDate: new Date(nowMs),
        });
      } catch (err) {
        if (err instanceof KeyProblem) throw new LoginError(err.code, err.message);
        if (err instanceof errors.JWSSignatureVerificationFailed) throw new LoginError('login_token_invalid', `ID token signature of ${o.idp} does not verify`);
        if (err instanceof errors.JOSEAlgNotAllowed) throw new LoginError('login_token_invalid', `ID token of ${o.idp} is signed with ${headerAlg(idToken)}, not one of ${algorithms.join(', ')}`);
        if (err instanceof errors.JWTClaimValidationFailed && err.claim === 'iss') throw new LoginError('login_issuer_mismatch', `ID token issuer is not ${issuer.issuer}`);
        throw new LoginError('login_token_invalid', `ID token of ${o.idp} refused: ${(err as Error).message}`);
      }
    },
    fetches: () => count,
  };
}

function headerAlg(token: string): string {
  try {
    return String(decodeProtectedHeader(token).alg ?? 'no algorithm');
  } catch {
    return 'an unreadable header';
  }
}

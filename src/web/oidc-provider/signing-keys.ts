import { generateKeyPair, type JsonWebKey } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, type JWK } from 'jose';

/**
 * The ID token signing keys: the given private RSA JWKs, or one RSA-2048 key
 * generated in memory. Separate from the session keys (ID tokens go to third
 * parties) and RS256, the algorithm every RP must support (OIDC Core §15.1).
 */
export async function loadSigningKeys(given: readonly JsonWebKey[] | undefined): Promise<JWK[]> {
  const raw: JsonWebKey[] = given !== undefined && given.length > 0 ? [...given] : [(await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })).privateKey.export({ format: 'jwk' })];
  return Promise.all(
    raw.map(async (k) => {
      const jwk = { ...k } as JWK;
      if (jwk.kty !== 'RSA' || typeof jwk.d !== 'string') throw new TypeError('OIDC provider signing keys must be private RSA JWKs');
      return { ...jwk, kid: jwk.kid ?? (await calculateJwkThumbprint(jwk, 'sha256')), alg: 'RS256', use: 'sig' };
    }),
  );
}

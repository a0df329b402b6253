/**
 * Service tokens: a client id and secret that machines send as headers
 * (`x-bouncer-client-id`, `x-bouncer-client-secret`). Only the SHA-256 of the
 * secret is stored in config; a single hash is enough because the secrets are
 * random, high-entropy values we generate, not passwords.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** One configured service token. */
export interface ServiceTokenEntry {
  readonly id: string;
  readonly clientId: string;
  /** Lowercase hex SHA-256 of the secret. */
  readonly secretSha256: string;
}

/**
 * Hashes a secret for storage in config.
 *
 * @example hashServiceSecret('s3cret') // '6d8c...' (64 hex digits)
 */
export function hashServiceSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Finds the token whose client id and secret match. Returns its id, or
 * undefined. The secret hash is compared in constant time against every
 * configured token (not just the one with this client id), so timing reveals
 * neither the secret nor which client ids exist.
 *
 * @example verifyServiceToken(tokens, req.headers['x-bouncer-client-id'], req.headers['x-bouncer-client-secret'])
 */
export function verifyServiceToken(tokens: readonly ServiceTokenEntry[], clientId: string, secret: string): { id: string } | undefined {
  if (typeof clientId !== 'string' || typeof secret !== 'string' || clientId === '' || secret === '') return undefined;
  const presented = createHash('sha256').update(secret, 'utf8').digest();
  let found: { id: string } | undefined;
  for (const t of tokens) {
    const stored = /^[0-9a-fA-F]{64}$/.test(t.secretSha256) ? Buffer.from(t.secretSha256, 'hex') : undefined;
    // Compare even when the id differs or the stored hash is malformed (against
    // a zero buffer), so every entry costs the same.
    const secretOk = timingSafeEqual(presented, stored ?? Buffer.alloc(32));
    if (found === undefined && stored !== undefined && secretOk && t.clientId === clientId) found = { id: t.id };
  }
  return found;
}

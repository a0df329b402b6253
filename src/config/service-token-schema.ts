/** `service_tokens`: machine clients that authenticate with a client id and secret instead of signing in. */
import { isScalar, type Node } from 'yaml';
import { required } from './fields.js';
import { IDENTITY_KEYS } from './identity-keys.js';
import { joinField, type NodeReader, type RefusedKeys, type Sourced } from './node-reader.js';
import { checkIdentifier } from './values.js';

/** The secret itself is refused, with a pointer to its hash. */
const INLINE_TOKEN_SECRET: RefusedKeys = {
  secret: 'the secret itself is never written in the config file: write secret_sha256, the hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`)',
  client_secret: 'the secret itself is never written in the config file: write secret_sha256, the hex SHA-256 of the secret (`printf %s "$SECRET" | sha256sum`)',
};

/** A service token as written. */
export interface RawServiceToken {
  readonly index: number;
  readonly field: string;
  readonly node: Node | null;
  readonly id: Sourced<string> | undefined;
  readonly clientId: Sourced<string> | undefined;
  readonly secretSha256: string | undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/i;

export function readServiceToken(node: Node | null, index: number, reader: NodeReader): RawServiceToken | undefined {
  const field = joinField('service_tokens', index);
  const m = reader.mapping(node, field, IDENTITY_KEYS.service_token, [], INLINE_TOKEN_SECRET);
  if (!m) return undefined;
  let id = required(m, 'id', node, field, reader, 'a short name for the token, used in policies (service_token: [id]) and logs');
  const problem = id && checkIdentifier('id', id.value);
  if (id && problem) {
    reader.issue(id.node, id.field, problem);
    id = undefined;
  }
  const clientId = required(m, 'client_id', node, field, reader, 'the value clients send in x-bouncer-client-id');
  let secretSha256: string | undefined;
  const hash = m.get('secret_sha256');
  if (!hash) reader.issue(node, `${field}.secret_sha256`, 'secret_sha256 is required: the hex SHA-256 of the token secret');
  else {
    // Not echoed: a secret pasted here instead of its hash must not reach logs.
    const n = reader.resolve(hash.value);
    const text = isScalar(n) && typeof n.value === 'string' ? n.value.trim() : '';
    if (SHA256_HEX.test(text)) secretSha256 = text.toLowerCase();
    else reader.issue(hash.value, `${field}.secret_sha256`, 'secret_sha256 must be 64 hexadecimal digits, the SHA-256 of the token secret (`printf %s "$SECRET" | sha256sum`); the value is not shown here in case it is the secret itself');
  }
  return { index, field, node, id, clientId, secretSha256 };
}

/**
 * Shape checks of the optional `admin` section of the config file:
 *
 * ```yaml
 * admin:
 *   listen: 127.0.0.1:9002
 *   tokens:
 *     - { id: provisioning, secret_sha256: <64 hex>, scopes: [tenants:read, tenants:write] }
 * ```
 *
 * Without the section the admin API is off. With it, at least one token is
 * required: an API nobody can call is a mistake worth reporting, not a
 * default. Read with the same `NodeReader` as the rest of the file, so every
 * problem is reported at its file:line:column.
 */
import { isScalar, type Node } from 'yaml';
import { didYouMean } from '../core/did-you-mean.js';
import { joinField, type Entry, type NodeReader, type RefusedKeys } from './node-reader.js';
import type { AdminConfig, AdminToken } from './types.js';
import { checkIdentifier, parseListenAddress } from './values.js';
import { ADMIN_DEFAULTS } from './defaults.js';
import { ADMIN_SCOPE_NAMES, isAdminScope, type AdminScope } from './admin-scopes.js';

/** Keys of the section and of each token; merged into `CONFIG_KEYS`. */
export const ADMIN_CONFIG_KEYS = {
  admin: ['listen', 'tokens'],
  admin_token: ['id', 'secret_sha256', 'scopes'],
} as const;

const HASH_HINT = 'the hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`; `bouncer admin hash-token` prints it)';

/** A token written in clear would end up in Git and ConfigMaps. */
const INLINE_TOKEN: RefusedKeys = {
  token: `the token itself is never written in the config file: write secret_sha256, ${HASH_HINT}`,
  secret: `the token itself is never written in the config file: write secret_sha256, ${HASH_HINT}`,
};

const SHA256_HEX = /^[0-9a-f]{64}$/i;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** Reads `admin` from the root mapping; undefined when absent (the API is off) or invalid (reported). */
export function readAdminShape(top: ReadonlyMap<string, Entry>, reader: NodeReader, warnings: string[]): AdminConfig | undefined {
  const entry = top.get('admin');
  if (!entry) return undefined;
  const m = reader.mapping(entry.value, 'admin', ADMIN_CONFIG_KEYS.admin);
  if (!m) return undefined;
  let listen: AdminConfig['listen'] = { ...ADMIN_DEFAULTS.listen };
  const listenEntry = m.get('listen');
  if (listenEntry) {
    const text = reader.string(listenEntry.value, 'admin.listen');
    const parsed = text === undefined ? undefined : parseListenAddress(text);
    if (parsed?.ok) listen = parsed.value;
    else if (parsed) reader.issue(listenEntry.value, 'admin.listen', parsed.message);
  }
  if (!LOOPBACK.test(listen.host.replace(/^\[|\]$/g, ''))) {
    warnings.push(`admin.listen ${listen.host}:${listen.port} is not a loopback address: admin tokens travel in clear over plain HTTP; put it behind a TLS proxy (Envoy with mTLS) or keep it on 127.0.0.1`);
  }
  const tokensEntry = m.get('tokens');
  if (!tokensEntry) {
    reader.issue(entry.value, 'admin.tokens', 'admin.tokens is required: list at least one token (id, secret_sha256, scopes), or remove the admin section to turn the API off');
    return undefined;
  }
  const tokens: AdminToken[] = [];
  const ids = new Map<string, string>();
  const hashes = new Map<string, string>();
  reader.list(tokensEntry.value, 'admin.tokens', { nonEmpty: true })?.forEach((item, i) => {
    const token = readToken(item, i, reader);
    if (!token) return;
    const field = joinField('admin.tokens', i);
    const sameId = ids.get(token.id);
    const sameHash = hashes.get(token.secretSha256);
    if (sameId !== undefined) reader.issue(item, `${field}.id`, `token id '${token.id}' is already used by ${sameId}; ids name the caller in the audit trail, so they must be unique`);
    else if (sameHash !== undefined) reader.issue(item, `${field}.secret_sha256`, `the same token as ${sameHash}: one token would act under two ids; generate a token for each`);
    else {
      ids.set(token.id, field);
      hashes.set(token.secretSha256, field);
      tokens.push(token);
    }
  });
  return { listen, tokens };
}

function readToken(node: Node | null, index: number, reader: NodeReader): AdminToken | undefined {
  const field = joinField('admin.tokens', index);
  const m = reader.mapping(node, field, ADMIN_CONFIG_KEYS.admin_token, [], INLINE_TOKEN);
  if (!m) return undefined;
  let id: string | undefined;
  const idEntry = m.get('id');
  if (!idEntry) reader.issue(node, `${field}.id`, 'id is required: a short name for the token, recorded as "who" in the audit trail');
  else {
    const text = reader.string(idEntry.value, `${field}.id`)?.trim();
    const problem = text === undefined ? undefined : checkIdentifier('id', text);
    if (problem) reader.issue(idEntry.value, `${field}.id`, problem);
    else id = text;
  }
  let secretSha256: string | undefined;
  const hashEntry = m.get('secret_sha256');
  if (!hashEntry) reader.issue(node, `${field}.secret_sha256`, `secret_sha256 is required: ${HASH_HINT}`);
  else {
    // Never echoed: a token pasted here instead of its hash must not reach logs.
    const n = reader.resolve(hashEntry.value);
    const text = isScalar(n) && typeof n.value === 'string' ? n.value.trim() : '';
    if (SHA256_HEX.test(text)) secretSha256 = text.toLowerCase();
    else reader.issue(hashEntry.value, `${field}.secret_sha256`, `secret_sha256 must be 64 hexadecimal digits, ${HASH_HINT}; the value is not shown here in case it is the token itself`);
  }
  const scopes: AdminScope[] = [];
  const scopesEntry = m.get('scopes');
  if (!scopesEntry) reader.issue(node, `${field}.scopes`, `scopes is required: what the token may do, from ${ADMIN_SCOPE_NAMES.join(', ')}`);
  else {
    reader.list(scopesEntry.value, `${field}.scopes`, { nonEmpty: true })?.forEach((item, j) => {
      const f = `${field}.scopes[${j}]`;
      const text = reader.string(item, f);
      if (text === undefined) return;
      if (isAdminScope(text)) {
        if (!scopes.includes(text)) scopes.push(text);
        return;
      }
      const hint = didYouMean(text, ADMIN_SCOPE_NAMES);
      reader.issue(item, f, `unknown scope '${text}'${hint !== undefined ? ` (did you mean '${hint}'?)` : ''}; expected one of ${ADMIN_SCOPE_NAMES.join(', ')}`);
    });
  }
  if (id === undefined || secretSha256 === undefined || scopes.length === 0) return undefined;
  return { id, secretSha256, scopes };
}

/**
 * Envelope encryption of private keys at rest. Each record gets its own
 * random 256-bit data key; the key's PEM is encrypted with it (AES-256-GCM),
 * and the data key is itself encrypted ("wrapped") with the key-encryption key
 * (KEK, AES-256-GCM too). The stored envelope names the KEK by id, so a new
 * KEK can be introduced while old envelopes still open: `bouncer hostname
 * rewrap` then re-wraps every data key with the newest KEK (the data itself is
 * not re-encrypted) and the old KEK can be retired.
 *
 * Both encryptions bind the record's identity as additional authenticated
 * data, so an envelope copied onto another row (one hostname's key served for
 * another) fails to open instead of decrypting.
 *
 * Format (one line, ASCII): `bk1.<kek id>.<b64url wrapped data key>.<b64url data>`,
 * each binary part being iv (12 bytes) | tag (16 bytes) | ciphertext.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BouncerError } from '../core/errors.js';
import { HOSTNAME_DEFAULTS } from '../config/defaults.js';

export type KeyEnvelopeErrorCode = 'ERR_KEK_MISSING' | 'ERR_KEK_INVALID' | 'ERR_KEK_UNKNOWN' | 'ERR_ENVELOPE_INVALID';

export class KeyEnvelopeError extends BouncerError<KeyEnvelopeErrorCode> {}

const VERSION = 'bk1';
const KEK_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** The key-encryption keys: the first wraps, all of them unwrap. */
export interface KekRing {
  /** Id of the KEK new envelopes are wrapped with. */
  readonly activeId: string;
  readonly ids: readonly string[];
  seal(plaintext: string, context: string): string;
  open(envelope: string, context: string): string;
  /** The KEK id an envelope is wrapped with. */
  kekIdOf(envelope: string): string;
  /** The same data key re-wrapped with the active KEK; the data part is unchanged. */
  rewrap(envelope: string, context: string): string;
}

/**
 * Parses a keyring: one KEK per line (or separated by commas), `id:base64`,
 * the key being exactly 32 random bytes (`openssl rand -base64 32`). The
 * first is the active one. Blank lines and `#` comments are ignored.
 */
export function parseKekRing(text: string, origin: string): KekRing {
  const keys = new Map<string, Buffer>();
  let active: string | undefined;
  // Comments first (they may hold commas), then the comma-separated form an environment variable uses.
  const items = text.split('\n').flatMap((l) => (l.trim().startsWith('#') ? [] : l.split(',')));
  for (const raw of items) {
    const line = raw.trim();
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon < 0) throw new KeyEnvelopeError('ERR_KEK_INVALID', `${origin}: each key-encryption key is written 'id:base64' (for example 'k2026:' followed by the output of 'openssl rand -base64 32')`);
    const id = line.slice(0, colon).trim();
    const b64 = line.slice(colon + 1).trim();
    if (!KEK_ID.test(id)) throw new KeyEnvelopeError('ERR_KEK_INVALID', `${origin}: key id '${id.slice(0, 40)}' must be 1 to 32 of A-Z a-z 0-9 _ -`);
    const key = /^[A-Za-z0-9+/]+={0,2}$/.test(b64) ? Buffer.from(b64, 'base64') : Buffer.alloc(0);
    if (key.length !== 32) throw new KeyEnvelopeError('ERR_KEK_INVALID', `${origin}: key '${id}' must be 32 bytes in base64 (openssl rand -base64 32); it is not`);
    if (keys.has(id)) throw new KeyEnvelopeError('ERR_KEK_INVALID', `${origin}: key id '${id}' appears twice`);
    keys.set(id, key);
    active ??= id;
  }
  if (active === undefined) throw new KeyEnvelopeError('ERR_KEK_MISSING', `${origin}: no key-encryption key in it`);
  return createKekRing(active, keys);
}

/** Where the keyring comes from: a file (mode 0600, say) or an environment variable. */
export interface KekSource {
  readonly file?: string | undefined;
  readonly env?: string | undefined;
}

/**
 * Reads the keyring from `source.file`, else from the environment variable
 * `source.env` (default {@link HOSTNAME_DEFAULTS}.kekEnv).
 */
export function loadKekRing(source: KekSource, env: NodeJS.ProcessEnv = process.env): KekRing {
  if (source.file !== undefined) {
    let text: string;
    try {
      text = readFileSync(source.file, 'utf8');
    } catch (err) {
      throw new KeyEnvelopeError('ERR_KEK_MISSING', `cannot read the key-encryption key file ${source.file}: ${(err as Error).message}`, { cause: err });
    }
    return parseKekRing(text, source.file);
  }
  const name = source.env ?? HOSTNAME_DEFAULTS.kekEnv;
  const text = env[name];
  if (text === undefined || text.trim() === '') {
    throw new KeyEnvelopeError('ERR_KEK_MISSING', `no key-encryption key: set ${name} to 'id:base64' (openssl rand -base64 32) or name a file in hostnames.kek_file`);
  }
  return parseKekRing(text, `environment variable ${name}`);
}

function gcmEncrypt(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]);
}

function gcmDecrypt(key: Buffer, blob: Buffer, aad: Buffer, what: string): Buffer {
  if (blob.length < 28) throw new KeyEnvelopeError('ERR_ENVELOPE_INVALID', `${what} is truncated`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    decipher.setAAD(aad);
    decipher.setAuthTag(blob.subarray(12, 28));
    return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]);
  } catch (err) {
    throw new KeyEnvelopeError('ERR_ENVELOPE_INVALID', `${what} does not authenticate (wrong key-encryption key, or the envelope belongs to another record or was altered)`, { cause: err });
  }
}

interface Parts {
  readonly kekId: string;
  readonly wrapped: Buffer;
  readonly data: Buffer;
}

function split(envelope: string): Parts {
  const parts = envelope.split('.');
  if (parts.length !== 4 || parts[0] !== VERSION || !KEK_ID.test(parts[1] ?? '')) {
    throw new KeyEnvelopeError('ERR_ENVELOPE_INVALID', `not a ${VERSION} key envelope`);
  }
  return { kekId: parts[1] as string, wrapped: Buffer.from(parts[2] as string, 'base64url'), data: Buffer.from(parts[3] as string, 'base64url') };
}

function createKekRing(activeId: string, keys: ReadonlyMap<string, Buffer>): KekRing {
  const kek = (id: string): Buffer => {
    const key = keys.get(id);
    if (!key) throw new KeyEnvelopeError('ERR_KEK_UNKNOWN', `the key envelope is wrapped with key-encryption key '${id}', which is not in the keyring (keep old keys until 'bouncer hostname rewrap' has run)`);
    return key;
  };
  const aadFor = (layer: 'kek' | 'data', context: string, kekId?: string): Buffer => Buffer.from(`${VERSION}|${layer}|${kekId ?? ''}|${context}`, 'utf8');
  const unwrap = (p: Parts, context: string): Buffer => gcmDecrypt(kek(p.kekId), p.wrapped, aadFor('kek', context, p.kekId), 'the wrapped data key');
  const wrap = (dek: Buffer, context: string): string => gcmEncrypt(kek(activeId), dek, aadFor('kek', context, activeId)).toString('base64url');
  return {
    activeId,
    ids: [...keys.keys()],
    seal(plaintext, context) {
      const dek = randomBytes(32);
      try {
        const data = gcmEncrypt(dek, Buffer.from(plaintext, 'utf8'), aadFor('data', context));
        return `${VERSION}.${activeId}.${wrap(dek, context)}.${data.toString('base64url')}`;
      } finally {
        dek.fill(0);
      }
    },
    open(envelope, context) {
      const p = split(envelope);
      const dek = unwrap(p, context);
      try {
        return gcmDecrypt(dek, p.data, aadFor('data', context), 'the encrypted key').toString('utf8');
      } finally {
        dek.fill(0);
      }
    },
    kekIdOf(envelope) {
      return split(envelope).kekId;
    },
    rewrap(envelope, context) {
      const p = split(envelope);
      if (p.kekId === activeId) return envelope;
      const dek = unwrap(p, context);
      try {
        return `${VERSION}.${activeId}.${wrap(dek, context)}.${p.data.toString('base64url')}`;
      } finally {
        dek.fill(0);
      }
    },
  };
}

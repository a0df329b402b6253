/**
 * Signing keys for session and handoff tokens, with rotation and overlap.
 *
 * Each key is one JWK file `<kid>.jwk.json` in `keys_dir` (dir 0700, files
 * 0600) holding the private JWK and its creation time. The newest key signs;
 * an older key keeps verifying for `overlapMs` after the key that superseded
 * it was created (so every session it signed can run out), then it is dropped
 * from {@link KeyStore.verifyKeys} and {@link KeyStore.jwks} and its file is
 * deleted. Without a directory the keys live in memory only (tests, or a
 * single replica that accepts logging everyone out on restart).
 *
 * `kid` is the RFC 7638 thumbprint of the public key, so a file cannot claim
 * another key's id without us noticing.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { BouncerError } from '../core/errors.js';
import type { SessionAlg, SigningKey, VerifyKeys } from '../core/session-token.js';

/** Options for {@link openKeyStore}. */
export interface KeyStoreOptions {
  /** Directory of JWK files; undefined keeps keys in memory only. */
  dir: string | undefined;
  /** Algorithm of newly generated keys (existing keys keep theirs). Default ES256. */
  alg?: SessionAlg;
  /** Make a new current key once the current one is this old. */
  rotateAfterDays: number;
  /**
   * How long a superseded key still verifies, counted from the moment it was
   * superseded. Use {@link keyOverlapMs} (longest session + 1 h).
   */
  overlapMs: number;
  /** Clock at open: generates the first key and drops expired ones. */
  nowMs: number;
  /**
   * A new key verifies at once but signs only once it is this old, so every
   * process sharing the directory has loaded it (each re-reads the directory
   * on {@link KeyStore.rotateIfDue}) before the first token signed with it
   * arrives. Set it above the refresh interval when processes share keys.
   * Default 0.
   */
  publishDelayMs?: number;
  /** Time source for {@link KeyStore.current}; default `Date.now`. */
  clock?: () => number;
}

/** Public JWK as published in the JWKS. */
export interface PublicJwk {
  kty: string;
  crv: string;
  x: string;
  y?: string;
  kid: string;
  alg: SessionAlg;
  use: 'sig';
}

/** Bouncer's signing keys. */
export interface KeyStore {
  /** The key to sign new tokens with (the newest). */
  current(): SigningKey;
  /**
   * Keys to verify with, by `kid`. The returned object is a live view: it
   * follows rotations, so it may be captured once at wiring time.
   */
  verifyKeys(): VerifyKeys;
  /** Public keys for `/.well-known/jwks.json`; never contains private parts. */
  jwks(): { keys: PublicJwk[] };
  /**
   * Pick up keys other processes wrote to the directory, drop keys past their
   * overlap, and create a new current key if the current one is older than
   * `rotateAfterDays`. Call it periodically (e.g. every minute). Resolves to
   * true when a new key was created.
   */
  rotateIfDue(nowMs: number): Promise<boolean>;
}

/** Overlap for superseded keys: the longest session any app may issue, plus one hour of margin. */
export function keyOverlapMs(maxSessionDurationSec: number): number {
  return maxSessionDurationSec * 1000 + 3_600_000;
}

interface LoadedKey {
  kid: string;
  alg: SessionAlg;
  createdAtMs: number;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: PublicJwk;
}

/** Contents of one key file. */
interface KeyFile {
  kid: string;
  alg: SessionAlg;
  created_at: string;
  jwk: JWK;
}

const FILE_SUFFIX = '.jwk.json';
const KEY_FILE = /^[A-Za-z0-9_-]{16,128}\.jwk\.json$/;
const DAY_MS = 86_400_000;

/**
 * Open (and on first start, create) the key store.
 *
 * @example
 * ```ts
 * const keys = await openKeyStore({ dir: cfg.auth.keysDir, rotateAfterDays: cfg.auth.keyRotationDays,
 *   overlapMs: keyOverlapMs(longestSessionSec), nowMs: Date.now() });
 * setInterval(() => void keys.rotateIfDue(Date.now()), 60_000).unref();
 * ```
 * @throws BouncerError `ERR_CONFIG_INVALID` for unreadable, malformed or too-permissive key files.
 */
export async function openKeyStore(o: KeyStoreOptions): Promise<KeyStore> {
  const alg: SessionAlg = o.alg ?? 'ES256';
  if (!(o.rotateAfterDays > 0)) throw new BouncerError('ERR_CONFIG_INVALID', 'key rotation interval must be positive');
  if (!(o.overlapMs >= 0)) throw new BouncerError('ERR_CONFIG_INVALID', 'key overlap must not be negative');
  let keys: LoadedKey[] = [];

  if (o.dir !== undefined) await prepareDir(o.dir);

  const verifyKeys: VerifyKeys = {
    get(kid) {
      const k = keys.find((x) => x.kid === kid);
      return k === undefined ? undefined : { alg: k.alg, publicKey: k.publicKey };
    },
  };

  const newest = (): LoadedKey => {
    const k = keys[keys.length - 1];
    if (k === undefined) throw new BouncerError('ERR_INTERNAL', 'key store has no keys');
    return k;
  };

  async function rotateIfDue(nowMs: number): Promise<boolean> {
    if (o.dir !== undefined) {
      // Another replica sharing the directory may have rotated; adopt its keys
      // (keeping ours if their files vanished mid-way, they are still valid).
      const fromDisk = await loadDir(o.dir);
      const merged = new Map(keys.map((k) => [k.kid, k]));
      for (const k of fromDisk) merged.set(k.kid, k);
      keys = sortKeys([...merged.values()]);
    }
    let created = false;
    const cur = keys[keys.length - 1];
    if (cur === undefined || nowMs - cur.createdAtMs >= o.rotateAfterDays * DAY_MS) {
      const { key: k, privateJwk } = await generate(alg, nowMs);
      if (o.dir !== undefined) await writeKeyFile(o.dir, k, privateJwk);
      keys = sortKeys([...keys, k]);
      created = true;
    }
    const { kept, dropped } = partitionExpired(keys, nowMs, o.overlapMs);
    keys = kept;
    if (o.dir !== undefined) {
      for (const k of dropped) await unlink(join(o.dir, k.kid + FILE_SUFFIX)).catch(() => undefined);
    }
    return created;
  }

  await rotateIfDue(o.nowMs);

  return {
    current() {
      const delay = o.publishDelayMs ?? 0;
      let k = newest();
      if (delay > 0) {
        const nowMs = (o.clock ?? Date.now)();
        // The newest key old enough to be known everywhere; else the oldest, which every process sorts first.
        const published = keys.findLast((x) => nowMs - x.createdAtMs >= delay);
        k = published ?? keys[0] ?? k;
      }
      return { kid: k.kid, alg: k.alg, privateKey: k.privateKey };
    },
    verifyKeys: () => verifyKeys,
    jwks: () => ({ keys: keys.map((k) => ({ ...k.publicJwk })) }),
    rotateIfDue,
  };
}

/** Oldest first, ties by kid, so every replica agrees on which key is current. */
function sortKeys(keys: LoadedKey[]): LoadedKey[] {
  return keys.sort((a, b) => a.createdAtMs - b.createdAtMs || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
}

/** A key is dropped once its successor has existed for longer than the overlap. The newest key is always kept. */
function partitionExpired(sorted: LoadedKey[], nowMs: number, overlapMs: number): { kept: LoadedKey[]; dropped: LoadedKey[] } {
  const kept: LoadedKey[] = [];
  const dropped: LoadedKey[] = [];
  sorted.forEach((k, i) => {
    const successor = sorted[i + 1];
    if (successor !== undefined && nowMs >= successor.createdAtMs + overlapMs) dropped.push(k);
    else kept.push(k);
  });
  return { kept, dropped };
}

/** A new key pair; the private JWK is returned once so it can be written to disk, then only the non-extractable key is kept. */
async function generate(alg: SessionAlg, nowMs: number): Promise<{ key: LoadedKey; privateJwk: JWK }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  const privateJwk = await exportJWK(pair.privateKey);
  return { key: await fromPrivateJwk(privateJwk, alg, nowMs, undefined), privateJwk };
}

/** Import a private JWK; checks the curve matches `alg` and, if given, that `expectKid` is its thumbprint. */
async function fromPrivateJwk(jwk: JWK, alg: SessionAlg, createdAtMs: number, expectKid: string | undefined): Promise<LoadedKey> {
  const curveOk = alg === 'ES256' ? jwk.kty === 'EC' && jwk.crv === 'P-256' : jwk.kty === 'OKP' && jwk.crv === 'Ed25519';
  if (!curveOk || typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new Error(`not a private ${alg} JWK`);
  const pub: JWK = alg === 'ES256' ? { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y } : { kty: 'OKP', crv: 'Ed25519', x: jwk.x };
  const kid = await calculateJwkThumbprint(pub, 'sha256');
  if (expectKid !== undefined && kid !== expectKid) throw new Error(`kid ${expectKid} is not the thumbprint of its key (${kid})`);
  // Private key imported non-extractable: once loaded it cannot be exported again from memory.
  const privateKey = (await importJWK({ ...jwk, ext: false }, alg, { extractable: false })) as CryptoKey;
  const publicKey = (await importJWK(pub, alg)) as CryptoKey;
  const publicJwk: PublicJwk = { kty: pub.kty as string, crv: pub.crv as string, x: pub.x as string, kid, alg, use: 'sig' };
  if (pub.y !== undefined) publicJwk.y = pub.y;
  return { kid, alg, createdAtMs, privateKey, publicKey, publicJwk };
}

async function prepareDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await stat(dir);
  if (!st.isDirectory()) throw new BouncerError('ERR_CONFIG_INVALID', `keys_dir ${dir} is not a directory`);
  // Anyone who can write here can plant a signing key and mint sessions.
  if (process.platform !== 'win32' && (st.mode & 0o022) !== 0) {
    throw new BouncerError('ERR_CONFIG_INVALID', `keys_dir ${dir} is writable by group or others (mode ${modeString(st.mode)}); run chmod 700 ${dir}`);
  }
}

async function loadDir(dir: string): Promise<LoadedKey[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (cause) {
    throw new BouncerError('ERR_CONFIG_INVALID', `cannot read keys_dir ${dir}`, { cause });
  }
  const out: LoadedKey[] = [];
  for (const name of names.filter((n) => KEY_FILE.test(n)).sort()) {
    out.push(await loadFile(join(dir, name), name.slice(0, -FILE_SUFFIX.length)));
  }
  return out;
}

async function loadFile(path: string, kidFromName: string): Promise<LoadedKey> {
  const bad = (why: string, cause?: unknown): BouncerError =>
    new BouncerError('ERR_CONFIG_INVALID', `key file ${path}: ${why}`, cause === undefined ? undefined : { cause });
  let text: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw bad('not a regular file');
    if (process.platform !== 'win32' && (st.mode & 0o077) !== 0) {
      throw bad(`readable or writable by group or others (mode ${modeString(st.mode)}); run chmod 600 ${path}`);
    }
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof BouncerError) throw e;
    throw bad('cannot read', e);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw bad('not JSON', e);
  }
  const f = parsed as Partial<KeyFile> | null;
  if (f === null || typeof f !== 'object') throw bad('not a JSON object');
  if (f.kid !== kidFromName) throw bad('"kid" does not match the file name');
  if (f.alg !== 'ES256' && f.alg !== 'EdDSA') throw bad('"alg" must be ES256 or EdDSA');
  const createdAtMs = typeof f.created_at === 'string' ? Date.parse(f.created_at) : NaN;
  if (!Number.isFinite(createdAtMs)) throw bad('"created_at" must be an ISO date');
  if (f.jwk === null || typeof f.jwk !== 'object') throw bad('"jwk" missing');
  try {
    return await fromPrivateJwk(f.jwk, f.alg, createdAtMs, f.kid);
  } catch (e) {
    throw bad(e instanceof Error ? e.message : 'invalid key', e);
  }
}

/** Write via a temp file and rename, so a concurrent reader never sees half a key. */
async function writeKeyFile(dir: string, k: LoadedKey, jwk: JWK): Promise<void> {
  const body: KeyFile = { kid: k.kid, alg: k.alg, created_at: new Date(k.createdAtMs).toISOString(), jwk };
  const tmp = join(dir, `.${k.kid}.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, JSON.stringify(body, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  await chmod(tmp, 0o600); // the umask may have narrowed the mode further, never widened it; make it exact
  await rename(tmp, join(dir, k.kid + FILE_SUFFIX));
}

function modeString(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

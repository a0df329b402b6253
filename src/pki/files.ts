import { chmodSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { BouncerError } from '../core/errors.js';

/** One file a PKI command writes. Certificates are 0644; anything holding a key is 0600. */
export interface PkiOutputFile {
  readonly path: string;
  readonly data: string | Buffer;
  readonly mode: 0o644 | 0o600;
  /** What the file is, for messages: "CA certificate", "private key"... */
  readonly what: string;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses output paths that are named twice or, without `force`, already exist. Commands call
 * it before generating anything, so a refusal costs no key generation; {@link writePkiFiles}
 * calls it again right before writing.
 *
 * @example
 * checkOutputPaths(['acme-ca.pem', 'acme-ca.key'], flags.force === true);
 */
export function checkOutputPaths(paths: readonly string[], force: boolean): void {
  const seen = new Set<string>();
  for (const path of paths) {
    const abs = resolve(path);
    if (seen.has(abs)) throw new BouncerError('ERR_CLI_USAGE', `${path} is named for two outputs`);
    seen.add(abs);
    if (!force && exists(path)) throw new BouncerError('ERR_CLI_USAGE', `refusing to overwrite ${path}; pass --force to replace it`);
  }
}

/**
 * Writes key material all-or-nothing with respect to overwriting: every target is checked
 * before the first byte is written, so a refusal never leaves a new key next to an old
 * certificate. With `force`, an existing file (or symlink) is removed and a fresh one created
 * exclusively, so a key is never written into a file that was world-readable, and a symlink
 * planted at the path cannot redirect it. The mode is set again after writing because the
 * umask may have narrowed it.
 *
 * @example
 * writePkiFiles([{ path: 'acme-ca.key', data: ca.keyPem, mode: 0o600, what: 'private key' }], false);
 */
export function writePkiFiles(files: readonly PkiOutputFile[], force: boolean): void {
  checkOutputPaths(files.map((f) => f.path), force);
  for (const f of files) {
    try {
      mkdirSync(dirname(f.path), { recursive: true });
      if (exists(f.path)) rmSync(f.path);
      writeFileSync(f.path, f.data, { mode: f.mode, flag: 'wx' });
      chmodSync(f.path, f.mode);
    } catch (err) {
      throw new BouncerError('ERR_CLI_USAGE', `cannot write ${f.what} ${f.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
}

/**
 * Reads a UTF-8 input file named by a flag, with an error that names both.
 *
 * @example
 * const caCertPem = readInputFile(flags.caCert, '--ca-cert');
 */
export function readInputFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new BouncerError('ERR_CLI_USAGE', `cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

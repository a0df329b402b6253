import type { Stats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';

/** Stamp of a file that could not be opened or stat'ed; its appearance is a change too. */
export const MISSING_STAMP = 'missing';

/**
 * Identifies one version of a file without reading it: device, inode, size and
 * both times. The inode catches editors' rename-on-save and Kubernetes' ConfigMap
 * symlink swap (stat follows the link to the new target); ctime catches an
 * in-place rewrite that kept size and mtime.
 */
export function stampOf(s: Stats): string {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
}

/** The current stamp of `path`, or {@link MISSING_STAMP}. Never throws. */
export async function currentStamp(path: string): Promise<string> {
  try {
    return stampOf(await stat(path));
  } catch {
    return MISSING_STAMP;
  }
}

/** A file's bytes and the stamp of exactly the version that was read. */
export type StampedRead = { readonly ok: true; readonly data: Buffer; readonly stamp: string } | { readonly ok: false; readonly error: NodeJS.ErrnoException; readonly stamp: string };

/**
 * Reads a file and stamps it from the same open descriptor, so a watcher that
 * compares stamps later sees any write that happened after this read, even one
 * racing with it.
 */
export async function readStamped(path: string): Promise<StampedRead> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    const stamp = stampOf(await handle.stat());
    const data = await handle.readFile();
    return { ok: true, data, stamp };
  } catch (err) {
    return { ok: false, error: err as NodeJS.ErrnoException, stamp: MISSING_STAMP };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/** "no such file or directory (ENOENT)" rather than Node's "ENOENT: no such file…, open '/x'". */
export function describeFsError(err: NodeJS.ErrnoException): string {
  const known: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a directory, not a file',
    ENOTDIR: 'a parent of it is not a directory',
    ELOOP: 'too many symbolic links',
    EMFILE: 'too many open files',
  };
  const code = err.code ?? '';
  return code in known ? `${known[code]} (${code})` : err.message;
}

/**
 * The one way lvsd writes a file it keeps (the state file, the drains file and its last good copy): the
 * whole content goes to a temp file with a unique name in the same directory, is fsynced, renamed over the
 * target, and the directory is fsynced. A crash or power loss at any point leaves either the old file or
 * the new one, never a truncated or half-written one; two writers never share a temp file.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Mode of a new file (default 0o644). */
  mode?: number;
  /** Mode of a directory created for it (default 0o755). */
  dirMode?: number;
}

/** Writes `data` to `path` atomically and durably, creating the directory. Throws the I/O error (the temp file is removed). */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: options.dirMode ?? 0o755 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  await syncDir(dir);
}

/** fsync of a directory, so a rename into it survives a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * The one way lvsd writes a file it keeps (the state file, the drains file and its last good copy): the
 * whole content goes to a temp file with a unique name in the same directory, is fsynced, renamed over the
 * target, and the directory is fsynced. A crash or power loss at any point leaves either the old file or
 * the new one, never a truncated or half-written one; two writers never share a temp file.
 */
import { closeFd, mkdir, open, rename, syncFd, unlink, writeAll } from './fs-async.js';
import { basename, dirname, join } from 'node:path';

/** Per process: with the pid and a random part, a temp name no other writer uses (open's O_EXCL checks it). */
let tmpCounter = 0;

/**
 * The temp file's unique part, without node:crypto: a CLI command that saves a state file would otherwise
 * load crypto's 15 internal modules for six random bytes (issue #11, fast start; O_EXCL is the guarantee).
 */
function tmpSuffix(): string {
  return `${process.pid}.${(tmpCounter++).toString(36)}${Math.random().toString(36).slice(2, 10)}`;
}

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
  const tmp = join(dir, `.${basename(path)}.${tmpSuffix()}.tmp`);
  try {
    const fd = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await writeAll(fd, data);
      await syncFd(fd);
    } finally {
      await closeFd(fd);
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
  const fd = await open(dir, 'r');
  try {
    await syncFd(fd);
  } finally {
    await closeFd(fd);
  }
}

/**
 * Which files a config path names, and reading one of them as a regular file. A leaf: the CLI's control
 * commands use it (control-socket.ts) without loading the validator.
 */
import { constants } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import { commonPrefix } from './byte-compare.js';

function unreadable(path: string, e: unknown): LvsdError {
  const err = e as NodeJS.ErrnoException;
  const why = err.code === 'ELOOP' ? 'ELOOP (a symbolic link loop)'
    : err.code === 'ENOENT' ? 'ENOENT (missing, or a symbolic link to nothing)'
    : err.code ?? err.message;
  return new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: cannot read: ${why}`, {
    details: { file: path, errno: err.code },
    cause: e,
  });
}

function notRegular(path: string): LvsdError {
  return new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: cannot read: not a regular file`, { details: { file: path, errno: 'ENOTREG' } });
}

/** The files a path names: itself, or a directory's *.json files sorted by name (code-point order). */
export async function configFiles(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  if (!info.isDirectory()) return [path];
  let names: string[];
  try {
    names = await readdir(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  const files = names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort().map((n) => join(path, n));
  if (files.length === 0) {
    throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: the config directory has no *.json files`, { details: { file: path } });
  }
  return files;
}

/** How much of a file is compared per read when it may be unchanged (`reread`). */
export const COMPARE_CHUNK = 256 * 1024;

/** Opens `file` without blocking (a FIFO would otherwise hang the load) and checks it is a regular file on the open descriptor. */
async function openRegular(file: string): Promise<{ fh: FileHandle; size: number; changed: () => Promise<boolean> }> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const info = await fh.stat({ bigint: true });
    if (!info.isFile()) throw notRegular(file);
    // written to (or truncated) since: another size, or another modification or change time
    const changed = async () => {
      const now = await fh.stat({ bigint: true });
      return now.size !== info.size || now.mtimeNs !== info.mtimeNs || now.ctimeNs !== info.ctimeNs;
    };
    return { fh, size: Number(info.size), changed };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e instanceof LvsdError ? e : unreadable(file, e);
  }
}

/**
 * The bytes of one config file. Opened without blocking and checked to be a regular file on the open
 * descriptor, so a file swapped between a check and the read is caught too.
 */
export async function readRegular(file: string): Promise<Buffer> {
  const { fh, size } = await openRegular(file);
  try {
    return await readWhole(fh, size);
  } catch (e) {
    throw e instanceof LvsdError ? e : unreadable(file, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** One read of the size fstat gave, and one byte more: a short read is the end of the file (each call is a round trip through libuv's thread pool). */
async function readWhole(fh: FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size + 1);
  const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
  if (bytesRead <= size) return buf.subarray(0, bytesRead);
  // it grew meanwhile: read it as it is now
  return await fh.readFile();
}

/** What a reader keeps between two reads of one file (a daemon's ConfigCache). */
export interface KeptRead {
  /** The bytes the file held when last read. */
  same: Buffer;
  /** COMPARE_CHUNK bytes to compare through while no spare is at hand. */
  scratch: Buffer;
  /**
   * A buffer of at least `size` bytes that nothing else holds (not `same`'s), for the file's new content;
   * undefined when there is none yet and `make` is false.
   */
  spare(size: number, make: boolean): Buffer | undefined;
}

/** A file read again: its bytes, and how many of them it shares with the kept ones at its start. */
export interface Reread {
  /** `same` itself when the file still holds exactly it; else the new content (in a spare, or a new buffer). */
  bytes: Buffer;
  prefix: number;
}

/** Reads made of a file that is written to meanwhile before one is taken whole (then it is read as it is). */
const REREAD_TRIES = 3;

/**
 * A file read again by a process that kept its last bytes (`kept`). The file is compared with them as it
 * is read, a chunk at a time, so that a file that still holds them gives back `same` itself, and a changed
 * one tells how many bytes it shares with them at its start (the splice of an edit starts there:
 * splice.ts). The new content goes into the kept spare (two buffers per file in all, whatever the number
 * of reloads: at 100,000 real servers a 6 MB buffer made per reload made V8 run a full collection every
 * few reloads, and under TCG its fresh pages were a good part of a reload's cost); the first change of a
 * file makes that spare. A file written to while it is read (its size, mtime or ctime moved) is read again.
 */
export async function reread(file: string, kept: KeptRead): Promise<Reread> {
  for (let tries = 1; ; tries++) {
    const { fh, size, changed } = await openRegular(file);
    try {
      const got = await compareAndRead(fh, size, kept);
      if (!(await changed())) return got;
      if (tries >= REREAD_TRIES) {
        const bytes = await readWhole(fh, size);
        return { bytes, prefix: commonPrefix(bytes, kept.same) };
      }
    } catch (e) {
      throw e instanceof LvsdError ? e : unreadable(file, e);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

async function compareAndRead(fh: FileHandle, size: number, kept: KeptRead): Promise<Reread> {
  const { same, scratch } = kept;
  const n = Math.min(size, same.length);
  const spare = kept.spare(size + 1, false);
  let at = 0;
  if (spare !== undefined) {
    // read whole into the spare at once (one round trip through the thread pool), then compared there
    const { bytesRead } = await fh.read(spare, 0, size + 1, 0);
    if (bytesRead > size) {
      // it grew meanwhile: read it as it is now
      const grown = await fh.readFile();
      return { bytes: grown, prefix: commonPrefix(grown, same) };
    }
    const bytes = spare.subarray(0, bytesRead);
    const prefix = commonPrefix(bytes, same);
    return prefix === same.length && bytesRead === same.length ? { bytes: same, prefix } : { bytes, prefix };
  }
  // no spare yet: compared through the scratch, and a spare made only when the file differs
  while (at < n) {
    const want = Math.min(scratch.length, n - at);
    const { bytesRead } = await fh.read(scratch, 0, want, at);
    const k = commonPrefix(scratch.subarray(0, bytesRead), same.subarray(at, at + bytesRead));
    at += k;
    if (k < want) break;
  }
  if (at === n && size === same.length && (await fh.read(scratch, 0, 1, size)).bytesRead === 0) return { bytes: same, prefix: at };
  const buf = kept.spare(size + 1, true)!;
  // the shared start is the kept bytes': copied, not read again
  same.copy(buf, 0, 0, at);
  return finish(fh, size, buf, at, at, same);
}

/** The rest of the file read into `buf` from `readTo` (what is before it is there already); `prefix`: the bytes shared with `same`. */
async function finish(fh: FileHandle, size: number, buf: Buffer, prefix: number, readTo: number, same: Buffer): Promise<Reread> {
  const want = size + 1 - readTo;
  const { bytesRead } = want > 0 ? await fh.read(buf, readTo, want, readTo) : { bytesRead: 0 };
  const length = readTo + bytesRead;
  if (length <= size) return { bytes: buf.subarray(0, length), prefix: Math.min(prefix, length) };
  // it grew meanwhile: read it as it is now
  const bytes = await fh.readFile();
  return { bytes, prefix: commonPrefix(bytes, same) };
}

/**
 * Which files a config path names, and reading one of them as a regular file. A leaf: the CLI's control
 * commands use it (control-socket.ts) without loading the validator.
 */
import { constants } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';

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

/** How much of a file is compared per read when it may be unchanged (`readRegular`'s `same`). */
export const COMPARE_CHUNK = 256 * 1024;

/**
 * Whether the file open as `fh` holds exactly `same`: read a chunk at a time into `scratch` and compared,
 * then one byte past the end (it must be the end).
 */
async function holds(fh: FileHandle, same: Buffer, scratch: Buffer): Promise<boolean> {
  for (let at = 0; at < same.length; at += scratch.length) {
    const want = Math.min(scratch.length, same.length - at);
    const { bytesRead } = await fh.read(scratch, 0, want, at);
    if (bytesRead !== want || !scratch.subarray(0, want).equals(same.subarray(at, at + want))) return false;
  }
  return (await fh.read(scratch, 0, 1, same.length)).bytesRead === 0;
}

/**
 * The bytes of one config file. Opened without blocking (a FIFO would otherwise hang the load) and checked
 * to be a regular file on the open descriptor, so a file swapped between a check and the read is caught too.
 *
 * `same`: the bytes it held when last read (a daemon's ConfigCache). If it still holds exactly those,
 * `same` itself is returned, compared through `scratch` (COMPARE_CHUNK bytes, reused) without a buffer of
 * the file's size: at 100,000 real servers every reload read a 6 MB file into a new buffer, and that
 * memory, outside V8's heap, made V8 run a full garbage collection every 7 reloads or so (0.4-0.5 s of
 * marking natively, steps of up to 190 ms holding the event loop).
 */
export async function readRegular(file: string, same?: Buffer, scratch?: Buffer): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw notRegular(file);
    if (same !== undefined && scratch !== undefined && info.size === same.length && scratch.length > 0 && await holds(fh, same, scratch)) return same;
    // one read of the size fstat gave, and one byte more: a short read is the end of the file (a daemon
    // reads every file at every reload, and each call is a round trip through libuv's thread pool)
    const buf = Buffer.allocUnsafe(info.size + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead <= info.size) return buf.subarray(0, bytesRead);
    // it grew meanwhile: read it as it is now
    return await fh.readFile();
  } catch (e) {
    throw e instanceof LvsdError ? e : unreadable(file, e);
  } finally {
    await fh.close().catch(() => undefined);
  }
}


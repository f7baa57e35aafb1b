/**
 * Which files a config path names, and reading one of them as a regular file. A leaf: the CLI's control
 * commands use it (control-socket.ts) without loading the validator.
 */
import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
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

/**
 * The bytes of one config file. Opened without blocking (a FIFO would otherwise hang the load) and checked
 * to be a regular file on the open descriptor, so a file swapped between a check and the read is caught too.
 */
export async function readRegular(file: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const info = await fh.stat();
    if (!info.isFile()) throw notRegular(file);
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


/**
 * Which files a config path names, and reading one of them as a regular file. A leaf: the CLI's control
 * commands use it (control-socket.ts) without loading the validator.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, type BigIntStats } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import { commonPrefix } from './byte-compare.js';
import { TurnBudget } from '../turn-budget.js';

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

/** Bytes read per synchronous read; the event loop gets a turn between two when the turn's budget is spent. */
export const READ_STEP = 1024 * 1024;

/** Whether the file open as `fd` was written to (or truncated) since `before`: another size, modification or change time. */
function movedSince(fd: number, before: BigIntStats): boolean {
  const now = fstatSync(fd, { bigint: true });
  return now.size !== before.size || now.mtimeNs !== before.mtimeNs || now.ctimeNs !== before.ctimeNs;
}

/**
 * A file read again by a process that kept its last bytes (`kept`). The file is compared with them as it
 * is read, a step at a time, so that a file that still holds them gives back `same` itself, and a changed
 * one tells how many bytes it shares with them at its start (the splice of an edit starts there:
 * splice.ts). The new content goes into the kept spare (two buffers per file in all, whatever the number
 * of reloads: at 100,000 real servers a 6 MB buffer made per reload made V8 run a full collection every
 * few reloads, and under TCG the first touch of its fresh pages cost ~50 ms); the first change of a file
 * makes that spare. A file written to while it is read (its size, mtime or ctime moved) is read again.
 *
 * The reads are synchronous, READ_STEP bytes each, with a turn of the event loop between two once the
 * turn's time budget is spent: a regular file's bytes come from the page cache, and each asynchronous
 * call is a round trip through libuv's thread pool (under TCG 5-30 ms each, and five of them per file:
 * open, fstat, read, fstat, close); natively a 6 MB file is read in ~1.5 ms without a turn.
 */
export async function reread(file: string, kept: KeptRead): Promise<Reread> {
  const budget = new TurnBudget();
  for (let tries = 1; ; tries++) {
    let fd: number;
    try {
      fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw unreadable(file, e);
    }
    try {
      const info = fstatSync(fd, { bigint: true });
      if (!info.isFile()) throw notRegular(file);
      const got = await compareAndRead(fd, Number(info.size), kept, budget);
      if (got !== undefined && !movedSince(fd, info)) return got;
      if (tries >= REREAD_TRIES) {
        // written to all along: read as it is now, whole
        const bytes = readFileSync(fd);
        return { bytes, prefix: commonPrefix(bytes, kept.same) };
      }
    } catch (e) {
      throw e instanceof LvsdError ? e : unreadable(file, e);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The file (`size` bytes by fstat) read and compared with `kept.same`; undefined when it held more than
 * `size` bytes (it grew meanwhile: read it again).
 */
async function compareAndRead(fd: number, size: number, kept: KeptRead, budget: TurnBudget): Promise<Reread | undefined> {
  const { same, scratch } = kept;
  // the new content goes into the spare when there is one; while there is none, the steps are read into
  // the scratch and compared there, and a spare is made at the first byte that differs
  let buf = kept.spare(size + 1, false);
  /** The bytes shared with `same` at the start; -1: every byte read so far is `same`'s. */
  let prefix = -1;
  let at = 0;
  for (;;) {
    const into = buf ?? scratch;
    const offset = buf !== undefined ? at : 0;
    const want = Math.min(buf !== undefined ? READ_STEP : scratch.length, size + 1 - at);
    const n = readSync(fd, into, offset, want, at);
    if (prefix < 0) {
      const k = commonPrefix(into.subarray(offset, offset + n), same.subarray(at, at + n));
      if (k < n) {
        prefix = at + k;
        if (buf === undefined) {
          buf = kept.spare(size + 1, true)!;
          // the shared start is the kept bytes': copied, not read again
          same.copy(buf, 0, 0, at);
          into.copy(buf, at, 0, n);
        }
      }
    }
    at += n;
    if (at > size) return undefined;
    if (n < want || n === 0) break;
    await budget.check();
  }
  if (prefix < 0) {
    if (at === same.length) return { bytes: same, prefix: at };
    // the kept bytes' start, shorter
    prefix = at;
    if (buf === undefined) {
      buf = kept.spare(size + 1, true)!;
      same.copy(buf, 0, 0, at);
    }
  }
  return { bytes: buf!.subarray(0, at), prefix };
}

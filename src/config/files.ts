/**
 * Which files a config path names, and reading one of them as a regular file. A leaf: the CLI's control
 * commands use it (control-socket.ts) without loading the validator.
 */
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync, readdirSync, statSync, type BigIntStats } from 'node:fs';
import { closeFd, fstatBig, open, readAt, readRest } from '../fs-async.js';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import { commonPrefix, commonSuffix, roomyBuffer, type Edited } from './byte-compare.js';
import { TurnBudget } from '../turn-budget.js';
import { sameStatus, type ReadRecord } from './read-stamp.js';

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

/**
 * The files a path names: itself, or a directory's *.json files sorted by name (code-point order). The
 * look-ups are synchronous (a local file system answers in microseconds; each asynchronous call is a round
 * trip through libuv's thread pool, 5-30 ms under TCG, and a reload makes this one every time).
 * `record`: a directory's status is noted there (its list of files is unchanged while it is unchanged).
 */
export async function configFiles(path: string, record?: ReadRecord): Promise<string[]> {
  let info;
  try {
    info = statSync(path, { bigint: true });
  } catch (e) {
    throw unreadable(path, e);
  }
  if (!info.isDirectory()) return [path];
  record?.saw(path, info);
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (e) {
    throw unreadable(path, e);
  }
  const files = names.filter((n) => n.endsWith('.json') && !n.startsWith('.')).sort().map((n) => join(path, n));
  if (files.length === 0) {
    throw new LvsdError('LVSD_CONFIG_UNREADABLE', `${path}: the config directory has no *.json files`, { details: { file: path } });
  }
  return files;
}

/** How much of a file is read and compared at a time when it is read again (`reread`). */
export const COMPARE_CHUNK = 1024 * 1024;

/** Opens `file` without blocking (a FIFO would otherwise hang the load) and checks it is a regular file on the open descriptor. */
async function openRegular(file: string): Promise<{ fd: number; info: BigIntStats }> {
  let fd;
  try {
    fd = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
  try {
    const info = await fstatBig(fd);
    if (!info.isFile()) throw notRegular(file);
    return { fd, info };
  } catch (e) {
    await closeFd(fd).catch(() => undefined);
    throw e instanceof LvsdError ? e : unreadable(file, e);
  }
}

/**
 * The bytes of one config file. Opened without blocking and checked to be a regular file on the open
 * descriptor, so a file swapped between a check and the read is caught too. `record`: the file's status
 * before the read is noted there (read-stamp.ts).
 */
export async function readRegular(file: string, roomy = false, record?: ReadRecord): Promise<Buffer> {
  const { fd, info } = await openRegular(file);
  try {
    const bytes = await readWhole(fd, Number(info.size), roomy);
    record?.saw(file, info);
    return bytes;
  } catch (e) {
    throw e instanceof LvsdError ? e : unreadable(file, e);
  } finally {
    await closeFd(fd).catch(() => undefined);
  }
}

/**
 * One read of the size fstat gave, and one byte more: a short read is the end of the file (each call is a
 * round trip through libuv's thread pool). `roomy`: into a buffer of its own with room to grow (roomyBuffer).
 */
async function readWhole(fd: number, size: number, roomy = false): Promise<Buffer> {
  const buf = roomy ? roomyBuffer(size + 1) : Buffer.allocUnsafe(size + 1);
  const bytesRead = await readAt(fd, buf, 0, size + 1, 0);
  if (bytesRead <= size) return buf.subarray(0, bytesRead);
  // it grew meanwhile: read it as it is now (positional reads left the descriptor's offset at 0)
  const now = await readRest(fd);
  if (!roomy) return now;
  const copy = roomyBuffer(now.length);
  now.copy(copy);
  return copy.subarray(0, now.length);
}

/** A descriptor to read `file` from (non-blocking: a FIFO does not hang the open); unreadable() when it cannot be opened. */
function openToRead(file: string): number {
  try {
    return openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw unreadable(file, e);
  }
}

/**
 * readRegular, synchronous: for a process with nothing else to do meanwhile (the CLI's look for
 * control.socket: each asynchronous call is a round trip through libuv's thread pool, 5-30 ms under TCG).
 */
export function readRegularSync(file: string): Buffer {
  const fd = openToRead(file);
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) throw notRegular(file);
    // one byte more than fstat says: a short read is the end; a file that grew meanwhile is read as it is now
    const buf = Buffer.allocUnsafe(info.size + 1);
    let got = 0;
    for (let n; got < buf.length && (n = readSync(fd, buf, got, buf.length - got, got)) > 0;) got += n;
    return got <= info.size ? buf.subarray(0, got) : readFileSync(fd);
  } catch (e) {
    throw e instanceof LvsdError ? e : unreadable(file, e);
  } finally {
    closeSync(fd);
  }
}

/** Reads made of a file that is written to meanwhile before one is taken whole (then it is read as it is). */
const REREAD_TRIES = 3;

/** Whether the file open as `fd` was written to (or truncated) since `before`: another size, modification or change time. */
function movedSince(fd: number, before: BigIntStats): boolean {
  return !sameStatus(fstatSync(fd, { bigint: true }), before); // (the same descriptor: its device and inode cannot move)
}

/** A file read again: the kept bytes themselves (it still holds them), how it differs from them, or (written to all along) its bytes. */
export type Reread = { same: true } | { edited: Edited } | { bytes: Buffer };

/**
 * A file read again by a process that kept its last bytes (`same`), compared with them as it is read and
 * never copied whole: its start is read through `scratch` and compared up to the first byte that differs,
 * then its end, backwards, up to the last one, and only what lies between is kept (`middle`). A one-weight
 * edit of a 6 MB file is then two compared passes over a 256 KiB buffer and a few hundred bytes kept: no
 * buffer of the file's size per reload (one made per reload, 6 MB outside V8's heap, made V8 run a full
 * collection every few reloads, and under TCG the first touch of its fresh pages alone cost ~50 ms). A
 * file written to while it is read (its size, mtime or ctime moved) is read again.
 *
 * The reads are synchronous, a scratch at a time, with a turn of the event loop between two once the
 * turn's time budget is spent: a regular file's bytes come from the page cache, and each asynchronous call
 * is a round trip through libuv's thread pool (under TCG 5-30 ms each, five per file: open, fstat, read,
 * fstat, close); natively a 6 MB file is compared in ~1.5 ms without a turn. `afterStep`: called after
 * each read (tests write to the file there). `record`: the file's status before the read it took is noted
 * there (read-stamp.ts).
 */
export async function reread(file: string, same: Buffer, scratch: Buffer, afterStep?: () => void, record?: ReadRecord): Promise<Reread> {
  const budget = new TurnBudget();
  for (let tries = 1; ; tries++) {
    const fd = openToRead(file);
    try {
      const info = fstatSync(fd, { bigint: true });
      if (!info.isFile()) throw notRegular(file);
      const got = await compareWith(fd, Number(info.size), same, scratch, budget, afterStep);
      if (got !== undefined && !movedSince(fd, info)) {
        record?.saw(file, info);
        return got;
      }
      // written to all along: as it is now, whole (its status before the read is what it was read as)
      if (tries >= REREAD_TRIES) {
        const now = fstatSync(fd, { bigint: true });
        const bytes = readFileSync(fd);
        record?.saw(file, now);
        return { bytes };
      }
    } catch (e) {
      throw e instanceof LvsdError ? e : unreadable(file, e);
    } finally {
      closeSync(fd);
    }
  }
}

/** Reads exactly `length` bytes at `at` into `into` at `offset`; false when the file ended first. */
function readExactly(fd: number, into: Buffer, offset: number, length: number, at: number): boolean {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, into, offset + done, length - done, at + done);
    if (n === 0) return false;
    done += n;
  }
  return true;
}

/** The file (`size` bytes by fstat) compared with `same`; undefined when it did not hold `size` bytes (written to meanwhile). */
async function compareWith(fd: number, size: number, same: Buffer, scratch: Buffer, budget: TurnBudget, afterStep?: () => void): Promise<Reread | undefined> {
  const both = Math.min(size, same.length);
  // the start they share
  let prefix = 0;
  while (prefix < both) {
    const want = Math.min(scratch.length, both - prefix);
    if (!readExactly(fd, scratch, 0, want, prefix)) return undefined;
    const k = commonPrefix(scratch.subarray(0, want), same.subarray(prefix, prefix + want));
    prefix += k;
    afterStep?.();
    if (k < want) break;
    await budget.check();
  }
  // one byte past the end: it must be the end
  if (readSync(fd, scratch, 0, 1, size) !== 0) return undefined;
  if (prefix === same.length && size === same.length) return { same: true };
  // the end they share, read backwards
  let suffix = 0;
  const most = both - prefix;
  while (suffix < most) {
    const want = Math.min(scratch.length, most - suffix);
    if (!readExactly(fd, scratch, 0, want, size - suffix - want)) return undefined;
    const k = commonSuffix(scratch.subarray(0, want), same.subarray(same.length - suffix - want, same.length - suffix), want);
    suffix += k;
    afterStep?.();
    if (k < want) break;
    await budget.check();
  }
  const middle = Buffer.allocUnsafe(size - suffix - prefix);
  if (!readExactly(fd, middle, 0, middle.length, prefix)) return undefined;
  return { edited: { prefix, suffix, middle, size } };
}

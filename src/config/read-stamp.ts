/**
 * What a load saw of its files as it read them, and whether they are still so. The daemon answers a reload
 * request that came while a reload ran with that reload's outcome when every file it read (and the config
 * directory's list of them) is unchanged since (src/daemon/reload-queue.ts): the outcome then says what the
 * files held when the request came.
 *
 * "Unchanged" is told from each file's status as the read saw it (the fstat of the descriptor read) against
 * its status now: the same device and inode (a file renamed over it, a symbolic link pointed elsewhere), the
 * same size, modification and change time. A change time moves on every write, but only as finely as the
 * file system's clock: a write in the same tick as the change the read saw would leave every field as it
 * was (git's "racily clean" index entries). So a file whose change time is not clearly older than the start
 * of the read never counts as unchanged (`RACY_MS`; `WHOLE_SECOND_RACY_MS` on a file system that keeps whole
 * seconds): its request gets a reload of its own, as before. Nothing here reads a file's bytes.
 */
import { statSync, type BigIntStats } from 'node:fs';

/** A file's (or the config directory's) status as a load saw it. */
export interface FileStamp {
  path: string;
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/**
 * How much older than the start of a read a change time must be for a later write to be sure to move it.
 * File systems with nanosecond times stamp them from the kernel's coarse clock (one tick: 1-10 ms); the
 * margin is ten times the longest tick.
 */
export const RACY_MS = 100;
/** The same for a file system that keeps whole seconds (a change time with no nanoseconds: ext4 with small inodes, FAT's two seconds). */
export const WHOLE_SECOND_RACY_MS = 3000;

const NS_PER_MS = 1_000_000n;
const NS_PER_S = 1_000_000_000n;

function stampOf(path: string, s: BigIntStats): FileStamp {
  return { path, dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

/** The files one load read, with their status as read, and when the read began (the wall clock, which file times are on). */
export class ReadRecord {
  readonly stamps: FileStamp[] = [];

  constructor(readonly startedNs: bigint = BigInt(Date.now()) * NS_PER_MS) {}

  /** `path` was read (or listed, for a directory) while its status was `info`. */
  saw(path: string, info: BigIntStats): void {
    this.stamps.push(stampOf(path, info));
  }
}

/** Whether two readings of a file's status show the same file with the same contents' times and size. */
export function sameStatus(a: Omit<FileStamp, 'path'>, b: Omit<FileStamp, 'path'>): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/** Whether `stamp` is too close to the read's start to tell a later write by its times (see the top). */
export function racy(stamp: FileStamp, startedNs: bigint): boolean {
  // the change time: the kernel sets it on every write from its own clock (a modification time can be set to anything)
  const margin = BigInt(stamp.ctimeNs % NS_PER_S === 0n ? WHOLE_SECOND_RACY_MS : RACY_MS) * NS_PER_MS;
  return stamp.ctimeNs + margin >= startedNs;
}

/**
 * Whether every file `read` saw is still as it saw it, and was then old enough that a write since would
 * show: true means the files hold what that load read. Any doubt (a file gone, unreadable, racy) is false.
 * `stat`: tests only.
 */
export function unchangedSince(read: ReadRecord, stat: (path: string) => BigIntStats | undefined = statNow): boolean {
  if (read.stamps.length === 0) return false;
  for (const s of read.stamps) {
    if (racy(s, read.startedNs)) return false;
    let now;
    try {
      now = stat(s.path);
    } catch {
      return false;
    }
    if (now === undefined) return false;
    if (!sameStatus(now, s)) return false;
  }
  return true;
}

function statNow(path: string): BigIntStats | undefined {
  return statSync(path, { bigint: true, throwIfNoEntry: false });
}

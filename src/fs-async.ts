/**
 * The few asynchronous file calls the CLI's config load, state file and atomic writes make, as promises over
 * node:fs's callback API. node:fs/promises loads ~20 internal modules of its own (its FileHandle brings
 * node's readline and streams): compiled at every start, that was ~0.1 s of a cold `lvsd apply` natively and
 * seconds in the test VM's emulation (docs/benchmarks.md). node:fs is loaded by node's own start.
 */
import {
  close, fstat, fsync, mkdir as fsMkdir, open as fsOpen, read as fsRead, readFile as fsReadFile, rename as fsRename,
  unlink as fsUnlink, write as fsWrite, type BigIntStats, type MakeDirectoryOptions, type Mode, type OpenMode, type PathLike,
} from 'node:fs';

/** A callback's outcome as a promise: `call(done)` starts the call, `done(err, value)` settles it. */
function settle<T>(call: (done: (err: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => call((err, value) => (err ? reject(err) : resolve(value))));
}

export function open(path: PathLike, flags: OpenMode, mode?: Mode): Promise<number> {
  return settle((done) => fsOpen(path, flags, mode, done));
}

export function fstatBig(fd: number): Promise<BigIntStats> {
  return settle((done) => fstat(fd, { bigint: true }, done));
}

/** Reads at `position` (the descriptor's offset does not move); resolves with the bytes read. */
export function readAt(fd: number, buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
  return settle((done) => fsRead(fd, buf, offset, length, position, done));
}

/** The rest of the file from the descriptor's offset. */
export function readRest(fd: number): Promise<Buffer> {
  return settle((done) => fsReadFile(fd, done));
}

export function readText(path: PathLike): Promise<string> {
  return settle((done) => fsReadFile(path, 'utf8', done));
}

export function closeFd(fd: number): Promise<void> {
  return settle((done) => close(fd, (err) => done(err ?? null, undefined)));
}

export function syncFd(fd: number): Promise<void> {
  return settle((done) => fsync(fd, (err) => done(err ?? null, undefined)));
}

/** Writes all of `data` at the descriptor's offset (a short write is continued). */
export async function writeAll(fd: number, data: string | Uint8Array): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let at = 0;
  while (at < bytes.length) {
    at += await settle<number>((done) => fsWrite(fd, bytes, at, bytes.length - at, null, done));
  }
}

export function mkdir(path: PathLike, options: MakeDirectoryOptions): Promise<void> {
  return settle((done) => fsMkdir(path, options, (err) => done(err ?? null, undefined)));
}

export function rename(from: PathLike, to: PathLike): Promise<void> {
  return settle((done) => fsRename(from, to, (err) => done(err ?? null, undefined)));
}

export function unlink(path: PathLike): Promise<void> {
  return settle((done) => fsUnlink(path, (err) => done(err ?? null, undefined)));
}

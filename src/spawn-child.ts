/**
 * Starting the programs lvsd runs (exec checks, track scripts, notify and quorum commands) without copying
 * the daemon. Node's spawn forks: the kernel copies the page tables of the whole process holding its address
 * space's lock, which costs in proportion to the daemon's memory and holds every other thread's page faults
 * meanwhile (the VRRP thread's adverts, docs/vrrp-runner.md). With the addon, the child is a clone that
 * shares the daemon's memory until its execve (native/src/spawn.c): the caller waits only for the execve.
 * Without the addon, node's spawn, raised to SCHED_RR 1 for the call (fork-priority.ts).
 *
 * What a caller gets behaves as node's ChildProcess with stdio ['ignore', 'pipe', 'pipe'] does for what lvsd
 * uses: `pid`, `stdout`, `stderr`, `kill()`, and the events 'error' (a start that failed, emitted
 * asynchronously with node's `code`, `errno`, `syscall` "spawn FILE", `path`, `spawnargs`), 'exit' (code,
 * signal name) and 'close' (once it exited and both pipes ended).
 */
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable } from 'node:stream';
import { spawnRaised } from './fork-priority.js';
import { loadNative, type NativeBinding } from './net/native.js';

export interface SpawnOptions {
  cwd?: string;
  /** The child's whole environment (PATH in it is where a bare program name is looked for). */
  env: Record<string, string>;
  /** A new session (and process group) of its own. */
  detached?: boolean;
  uid?: number;
  gid?: number;
}

export interface SpawnedChild extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdout: Readable;
  readonly stderr: Readable;
  kill(signal?: NodeJS.Signals | number): boolean;
  /** The child no longer keeps the event loop alive (it is still reaped while the loop runs). */
  unref(): void;
}

export type Spawn = (file: string, args: readonly string[], options: SpawnOptions) => SpawnedChild;

let loaded: Promise<Spawn> | undefined;

/**
 * The spawn to use, decided once. net (for the pipes) or child_process is imported here, when the first
 * command runs: the daemon's start and a director without commands need not compile them.
 */
export function loadSpawn(): Promise<Spawn> {
  return (loaded ??= choose());
}

/** Tests: which one `loadSpawn()` gives ('native' or 'node'), or decide again (undefined). */
export function setSpawnKind(kind: 'native' | 'node' | undefined): void {
  loaded = kind === undefined ? undefined : kind === 'native' ? nativeSpawn() : nodeSpawn();
}

async function choose(): Promise<Spawn> {
  let native: NativeBinding | undefined;
  try {
    native = loadNative();
  } catch {
    native = undefined;
  }
  return typeof native?.spawnChild === 'function' ? nativeSpawn() : nodeSpawn();
}

async function nodeSpawn(): Promise<Spawn> {
  const { spawn } = await import('node:child_process');
  return (file, args, o) => spawnRaised(() => spawn(file, [...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: o.env,
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    ...(o.detached ? { detached: true } : {}),
    ...(o.uid !== undefined ? { uid: o.uid } : {}),
    ...(o.gid !== undefined ? { gid: o.gid } : {}),
  }));
}

async function nativeSpawn(): Promise<Spawn> {
  const [{ Socket }, { Readable: Stream }] = await Promise.all([import('node:net'), import('node:stream')]);
  const empty = (): Readable => Stream.from([]);
  const native = loadNative();
  const pipe = (fd: number): Readable => new Socket({ fd, readable: true, writable: false });
  return (file, args, o) => {
    const child = new NativeChild();
    const path = resolveProgram(file, o.env.PATH);
    try {
      if (path === undefined) throw Object.assign(new Error('not found'), { errno: osConstants.errno.ENOENT });
      const started = native.spawnChild!(
        path, [file, ...args], Object.entries(o.env).map(([k, v]) => `${k}=${v}`), o.cwd ?? null, o.detached === true,
        o.uid ?? -1, o.gid ?? -1, (code, signal) => child.exited(code, signal),
      );
      child.started(started.pid, pipe(started.stdout), pipe(started.stderr), started.handle);
    } catch (e) {
      child.failed(spawnError(e as Error & { errno?: number }, file, args), empty);
    }
    return child;
  };
}

/** `file` itself when it names a path, else the first executable `file` in `pathList` (as execvp looks). */
export function resolveProgram(file: string, pathList = '/usr/bin:/bin'): string | undefined {
  if (file.includes('/')) return file;
  for (const dir of pathList.split(':')) {
    const candidate = `${dir === '' ? '.' : dir}/${file}`;
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      /* not here */
    }
  }
  return undefined;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));
const SIGNAL_NAMES = new Map(Object.entries(osConstants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A failed start as node's spawn reports it: "spawn FILE ENOENT", code, errno (negative), syscall, path, spawnargs. */
function spawnError(e: Error & { errno?: number }, file: string, args: readonly string[]): NodeJS.ErrnoException {
  const n = typeof e.errno === 'number' ? Math.abs(e.errno) : undefined;
  const code = n !== undefined ? ERRNO_NAMES.get(n) ?? `E${n}` : 'EINVAL';
  return Object.assign(new Error(`spawn ${file} ${code}`), {
    code, errno: -(n ?? osConstants.errno.EINVAL), syscall: `spawn ${file}`, path: file, spawnargs: [...args],
  });
}

/** Children started natively: the handle of each is kept here until its exit (its loss would leave it unreaped). */
const running = new Set<NativeChild>();

class NativeChild extends EventEmitter implements SpawnedChild {
  pid: number | undefined;
  stdout!: Readable;
  stderr!: Readable;
  private handle: object | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private open = 2;

  started(pid: number, stdout: Readable, stderr: Readable, handle: object): void {
    this.pid = pid;
    this.handle = handle;
    running.add(this);
    this.stdout = stdout;
    this.stderr = stderr;
    for (const s of [stdout, stderr]) {
      s.once('close', () => {
        this.open--;
        this.maybeClose();
      });
    }
  }

  failed(err: NodeJS.ErrnoException, empty: () => Readable): void {
    this.stdout = empty();
    this.stderr = empty();
    process.nextTick(() => {
      this.emit('error', err);
      this.emit('close', err.errno ?? null, null);
    });
  }

  exited(code: number | null, signal: number | null): void {
    running.delete(this);
    this.handle = undefined;
    this.exit = { code, signal: signal === null ? null : SIGNAL_NAMES.get(signal) ?? null };
    this.emit('exit', this.exit.code, this.exit.signal);
    this.maybeClose();
  }

  private maybeClose(): void {
    if (this.exit && this.open === 0) this.emit('close', this.exit.code, this.exit.signal);
  }

  unref(): void {
    if (this.handle !== undefined) loadNative().childRef?.(this.handle, false);
  }

  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    // a handle only from the start to the reap (exited() drops it): until then its pid cannot be another process's
    if (this.handle === undefined || this.pid === undefined) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}

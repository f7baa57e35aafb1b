/**
 * Starting the programs lvsd runs (exec checks, track scripts, notify and quorum commands) without copying
 * the daemon. Node's spawn forks: the kernel copies the page tables of the whole process holding its address
 * space's lock, which costs in proportion to the daemon's memory and holds every other thread's page faults
 * meanwhile (the VRRP thread's adverts, docs/vrrp-runner.md). With the addon, the child is a clone that
 * shares the daemon's memory until its execve (native/src/spawn.c): the caller waits only for the execve.
 * Without the addon, node's spawn, raised to SCHED_RR 1 for the call (fork-priority.ts).
 *
 * What a caller gets behaves as node's ChildProcess with stdio ['ignore', 'pipe', 'pipe'] (with `stdin:
 * 'pipe'`: ['pipe', 'pipe', 'pipe']) does for what lvsd uses: `pid`, `stdin`, `stdout`, `stderr`, `kill()`,
 * and the events 'error' (a start that failed, emitted asynchronously with node's `code`, `errno`,
 * `syscall` "spawn FILE", `path`, `spawnargs`), 'exit' (code, signal name) and 'close' (once it exited and
 * both output pipes ended). A write to stdin that the child no longer reads (it exited, or closed its
 * stdin) fails with EPIPE on the stream, never a SIGPIPE (node ignores it); the stream has an 'error'
 * listener of its own, so such an error never goes unhandled: the child's exit says how it went.
 */
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { spawnRaised } from './fork-priority.js';
import { loadNative, type NativeBinding } from './net/native.js';
import type { Logger } from './log.js';

export interface SpawnOptions {
  cwd?: string;
  /** The child's whole environment (PATH in it is where a bare program name is looked for). */
  env: Record<string, string>;
  /** A new session (and process group) of its own. */
  detached?: boolean;
  uid?: number;
  gid?: number;
  /** 'pipe': the child's stdin is `stdin`, which the caller writes and ends; default /dev/null. */
  stdin?: 'ignore' | 'pipe';
}

export interface SpawnedChild extends EventEmitter {
  readonly pid?: number | undefined;
  /** The child's stdin with `stdin: 'pipe'` (end it: the child reads to its end), else null. */
  readonly stdin: Writable | null;
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

/** Tests: the spawn `loadSpawn()` gives (one that wraps a real one sees every program lvsd starts). */
export function setSpawn(spawn: Spawn): void {
  loaded = Promise.resolve(spawn);
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
  return (file, args, o) => guardStdin(spawnRaised(() => spawn(file, [...args], {
    stdio: [o.stdin === 'pipe' ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: o.env,
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    ...(o.detached ? { detached: true } : {}),
    ...(o.uid !== undefined ? { uid: o.uid } : {}),
    ...(o.gid !== undefined ? { gid: o.gid } : {}),
  }) as unknown as SpawnedChild)); // stdout and stderr are pipes: not null
}

/** A child whose stdin fails (EPIPE: it stopped reading) must not take the daemon down: see the module comment. */
function guardStdin<T extends { stdin: Writable | null }>(child: T): T {
  child.stdin?.on('error', () => undefined);
  return child;
}

async function nativeSpawn(): Promise<Spawn> {
  const [{ Socket }, { Readable: Stream, Writable: Sink }] = await Promise.all([import('node:net'), import('node:stream')]);
  const empty = (): Readable => Stream.from([]);
  // a child that did not start reads nothing: what is written goes nowhere (node's stdin of a failed
  // spawn is a socket that is destroyed; here nothing fails, the 'error' event says the start failed)
  const nowhere = (): Writable => new Sink({ write: (_c, _e, done) => done() });
  const native = loadNative();
  const pipe = (fd: number): Readable => new Socket({ fd, readable: true, writable: false });
  const sink = (fd: number): Writable => new Socket({ fd, readable: false, writable: true });
  return (file, args, o) => {
    const child = new NativeChild();
    const path = resolveProgram(file, o.env.PATH);
    try {
      if (path === undefined) throw Object.assign(new Error('not found'), { errno: osConstants.errno.ENOENT });
      const started = native.spawnChild!(
        path, [file, ...args], Object.entries(o.env).map(([k, v]) => `${k}=${v}`), o.cwd ?? null, o.detached === true,
        o.uid ?? -1, o.gid ?? -1, (code, signal) => child.exited(code, signal), o.stdin === 'pipe',
      );
      const stdin = started.stdin !== undefined && started.stdin >= 0 ? guardStdin({ stdin: sink(started.stdin) }).stdin : null;
      child.started(started.pid, stdin, pipe(started.stdout), pipe(started.stderr), started.handle);
    } catch (e) {
      child.failed(spawnError(e as Error & { errno?: number }, file, args), empty, o.stdin === 'pipe' ? nowhere() : null);
    }
    return child;
  };
}

/**
 * How long a program run by runProgram has, once sent SIGTERM at its timeout, to end before SIGKILL: 2 s.
 * Long enough for a program that handles SIGTERM to finish what it is doing (nft ends a netlink transaction,
 * a script removes its temporary files) even on a loaded director; short enough that one that ignores or
 * traps SIGTERM (a `trap '' TERM` script, one stuck in a loop) holds its slot, its pipes and whatever waits
 * on it at most 2 s past its timeout instead of for ever.
 */
export const KILL_GRACE_MS = 2000;

/** How a program run by runProgram ended. */
export interface ProgramResult {
  /** Exit code; null when a signal ended it or it did not start. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Its output, each cut at `outputLimit` bytes. */
  stdout: string;
  stderr: string;
  /** It did not start (node's spawn error: code 'ENOENT', ...). */
  error?: NodeJS.ErrnoException;
  /** It ran past `timeoutMs` and was sent SIGTERM. */
  timedOut: boolean;
  /** It was still there `KILL_GRACE_MS` after the SIGTERM and was sent SIGKILL (its process group's). */
  killed: boolean;
}

export interface ProgramOptions extends Omit<SpawnOptions, 'stdin' | 'detached'> {
  /** Written to the program's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  timeoutMs: number;
  outputLimit?: number;
  /** Where the timeout's SIGTERM and the SIGKILL after the grace are logged (`program.timeout`, `program.killed`). */
  log?: Logger;
  /** Tests: the grace between SIGTERM and SIGKILL (default KILL_GRACE_MS). */
  graceMs?: number;
}

/**
 * Runs a program to its end, as execFile does but started by loadSpawn() (the clone that copies nothing,
 * when the addon is there): `input`, if given, is written to its stdin, which is then closed; a program
 * that exits without reading it is no fault of the caller's (the EPIPE is dropped, its exit says how it
 * went). It runs in a process group (and session) of its own, so what it starts is signalled with it.
 * Past `timeoutMs` the group is sent SIGTERM (`program.timeout`); still there `KILL_GRACE_MS` later, SIGKILL
 * (`program.killed`): a program that traps or ignores SIGTERM does not outlive its timeout by more than the
 * grace. Never rejects.
 */
export async function runProgram(file: string, args: readonly string[], o: ProgramOptions): Promise<ProgramResult> {
  const spawn = await loadSpawn();
  const limit = o.outputLimit ?? 65_536;
  const { input, timeoutMs, outputLimit: _limit, log, graceMs = KILL_GRACE_MS, ...options } = o;
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...options, detached: true, stdin: input !== undefined ? 'pipe' : 'ignore' });
    const out: Record<'stdout' | 'stderr', Buffer[]> = { stdout: [], stderr: [] };
    const size = { stdout: 0, stderr: 0 };
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].on('data', (b: Buffer) => {
        if (size[name] >= limit) return;
        out[name].push(b.subarray(0, limit - size[name]));
        size[name] += b.length;
      });
    }
    let error: NodeJS.ErrnoException | undefined;
    let timedOut = false;
    let killed = false;
    let exited = false;
    let grace: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      log?.warn({ event: 'program.timeout', program: file, pid: child.pid, timeoutMs, graceMs },
        `${file} (pid ${child.pid}) ran past ${timeoutMs} ms: sent SIGTERM, SIGKILL in ${graceMs} ms if it is still there`);
      signalGroup(child, 'SIGTERM');
      grace = setTimeout(() => {
        // its pipes still open: the program, or something it started that holds them, is still there
        killed = true;
        log?.warn({ event: 'program.killed', program: file, pid: child.pid, graceMs, exited },
          `${file} (pid ${child.pid}) ${exited ? 'left processes holding its output' : 'did not end on SIGTERM'} ${graceMs} ms after it: sent SIGKILL to its process group`);
        signalGroup(child, 'SIGKILL');
      }, graceMs);
    }, timeoutMs);
    child.on('error', (e: NodeJS.ErrnoException) => (error = e));
    child.on('exit', () => (exited = true));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      clearTimeout(grace);
      resolve({
        code: error ? null : code, signal, stdout: Buffer.concat(out.stdout).toString(), stderr: Buffer.concat(out.stderr).toString(),
        timedOut, killed, ...(error ? { error } : {}),
      });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/**
 * `signal` to the child's process group (it leads one: runProgram and spawnHook start it detached); the child alone when
 * the group cannot be signalled. The pid cannot be another process's until the child is reaped, and the
 * group's id is its pid for as long as any member of the group lives.
 */
export function signalGroup(child: SpawnedChild, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
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
  stdin: Writable | null = null;
  stdout!: Readable;
  stderr!: Readable;
  private handle: object | undefined;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private open = 2;

  started(pid: number, stdin: Writable | null, stdout: Readable, stderr: Readable, handle: object): void {
    this.pid = pid;
    this.stdin = stdin;
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

  failed(err: NodeJS.ErrnoException, empty: () => Readable, stdin: Writable | null): void {
    this.stdin = stdin;
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

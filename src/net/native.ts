/**
 * The lvsd_native addon (native/): its binding's shape and its loading. vrrp-socket.ts (VRRP sockets and the
 * advert clock), announce.ts (gratuitous ARP, unsolicited NA), tcp-probe.ts, icmp-probe.ts, netlink.ts and
 * src/spawn-child.ts call it.
 *
 * The addon is loaded lazily from <package root>/native/build/Release/lvsd_native.node; when it is not
 * built every entry point throws LvsdError LVSD_NATIVE_UNAVAILABLE. Opening a socket on a missing
 * interface, or without CAP_NET_RAW, throws the same code with the reason and errno in the message.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { LvsdError } from '../errors.js';
import { packageRoot } from '../package-root.js';
import type { NativeErrno } from './native-errors.js';

export interface NativeBinding {
  vrrpOpen(
    family: 4 | 6,
    ifname: string,
    multicast: boolean,
    callback: (err: NativeErrno | null, payload?: Buffer, src?: Buffer, dst?: Buffer, ttl?: number, ifindex?: number, received?: number) => void,
    fd?: number,
  ): object;
  /** A VRRP socket configured as vrrpOpen's, not polled: its descriptor, for vrrpOpen to adopt later. */
  vrrpListen(family: 4 | 6, ifname: string, multicast: boolean): number;
  /** Delivers every queued datagram to the callback now; the kernel's drop count since the socket opened, -1 unknown. */
  vrrpDrain(handle: object): number;
  /** SCHED_RR at `priority` with reset-on-fork for the calling thread; its kernel thread id. Throws the errno. */
  vrrpRealtime(priority: number): number;
  /** The calling thread to SCHED_RR 1 (reset on fork) or back to SCHED_OTHER; false when it cannot be set. */
  threadForkPriority?(raise: boolean): boolean;
  vrrpSend(handle: object, payload: Buffer, destination: Buffer, source: Buffer | null): number;
  /**
   * The advert clock (native/src/vrrp_clock.c): starts the process's clock thread once, SCHED_RR `priority`
   * (0: ordinary); [its tid, 0 real-time | -1 not asked | the errno that refused it, bytes it locked in memory
   * (`lock`, default true: its stack's top, the addon, libc's code), the first errno of that locking (0: none)].
   * Throws when no thread starts. An addon before the locking returns the first two only.
   */
  vrrpAdvertClock?(priority: number, lock?: boolean): [tid: number, sched: number, lockedBytes?: number, lockErrno?: number];
  /** payloads[i] to destinations[i] every intervalMs from dueMs (CLOCK_MONOTONIC; NaN: keep the phase) until stopped. */
  vrrpAdvertSchedule?(
    handle: object, payloads: Buffer[], destinations: Buffer[], source: Buffer | null, intervalMs: number, dueMs: number, lateMs: number,
    callback: (kind: number, errno: number, lateMs: number, waitMs: number, cpuMs: number, windowMs: number, count: number, faults?: number) => void,
  ): void;
  /** Removes the socket's entry: [sent, errors, last errno, ...lateness ms] since the last read, null without one. */
  vrrpAdvertStop?(handle: object): Float64Array | null;
  /** holdMs: tests only, time spent making the value (as a V8 collection there would) */
  vrrpAdvertRead?(handle: object, holdMs?: number): Float64Array | null;
  vrrpClose(handle: object): void;
  /**
   * `signum` heard on the calling thread's own event loop (native/src/signal_watch.c: libuv hands a signal to
   * every loop watching it, so a worker thread hears it without the main thread); the handle does not keep
   * the loop alive. Older addons lack it.
   */
  signalWatch?(signum: number, callback: (signum: number) => void): object;
  signalWatchClose?(handle: object): void;
  vrrpRef(handle: object, ref: boolean): void;
  ifIndex(ifname: string): number;
  sendFrame(ifname: string, frame: Buffer): void;
  sendIcmp6(ifname: string, message: Buffer, destination: Buffer, source: Buffer | null, hopLimit: number): void;
  /**
   * TCP connect probes (native/src/tcp_probe.c): outcomes arrive as [id, errno, latency us, watch, run] records.
   * engine: 0 its own thread (default), 1 the Node loop, 2 as if no thread could be created (tests: the fallback).
   */
  tcpProberOpen(callback: (outcomes: Float64Array) => void, engine?: 0 | 1 | 2): object;
  tcpWatch(
    handle: object, id: number, address: Buffer, port: number, intervalMs: number, timeoutMs: number, firstInMs: number,
    rise: number, fall: number, reset: boolean, runOk: number, run: number,
  ): void;
  tcpUnwatch(handle: object, id: number): void;
  tcpWatchNext(handle: object, id: number, inMs: number): void;
  /** per watch id: [lastOk (-1 none), errno, run, latency us, ms since] */
  tcpWatchState(handle: object): Float64Array;
  /** [id, connected, failed] per watch with outcomes since the last call, then the histogram: per bound, beyond, sum us, count */
  tcpWatchCounts(handle: object): Float64Array;
  tcpProberConfigure(handle: object, localErrnos: number[], boundsUs: number[]): void;
  tcpProberLimit(handle: object, max: number): void;
  tcpProberCloseAfter(handle: object, ms: number): void;
  tcpProberReuse(handle: object, on: boolean): void;
  tcpProberNice(handle: object, nice: number): number;
  tcpProberStats(handle: object): [watches: number, watchedUnderWay: number, oneOffUnderWay: number, skipped: number, socketsReused: number, threaded: number];
  tcpProbe(handle: object, address: Buffer, port: number, timeoutMs: number, reset?: boolean): number;
  tcpProbeCancel(handle: object, id: number): void;
  tcpProberClose(handle: object): void;
  tcpProberRef(handle: object, ref: boolean): void;
  /**
   * Starts `path` (no PATH search) in a clone that shares the daemon's memory until its execve (nothing is
   * copied: native/src/spawn.c); stdin /dev/null (with stdinPipe: a pipe whose write end is `stdin`, else
   * -1), stdout and stderr the returned pipes' read ends. uid/gid -1: the daemon's. Throws the errno of a
   * failed start. `handle` is kept until onExit, or the child is never reaped.
   */
  spawnChild?(
    path: string, argv: string[], envp: string[], cwd: string | null, newSession: boolean, uid: number, gid: number,
    onExit: (code: number | null, signal: number | null) => void, stdinPipe?: boolean,
  ): { pid: number; stdout: number; stderr: number; stdin?: number; handle: object };
  /** Whether a started child (its handle) keeps the event loop alive until it exits. */
  childRef?(handle: object, ref: boolean): void;
  /** glibc's malloc_trim(0): free pages inside the heap back to the kernel; the microseconds it took. */
  mallocTrim(): number;
  /**
   * madvise(advice) over the process's read-only file mappings, on libuv's thread pool (native/src/page_out.c);
   * done([bytes advised, mappings advised, mappings refused, first errno, us, mappings kept for their private
   * pages (MADV_DONTNEED)]). simulateErrno (tests): every madvise fails with it.
   */
  pageOut?(advice: number, done: (r: [number, number, number, number, number, number, number]) => void, simulateErrno?: number, budgetUs?: number, resumeFrom?: number): void;
}

const ADDON_RELATIVE = join('native', 'build', 'Release', 'lvsd_native.node');

let binding: NativeBinding | undefined;

/** Load the addon (once). Throws LVSD_NATIVE_UNAVAILABLE when it is not built or cannot be loaded. */
export function loadNative(): NativeBinding {
  if (binding) return binding;
  const path = join(packageRoot(), ADDON_RELATIVE);
  if (!existsSync(path)) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', 'native addon not built: run npm ci (needs python3, make, g++)', {
      details: { path },
    });
  }
  try {
    binding = createRequire(import.meta.url)(path) as NativeBinding;
  } catch (e) {
    throw new LvsdError('LVSD_NATIVE_UNAVAILABLE', `native addon ${path} cannot be loaded: ${(e as Error).message}`, {
      details: { path },
      cause: e,
    });
  }
  return binding;
}

/** Whether the addon is built and loads (for tests and `lvsd check`). */
export function nativeAvailable(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

/**
 * A spawn on the main thread, run at SCHED_RR 1 (only for the spawn call itself). Node's spawn forks the
 * daemon: the kernel copies its page tables holding the address space's lock, and every other thread of
 * the daemon that takes a page fault meanwhile waits. An ordinary main thread preempted in the middle (a
 * loaded host) held the SCHED_RR VRRP thread for as long as it waited for a CPU: adverts 20-47 ms late,
 * the thread 'blocked' (test/netns/vrrp-spawn-timing). At SCHED_RR 1 the copy is not preempted by
 * ordinary tasks, and the VRRP thread (SCHED_RR 10) still preempts it. The child runs ordinary scheduling
 * (reset-on-fork). Off the main thread, without the addon or without CAP_SYS_NICE: the spawn as it is.
 */
import { isMainThread } from 'node:worker_threads';
import { loadNative } from './net/native.js';

let raise: ((on: boolean) => boolean) | null | undefined;

function raiser(): ((on: boolean) => boolean) | null {
  if (raise !== undefined) return raise;
  try {
    const native = loadNative();
    raise = typeof native.threadForkPriority === 'function' ? (on) => native.threadForkPriority!(on) : null;
  } catch {
    raise = null;
  }
  return raise;
}

/** `spawn()` (synchronous: node's spawn returns once the child exec'd) with the main thread raised meanwhile. */
export function spawnRaised<T>(spawn: () => T): T {
  const r = isMainThread ? raiser() : null;
  if (!r || !r(true)) return spawn();
  try {
    return spawn();
  } finally {
    r(false);
  }
}

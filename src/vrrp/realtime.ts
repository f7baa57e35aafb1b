/**
 * Real-time scheduling for the VRRP worker thread. A thread's timers on a loaded host fire late by tens of
 * milliseconds (measured: p99 60-300 ms on a 2-core host at load 9, with or without a busy main thread),
 * which a 100 ms advert interval cannot absorb: backups would declare a live master dead. SCHED_RR for
 * this thread alone (measured p99 < 1 ms on the same host) keeps adverts on time; the main thread, health
 * checks and the notify commands this thread spawns (reset-on-fork) stay ordinary.
 *
 * Linux applies scheduling policy per thread: the addon's `vrrpRealtime` sets it for the calling thread with
 * one sched_setscheduler call. (It was util-linux chrt on the thread id: a process started from this thread,
 * a fork of the whole daemon that blocked the thread until the child exec'd, 5-46 ms natively under load,
 * and held the other threads' page faults while the page tables were copied.) Without CAP_SYS_NICE the
 * thread keeps the ordinary policy and the reason is returned.
 */
import { setThreadRealtime } from '../net/index.js';

export type RealtimeResult = { ok: true; tid: number; priority: number } | { ok: false; reason: string };

/** Puts the calling thread in SCHED_RR at `priority` (1..99) with SCHED_RESET_ON_FORK. Never throws. */
export function makeThreadRealtime(priority: number): RealtimeResult {
  if (process.platform !== 'linux') return { ok: false, reason: 'real-time scheduling is set on Linux only' };
  try {
    return { ok: true, tid: setThreadRealtime(priority), priority };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * Whether the advert clock thread locks in memory what it runs on (its stack's top, the addon, libc's code:
 * native/src/mem_lock.c), so it never waits for a page fault behind a thread holding the address space's
 * lock: LVSD_VRRP_CLOCK_LOCK=0 (or off, false, no) leaves it unlocked (a diagnostic), anything else locks.
 */
export function clockLockFromEnv(env: NodeJS.ProcessEnv = process.env): boolean {
  return !['0', 'off', 'false', 'no'].includes((env.LVSD_VRRP_CLOCK_LOCK ?? '').trim().toLowerCase());
}

/** The priority to use: LVSD_VRRP_RT_PRIORITY (0 = leave the thread alone), default 10. */
export function realtimePriorityFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.LVSD_VRRP_RT_PRIORITY;
  if (text === undefined || text === '') return 10;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 99 ? n : 10;
}

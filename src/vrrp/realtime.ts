/**
 * Real-time scheduling for the VRRP worker thread. A thread's timers on a loaded host fire late by tens of
 * milliseconds (measured: p99 60-300 ms on a 2-core host at load 9, with or without a busy main thread),
 * which a 100 ms advert interval cannot absorb: backups would declare a live master dead. SCHED_RR for
 * this thread alone (measured p99 < 1 ms on the same host) keeps adverts on time; the main thread, health
 * checks and the notify commands this thread spawns (reset-on-fork) stay ordinary.
 *
 * Linux applies scheduling policy per thread; the thread's id comes from /proc/thread-self and util-linux's
 * chrt sets it. Without CAP_SYS_NICE or chrt the thread keeps the ordinary policy and the reason is returned.
 */
import { readlinkSync } from 'node:fs';

export type RealtimeResult = { ok: true; tid: number; priority: number } | { ok: false; reason: string };

/** The kernel thread id of the calling thread (Linux). */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts the calling thread in SCHED_RR at `priority` (1..99) with SCHED_RESET_ON_FORK. Does not block the
 * thread while chrt runs (a process start costs ~0.25 s of CPU under the test VM's emulation): the VRRP
 * worker opens its sockets and starts its timers meanwhile, as backups that only listen. Never rejects.
 */
export async function makeThreadRealtime(priority: number): Promise<RealtimeResult> {
  if (process.platform !== 'linux') return { ok: false, reason: 'real-time scheduling is set on Linux only' };
  const tid = currentThreadId();
  if (tid === undefined) return { ok: false, reason: '/proc/thread-self is unreadable' };
  const { execFile } = await import('node:child_process'); // on first use: not among the thread's start-up modules
  return new Promise((resolve) => {
    execFile('chrt', ['--reset-on-fork', '--rr', '--pid', String(priority), String(tid)], { encoding: 'utf8', timeout: 5000 }, (error, _stdout, stderr) => {
      if (!error) resolve({ ok: true, tid, priority });
      else if (typeof error.code === 'number') resolve({ ok: false, reason: `chrt exited ${error.code}: ${stderr.trim()}` });
      else resolve({ ok: false, reason: `chrt: ${error.message}` });
    });
  });
}

/** The priority to use: LVSD_VRRP_RT_PRIORITY (0 = leave the thread alone), default 10. */
export function realtimePriorityFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.LVSD_VRRP_RT_PRIORITY;
  if (text === undefined || text === '') return 10;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && n <= 99 ? n : 10;
}

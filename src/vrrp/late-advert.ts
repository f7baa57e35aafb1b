/**
 * Where the time of a late advert went. A master's advert timer that fires late was either runnable and
 * not running (another task of equal or higher real-time priority had the CPU: the thread runs SCHED_RR,
 * so ordinary load cannot delay it), running (this thread's own JavaScript or garbage collection), or
 * neither (blocked in the kernel). The thread's schedstat (/proc/thread-self/schedstat: time on the CPU,
 * time runnable on a run queue) tells the first two apart; measured on a 2-core host, late adverts of
 * 25-90 ms under SCHED_RR 20 processes were all run-queue wait, and those of a master running a track
 * script every 200 ms under ordinary load were 31-89 ms blocked (docs/vrrp-runner.md, "Threads and timing").
 *
 * Reading the file costs a few microseconds: the baseline is read at most once a second (at an advert
 * timer), and again only when an advert is late. A line per instance at most every 10 s, counting the
 * late adverts since the last one.
 *
 * A master's steady adverts are sent by the advert clock thread (native/src/vrrp_clock.c) where it runs: it
 * applies the same threshold (lateThresholdMs), reads its own schedstat and page faults and reports what it
 * measured here (clockLate), logged the same way with `sender: "advert_clock"`. It runs on locked memory, so
 * its `blocked` adverts (faults 0) were woken late: in the TCG test VM on a loaded host all 565 of a start
 * were, the thread asleep in its timed wait until a late timer interrupt, 555 of them while a twin process's
 * timer was late too (docs/benchmarks.md, 2026-12-06 09:30).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';

export interface SchedTimes {
  /** ns on the CPU */
  cpu: number;
  /** ns runnable, waiting on a run queue */
  wait: number;
}

/** /proc/.../schedstat: "cpu_ns wait_ns timeslices"; undefined for anything else. */
export function parseSchedstat(text: string): SchedTimes | undefined {
  const [cpu, wait] = text.trim().split(/\s+/).map(Number);
  return Number.isFinite(cpu) && Number.isFinite(wait) ? { cpu: cpu!, wait: wait! } : undefined;
}

/** The calling thread's times (Linux); undefined where there is no such file. */
export function threadSchedTimes(): SchedTimes | undefined {
  try {
    return parseSchedstat(readFileSync('/proc/thread-self/schedstat', 'utf8'));
  } catch {
    return undefined;
  }
}

export type LateCause = 'cpu_contention' | 'own_work' | 'blocked' | 'unknown';

/** Which part explains at least half the lateness (pure). */
export function lateCause(lateMs: number, waitMs: number | undefined, cpuMs: number | undefined): LateCause {
  if (waitMs === undefined || cpuMs === undefined) return 'unknown';
  if (waitMs >= lateMs / 2) return 'cpu_contention';
  if (cpuMs >= lateMs / 2) return 'own_work';
  return 'blocked';
}

const BASELINE_MS = 1000;
const LOG_EVERY_MS = 10_000;

/** How late (ms) an advert of `intervalMs` may go out before it is logged: a quarter interval, at least 20 ms. */
export function lateThresholdMs(intervalMs: number): number {
  return Math.max(20, intervalMs / 4);
}

/** A late advert as the advert clock thread (native/src/vrrp_clock.c) measured it: its own schedstat deltas. */
export interface ClockLate {
  lateMs: number;
  waitMs?: number;
  cpuMs?: number;
  windowMs?: number;
  /** the clock thread's page faults (minor and major) in the window */
  faults?: number;
  /** late adverts the clock counted since its last report (it reports at most one a second) */
  lateBefore: number;
}

const THREAD_TEXT = {
  vrrp: {
    cpu_contention: 'the VRRP thread was runnable but another task of equal or higher priority had the CPU',
    own_work: 'the VRRP thread was busy',
    blocked: 'the VRRP thread was blocked, e.g. starting a track script or notify command until it exec\'d',
  },
  clock: {
    cpu_contention: 'the advert clock thread was runnable but another task of equal or higher priority had the CPU',
    own_work: 'the advert clock thread was busy',
    blocked: 'the advert clock thread was neither running nor runnable: its timer woke it late (in a VM, the host not running the VM\'s CPU), or it waited for its lock',
  },
} as const;

/** One per thread: the baseline is the thread's. */
export class LateAdverts {
  private base: { at: number; t: SchedTimes } | undefined;
  private readonly lastLine = new Map<string, { at: number; since: number }>();

  constructor(private readonly now: () => number, private readonly read: () => SchedTimes | undefined = threadSchedTimes) {}

  /** An advert timer fired `lateMs` after it was due; logs when that is late for `intervalMs`. */
  fired(instance: string, lateMs: number, intervalMs: number, log: Logger): void {
    const now = this.now();
    if (!(lateMs > lateThresholdMs(intervalMs))) {
      if (!this.base || now - this.base.at >= BASELINE_MS) this.rebase(now);
      return;
    }
    const t = this.read();
    const base = this.base;
    this.base = t ? { at: now, t } : undefined;
    this.line(instance, intervalMs, log, 'vrrp', 0, {
      lateMs,
      ...(t && base ? { waitMs: (t.wait - base.t.wait) / 1e6, cpuMs: (t.cpu - base.t.cpu) / 1e6, windowMs: now - base.at } : {}),
    });
  }

  /** The advert clock sent an advert of `instance` late (it only reports those over lateThresholdMs). */
  clockLate(instance: string, r: ClockLate, intervalMs: number, log: Logger): void {
    this.line(instance, intervalMs, log, 'clock', r.lateBefore, r);
  }

  /** A line per instance at most every LOG_EVERY_MS; the late adverts in between are counted into the next. */
  private line(instance: string, intervalMs: number, log: Logger, thread: 'vrrp' | 'clock', counted: number,
    r: { lateMs: number; waitMs?: number; cpuMs?: number; windowMs?: number; faults?: number }): void {
    const now = this.now();
    const seen = this.lastLine.get(instance);
    if (seen && now - seen.at < LOG_EVERY_MS) {
      seen.since += 1 + counted;
      return;
    }
    this.lastLine.set(instance, { at: now, since: 0 });
    const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 10) / 10);
    const cause = lateCause(r.lateMs, r.waitMs, r.cpuMs);
    log.warn({
      event: 'vrrp.advert_late', instance, lateMs: round(r.lateMs), intervalMs, cause, waitMs: round(r.waitMs), cpuMs: round(r.cpuMs),
      windowMs: round(r.windowMs), ...(r.faults !== undefined ? { faults: r.faults } : {}), lateBefore: (seen?.since ?? 0) + counted,
      ...(thread === 'clock' ? { sender: 'advert_clock' } : {}),
    }, `${instance}: an advert went out ${Math.round(r.lateMs)} ms late (${cause === 'unknown' ? 'cause unknown' : THREAD_TEXT[thread][cause]})`);
  }

  private rebase(now: number): void {
    const t = this.read();
    this.base = t ? { at: now, t } : undefined;
  }
}

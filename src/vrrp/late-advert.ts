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

/** One per thread: the baseline is the thread's. */
export class LateAdverts {
  private base: { at: number; t: SchedTimes } | undefined;
  private readonly lastLine = new Map<string, { at: number; since: number }>();

  constructor(private readonly now: () => number, private readonly read: () => SchedTimes | undefined = threadSchedTimes) {}

  /** An advert timer fired `lateMs` after it was due; logs when that is late for `intervalMs`. */
  fired(instance: string, lateMs: number, intervalMs: number, log: Logger): void {
    const now = this.now();
    const late = lateMs > Math.max(20, intervalMs / 4);
    if (!late) {
      if (!this.base || now - this.base.at >= BASELINE_MS) this.rebase(now);
      return;
    }
    const t = this.read();
    const base = this.base;
    this.base = t ? { at: now, t } : undefined;
    const seen = this.lastLine.get(instance);
    if (seen && now - seen.at < LOG_EVERY_MS) {
      seen.since++;
      return;
    }
    this.lastLine.set(instance, { at: now, since: 0 });
    const waitMs = t && base ? (t.wait - base.t.wait) / 1e6 : undefined;
    const cpuMs = t && base ? (t.cpu - base.t.cpu) / 1e6 : undefined;
    const round = (x: number | undefined) => (x === undefined ? null : Math.round(x * 10) / 10);
    const cause = lateCause(lateMs, waitMs, cpuMs);
    log.warn({
      event: 'vrrp.advert_late', instance, lateMs: round(lateMs), intervalMs, cause, waitMs: round(waitMs), cpuMs: round(cpuMs),
      windowMs: base ? round(now - base.at) : null, lateBefore: seen?.since ?? 0,
    }, `${instance}: an advert went out ${Math.round(lateMs)} ms late (${cause === 'cpu_contention' ? 'the VRRP thread was runnable but another task of equal or higher priority had the CPU' : cause === 'own_work' ? 'the VRRP thread was busy' : cause === 'blocked' ? 'the VRRP thread was blocked, e.g. starting a track script or notify command until it exec\'d' : 'cause unknown'})`);
  }

  private rebase(now: number): void {
    const t = this.read();
    this.base = t ? { at: now, t } : undefined;
  }
}

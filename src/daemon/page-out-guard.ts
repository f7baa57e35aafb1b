/**
 * When the page-out of node's mapped files (./page-out.ts) may run, and when it must stop for good. Pure:
 * the caller hands it readings (its clock, the daemon's last activity, the host's memory, this process's
 * major faults) and what a page-out did; it answers. Every guard here keeps the page-out from hurting probes:
 *
 *  - busy: not while the daemon is starting, taking over, reloading or its real servers are changing state.
 *    The page-out waits until the daemon has been quiet (no health change, no VRRP transition, no reload)
 *    for QUIET_MS: what a start or a takeover runs is still coming back by faults, and its probes are the
 *    ones that must not wait.
 *  - memory: not while the host's MemAvailable is low (under LOW_MEMORY_KB or LOW_MEMORY_SHARE of MemTotal):
 *    the unmapped pages are page cache no process maps, the first the kernel drops when memory is short,
 *    and each one lvsd needs again is then read from the disk. It waits, and runs once memory is back.
 *  - major faults: after a page-out, if this process takes more than MAJOR_FAULTS major faults in the GUARD_MS
 *    that follow, what it unmapped is being read back from the disk: the page-out stops for good. (A steady
 *    lvsd takes none; a takeover after `drop_caches` took 4-7 natively. No baseline from before the page-out:
 *    the start's own hundreds would hide the first one's.)
 *  - slow: a page-out runs at most BUDGET_MS at a time (the addon stops its steps there and says where); the
 *    rest goes on at the next reading, while the daemon is still quiet (no minimum gap). One that needs more
 *    than MAX_PARTS such parts says the host is too busy for it: the page-out stops for good.
 * Each stop and each first wait for a reason is logged once by the caller.
 */

/** quiet this long (no health change, VRRP transition or reload) before a page-out */
export const QUIET_MS = 30_000;
/** at least this long between two page-outs */
export const MIN_GAP_MS = 60_000;
/** MemAvailable under this (KiB) or under LOW_MEMORY_SHARE of MemTotal: wait */
export const LOW_MEMORY_KB = 256 * 1024;
export const LOW_MEMORY_SHARE = 0.1;
/** major faults after a page-out over those before it, within GUARD_MS: stop */
export const MAJOR_FAULTS = 32;
export const GUARD_MS = 120_000;
/** a page-out's time budget at a time (the addon stops advising past it; the rest is the next part's) */
export const BUDGET_MS = 1_000;
/** parts of one page-out past which it stops for good */
export const MAX_PARTS = 30;

export interface Readings {
  /** monotonic ms */
  nowMs: number;
  /** when the daemon was last busy (started, a health change, a VRRP transition, a reload), same clock */
  busyAtMs: number;
  memAvailableKb?: number | undefined;
  memTotalKb?: number | undefined;
  /** this process's major faults so far (/proc/self/stat) */
  majorFaults?: number | undefined;
}

export type WaitReason = 'busy' | 'memory';
export type StopReason = 'major-faults' | 'slow';
export type Verdict = { run: true } | { run: false; wait: WaitReason } | { run: false; stopped: StopReason };

export interface GuardLimits {
  quietMs: number;
  minGapMs: number;
  lowMemoryKb: number;
  lowMemoryShare: number;
  majorFaults: number;
  guardMs: number;
  maxParts: number;
}

const DEFAULTS: GuardLimits = {
  quietMs: QUIET_MS, minGapMs: MIN_GAP_MS, lowMemoryKb: LOW_MEMORY_KB, lowMemoryShare: LOW_MEMORY_SHARE, majorFaults: MAJOR_FAULTS, guardMs: GUARD_MS, maxParts: MAX_PARTS,
};

/** Whether MemAvailable is low (unknown: not low). Pure. */
export function memoryLow(r: Pick<Readings, 'memAvailableKb' | 'memTotalKb'>, limits: Pick<GuardLimits, 'lowMemoryKb' | 'lowMemoryShare'> = DEFAULTS): boolean {
  if (r.memAvailableKb === undefined) return false;
  if (r.memAvailableKb < limits.lowMemoryKb) return true;
  return r.memTotalKb !== undefined && r.memAvailableKb < r.memTotalKb * limits.lowMemoryShare;
}

export class PageOutGuard {
  private readonly limits: GuardLimits;
  private stoppedFor: StopReason | undefined;
  /** the last page-out's end: when, and this process's major faults then */
  private last: { endMs: number; faults: number | undefined } | undefined;
  /** parts of the page-out under way (cut at its budget so far) */
  private parts = 0;

  constructor(limits: Partial<GuardLimits> = {}) {
    this.limits = { ...DEFAULTS, ...limits };
  }

  get stopped(): StopReason | undefined {
    return this.stoppedFor;
  }

  /**
   * One reading (every few seconds): within GUARD_MS after a page-out, watches this process's major faults.
   * Returns the reason the page-out stopped, if it stopped at this reading.
   */
  observe(r: Readings): StopReason | undefined {
    const l = this.last;
    if (this.stoppedFor || !l || l.faults === undefined || r.majorFaults === undefined) return undefined;
    if (r.nowMs - l.endMs > this.limits.guardMs) return undefined;
    if (r.majorFaults - l.faults <= this.limits.majorFaults) return undefined;
    this.stoppedFor = 'major-faults';
    return this.stoppedFor;
  }

  /**
   * Whether a page-out due now may run (the caller knows it is due: its schedule or the regrowth), or the
   * next part of one cut at its budget (`goingOn`: no minimum gap).
   */
  check(r: Readings, goingOn = false): Verdict {
    if (this.stoppedFor) return { run: false, stopped: this.stoppedFor };
    if (r.nowMs - r.busyAtMs < this.limits.quietMs) return { run: false, wait: 'busy' };
    if (!goingOn && this.last && r.nowMs - this.last.endMs < this.limits.minGapMs) return { run: false, wait: 'busy' };
    if (memoryLow(r, this.limits)) return { run: false, wait: 'memory' };
    return { run: true };
  }

  /**
   * A page-out (or a part of one) ended, with the readings at its end; cut: its budget ran out, the rest is
   * the next part's. Returns the reason it stopped, if now.
   */
  ran(r: Readings, cut: boolean): StopReason | undefined {
    if (this.stoppedFor) return undefined;
    this.last = { endMs: r.nowMs, faults: r.majorFaults };
    this.parts = cut ? this.parts + 1 : 0;
    if (this.parts < this.limits.maxParts) return undefined;
    this.stoppedFor = 'slow';
    return this.stoppedFor;
  }
}

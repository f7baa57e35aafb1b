/**
 * Gives back the pages of node's binary (and the libraries') that only the start touched: madvise over the
 * process's read-only file mappings, through the addon (native/src/page_out.c), on libuv's thread pool.
 *
 * Of lvsd's RSS at 10,000 TCP checks (~80 MiB natively), ~45 MiB were mapped file pages: node's text
 * (V8's builtins are in it), its read-only data (ICU's tables, the start-up snapshot), libraries. A start
 * touches most of them once; the steady state runs ~10-20 MiB of them. The kernel drops the others only
 * when memory is short, so they stay in the RSS.
 *
 * How: MADV_DONTNEED. The pages leave lvsd's page tables and stay in the page cache. One touched later is
 * mapped again by a minor fault (no read; the fault maps the cached neighbours within fault_around_bytes,
 * 64 KiB, with it, which is why RssFile settles at ~18-22 MiB rather than the ~10 the steady state touches),
 * and the kernel reclaims the pages as it always would, but as pages no process maps: a `drop_caches` or a
 * real memory shortage takes them first, and a takeover after one reads what it needs back from the disk
 * (4-7 major faults). It acts on pages other processes map too (another node on the host). On a private
 * mapping it would also drop the process's own copy-on-write pages (RELRO, a debugger's breakpoint), so the
 * addon checks each mapping's pages in /proc/self/pagemap right before the call and leaves one holding such
 * a page alone ("kept"). It replaced MADV_PAGEOUT, which also dropped the pages lvsd alone maps from the
 * page cache, hot ones too, so they were read back from the disk after each page-out and at takeovers, for
 * no more RSS given back (docs/benchmarks.md, 2026-12-06 03:05).
 *
 * On by default (LVSD_PAGEOUT=0 turns it off): natively it takes 22-26 MiB off the RSS at 10,000 checks
 * (~80 -> 53-58 MiB) at the same CPU per probe, with no major fault at a takeover while the page cache holds
 * node. It was opt-in while one TCG VM start with it, at host load 14-21, flapped 2,671 real servers; with
 * the guards below, two alternated pairs of VM starts at 10,000 checks showed no major fault, refault or
 * reclaim after a page-out, and 0 and 33 downs with it against 0 and 1,001 without: the host's load
 * (docs/benchmarks.md 2026-12-06 06:16).
 *
 * When: not before START_PAGE_OUTS_MS after the start (20 s, and 120 s: what the start ran after the first
 * comes back), then whenever the mapped file pages have grown by REGROW_KB over what the last page-out left
 * once its hot pages came back (read every CHECK_EVERY_MS): a reload that ran code the steady state does not,
 * say. A steady daemon pages out twice. Each one due waits for the guards (./page-out-guard.ts): the daemon
 * quiet for 30 s (no start still weighting its real servers, no takeover, no reload, no real server changing
 * state), 60 s since the last, the host's MemAvailable not low; and the page-out stops for good (one
 * `daemon.page_out_stopped` warning) when lvsd takes major faults after one, or when one cut at its 1 s budget
 * (the addon stops advising there and says where) needs more than 30 parts, each resumed while the daemon is
 * quiet. The addon's own file (the probe thread's and the advert clock's code) is never unmapped, and it
 * advises 512 KiB at a time, so a fault waits for the address space's lock little.
 *
 * A kernel that refuses the advice (a seccomp filter's EPERM) for every mapping (or /proc/self/maps or /proc/self/pagemap unreadable): one warning
 * (daemon.page_out_failed), and no page-out again; the daemon is otherwise unchanged.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { loadNative } from '../net/index.js';
import { errnoText } from '../net/native-errors.js';
import { BUDGET_MS, PageOutGuard, type Readings, type StopReason, type WaitReason } from './page-out-guard.js';

export const START_PAGE_OUTS_MS: readonly number[] = [20_000, 120_000];
export const CHECK_EVERY_MS = 60_000;
/** mapped file pages grown by this much (KiB) over the floor: page out again */
export const REGROW_KB = 4096;
/** MADV_DONTNEED, MADV_PAGEOUT (linux/mman.h; the addon takes either, lvsd uses the first) */
export const MADV_DONTNEED = 4;
export const MADV_PAGEOUT = 21;

/**
 * What a page-out did: [bytes advised, mappings advised, mappings refused, first errno, microseconds,
 * mappings kept for their private pages (MADV_DONTNEED only), the address to resume from when its time
 * budget cut it (0: done)].
 */
export type PageOutResult = [bytes: number, advised: number, refused: number, errno: number, us: number, kept?: number, resumeAt?: number];

/** Whether the mapped pages are given back (unmapped, kept in the page cache) or not. */
export type PageOutMode = 'dontneed' | 'off';
/** One page-out (or, from `resumeFrom`, the rest of one its budget cut). */
export type PageOut = (done: (r: PageOutResult) => void, resumeFrom?: number) => void;

/**
 * Whether to page out again, from the mapped file pages (KiB) read every CHECK_EVERY_MS. Pure.
 * The first reading after a page-out is the floor (the hot pages have come back by then); a later reading
 * REGROW_KB over it pages out again, and the next reading is the new floor.
 */
export class PageOutPolicy {
  private floor: number | undefined;

  constructor(private readonly regrowKb = REGROW_KB) {}

  /** One reading; true when a page-out should run now. */
  sample(fileKb: number): boolean {
    if (this.floor === undefined) {
      this.floor = fileKb;
      return false;
    }
    // pages given back by the kernel since lower the floor
    if (fileKb < this.floor) this.floor = fileKb;
    if (fileKb - this.floor < this.regrowKb) return false;
    this.floor = undefined;
    return true;
  }
}

/** RssFile of /proc/self/status, KiB (undefined when it cannot be read). */
export function rssFileKb(): number | undefined {
  try {
    const m = /^RssFile:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The addon's page-out, or undefined without the addon (or an addon built before it). */
export function nativePageOut(simulateErrno?: number, budgetMs = BUDGET_MS): PageOut | undefined {
  try {
    const native = loadNative();
    const f = native.pageOut?.bind(native);
    return f ? (done, resumeFrom) => f(MADV_DONTNEED, done, simulateErrno, Math.round(budgetMs * 1000), resumeFrom) : undefined;
  } catch {
    return undefined;
  }
}

/** On (MADV_DONTNEED) unless LVSD_PAGEOUT is 0, off, false or no; unset (or anything else) unmaps. */
export function pageOutMode(env: NodeJS.ProcessEnv = process.env): PageOutMode {
  const v = env.LVSD_PAGEOUT?.trim().toLowerCase();
  return v === '0' || v === 'off' || v === 'false' || v === 'no' ? 'off' : 'dontneed';
}

export interface PageOutOptions {
  /** after the start (default START_PAGE_OUTS_MS), in order; the checks for regrowth begin after the last */
  atMs?: readonly number[];
  everyMs?: number;
  /** how often the guard's readings are taken (default TICK_MS) */
  tickMs?: number;
  /** tests: the page-out itself (default: the addon's) and the mapped file pages' reading */
  pageOut?: PageOut | undefined;
  fileKb?: () => number | undefined;
  policy?: PageOutPolicy;
  env?: NodeJS.ProcessEnv;
  /** when the daemon was last busy (a health change, a VRRP transition, a reload), on `now`'s clock */
  busyAtMs?: () => number;
  /** tests: the guard, the clock (monotonic ms) and the readings it takes */
  guard?: PageOutGuard;
  now?: () => number;
  memory?: () => { availableKb: number; totalKb: number } | undefined;
  majorFaults?: () => number | undefined;
}

/** the guard's readings: every 5 s */
export const TICK_MS = 5_000;

const MiB = (kb: number | undefined) => (kb === undefined ? undefined : Math.round(kb / 102.4) / 10);

/** MemAvailable and MemTotal of /proc/meminfo, KiB (undefined when it cannot be read). */
export function hostMemory(): { availableKb: number; totalKb: number } | undefined {
  try {
    const m = readFileSync('/proc/meminfo', 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(m)?.[1]);
    const r = { availableKb: kb('MemAvailable'), totalKb: kb('MemTotal') };
    return Number.isFinite(r.availableKb) && Number.isFinite(r.totalKb) ? r : undefined;
  } catch {
    return undefined;
  }
}

/** This process's major faults so far (/proc/self/stat, majflt), or undefined. */
export function ownMajorFaults(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const n = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[9]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

const WAITS: Record<WaitReason, string> = {
  busy: 'the daemon is busy (starting, a takeover, a reload, real servers changing state)',
  memory: 'the host\'s available memory is low (what it unmapped would be dropped and read back from the disk)',
};
const STOPS: Record<StopReason, string> = {
  'major-faults': 'what it unmapped is being read back from the disk (major faults after it)',
  slow: 'it ran past its time budget (the host is too busy for it)',
};

/** Starts the page-outs; the returned function stops them. */
export function startPageOut(log: Logger, opts: PageOutOptions = {}): () => void {
  if (pageOutMode(opts.env) === 'off') {
    log.info({ event: 'daemon.page_out_off' }, 'mapped files left resident (LVSD_PAGEOUT=0)');
    return () => undefined;
  }
  const pageOut = 'pageOut' in opts ? opts.pageOut : nativePageOut();
  if (!pageOut) return () => undefined;
  const fileKb = opts.fileKb ?? rssFileKb;
  const policy = opts.policy ?? new PageOutPolicy();
  const guard = opts.guard ?? new PageOutGuard();
  const now = opts.now ?? (() => performance.now());
  const memory = opts.memory ?? hostMemory;
  const majorFaults = opts.majorFaults ?? ownMajorFaults;
  const t0 = now();
  const busyAt = opts.busyAtMs ?? (() => t0);
  const at = opts.atMs ?? START_PAGE_OUTS_MS;
  const everyMs = opts.everyMs ?? CHECK_EVERY_MS;
  let stopped = false, running = false;
  /** the next scheduled page-out (index into at), the page-out waiting for the guard, when regrowth was last read */
  let next = 0, pending: 'start' | 'regrown' | undefined, lastCheck = t0;
  const waitedFor = new Set<WaitReason>();
  const readings = (): Readings => {
    const m = memory();
    return { nowMs: now(), busyAtMs: Math.max(t0, busyAt()), memAvailableKb: m?.availableKb, memTotalKb: m?.totalKb, majorFaults: majorFaults() };
  };
  const stopFor = (reason: StopReason, r: Readings): void => {
    stop();
    log.warn({ event: 'daemon.page_out_stopped', reason, majorFaults: r.majorFaults, memAvailableMiB: MiB(r.memAvailableKb) },
      `page-out of mapped files stopped for good: ${STOPS[reason]}`);
  };
  /** the page-out under way, cut at its budget: where it goes on, its part, the mapped pages before it */
  let goingOn: { why: 'start' | 'regrown'; from: number; part: number; beforeKb: number | undefined } | undefined;
  const run = (why: 'start' | 'regrown'): void => {
    running = true;
    const before = goingOn?.beforeKb ?? fileKb();
    const part = (goingOn?.part ?? 0) + 1;
    pageOut(([bytes, advised, refused, errno, us, kept = 0, resumeAt = 0]) => {
      running = false;
      if (stopped) return;
      const cut = resumeAt !== 0;
      goingOn = cut ? { why, from: resumeAt, part, beforeKb: before } : undefined;
      if (advised === 0 && !cut && (refused > 0 || errno !== 0)) {
        // the kernel does not take the advice: say so once and never ask again
        stop();
        log.warn({ event: 'daemon.page_out_failed', errno, code: errnoText(errno), mappings: refused },
          `page-out of mapped files refused (madvise MADV_DONTNEED: ${errnoText(errno)}); mapped files stay resident`);
        return;
      }
      const after = fileKb();
      const r = readings();
      lastCheck = r.nowMs;
      log.info({ event: 'daemon.paged_out', why, part, cut, fileMiB: MiB(before), afterMiB: MiB(after), advisedMiB: Math.round(bytes / (1 << 20)), refused, kept, ms: Math.round(us / 1000), majorFaults: r.majorFaults, memAvailableMiB: MiB(r.memAvailableKb) },
        `mapped files unmapped (${why}${part > 1 ? `, part ${part}` : ''}): ${MiB(before)} -> ${MiB(after)} MiB resident${cut ? ' (its time budget ran out: the rest at the next reading)' : ''}`);
      const s = guard.ran(r, cut);
      if (s) stopFor(s, r);
    }, goingOn?.from);
  };
  const tick = (): void => {
    if (stopped) return;
    const r = readings();
    const s = guard.observe(r);
    if (s) return stopFor(s, r);
    if (running) return;
    if (goingOn) {
      // the rest of a page-out its budget cut: while the daemon is quiet, no gap
      const v = guard.check(r, true);
      if ('stopped' in v) return stopFor(v.stopped, r);
      if (v.run) run(goingOn.why);
      return;
    }
    if (!pending && next < at.length && r.nowMs - t0 >= at[next]!) pending = 'start';
    if (!pending && next >= at.length && r.nowMs - lastCheck >= everyMs) {
      lastCheck = r.nowMs;
      const kb = fileKb();
      if (kb !== undefined && policy.sample(kb)) pending = 'regrown';
    }
    if (!pending) return;
    const v = guard.check(r);
    if ('stopped' in v) return stopFor(v.stopped, r);
    if ('wait' in v) {
      if (!waitedFor.has(v.wait)) {
        waitedFor.add(v.wait);
        log.info({ event: 'daemon.page_out_waiting', reason: v.wait, memAvailableMiB: MiB(r.memAvailableKb) }, `page-out of mapped files waits: ${WAITS[v.wait]}`);
      }
      return;
    }
    const why = pending;
    pending = undefined;
    if (why === 'start') next++;
    run(why);
  };
  const every = setInterval(tick, opts.tickMs ?? TICK_MS).unref();
  function stop(): void {
    stopped = true;
    clearInterval(every);
  }
  return stop;
}

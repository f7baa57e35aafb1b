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
 * Off unless LVSD_PAGEOUT=1: natively it takes 22-26 MiB off the RSS at 10,000 checks (~80 -> 53-58 MiB)
 * at the same CPU per probe, with no major fault at a takeover while the page cache holds node. But in the
 * TCG VM a start at 10,000 checks with it saw real servers time out and go down (2,671 downs from 6 minutes
 * after the start on), where the start without it at the same load saw none, as three starts with
 * MADV_PAGEOUT did before (108-271): not shown harmless on a loaded director (docs/operations.md, "Node's
 * mapped pages").
 *
 * When: at START_PAGE_OUTS_MS after the start (20 s, with the first malloc trim; and 120 s: a start at
 * 10,000 checks is still weighting its real servers at 20 s, and what it ran after the first page-out came
 * back), and then again whenever the mapped file pages have grown by REGROW_KB over what the last
 * page-out left once its hot pages came back (the reading CHECK_EVERY_MS after it): a reload that ran code
 * the steady state does not, say. A steady daemon pages out twice.
 *
 * A kernel that refuses the advice (a seccomp filter's EPERM) for every mapping (or /proc/self/maps or /proc/self/pagemap unreadable): one warning
 * (daemon.page_out_failed), and no page-out again; the daemon is otherwise unchanged.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { loadNative } from '../net/index.js';
import { errnoText } from '../net/native-errors.js';

export const START_PAGE_OUTS_MS: readonly number[] = [20_000, 120_000];
export const CHECK_EVERY_MS = 60_000;
/** mapped file pages grown by this much (KiB) over the floor: page out again */
export const REGROW_KB = 4096;
/** MADV_DONTNEED, MADV_PAGEOUT (linux/mman.h; the addon takes either, lvsd uses the first) */
export const MADV_DONTNEED = 4;
export const MADV_PAGEOUT = 21;

/**
 * What a page-out did: [bytes advised, mappings advised, mappings refused, first errno, microseconds,
 * mappings kept for their private pages (MADV_DONTNEED only)].
 */
export type PageOutResult = [bytes: number, advised: number, refused: number, errno: number, us: number, kept?: number];

/** Whether the mapped pages are given back (unmapped, kept in the page cache) or not. */
export type PageOutMode = 'dontneed' | 'off';
export type PageOut = (done: (r: PageOutResult) => void) => void;

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
export function nativePageOut(simulateErrno?: number): PageOut | undefined {
  try {
    const native = loadNative();
    const f = native.pageOut?.bind(native);
    return f ? (done) => f(MADV_DONTNEED, done, simulateErrno) : undefined;
  } catch {
    return undefined;
  }
}

/** LVSD_PAGEOUT=1 (or on, true, yes, dontneed) unmaps (MADV_DONTNEED); anything else (or nothing) leaves it off. */
export function pageOutMode(env: NodeJS.ProcessEnv = process.env): PageOutMode {
  const v = env.LVSD_PAGEOUT?.trim().toLowerCase();
  return v === '1' || v === 'on' || v === 'true' || v === 'yes' || v === 'dontneed' ? 'dontneed' : 'off';
}

export interface PageOutOptions {
  /** after the start (default START_PAGE_OUTS_MS), in order; the checks for regrowth begin after the last */
  atMs?: readonly number[];
  everyMs?: number;
  /** tests: the page-out itself (default: the addon's) and the mapped file pages' reading */
  pageOut?: PageOut | undefined;
  fileKb?: () => number | undefined;
  policy?: PageOutPolicy;
  env?: NodeJS.ProcessEnv;
}

const MiB = (kb: number | undefined) => (kb === undefined ? undefined : Math.round(kb / 102.4) / 10);

/** Starts the page-outs; the returned function stops them. */
export function startPageOut(log: Logger, opts: PageOutOptions = {}): () => void {
  if (pageOutMode(opts.env) === 'off') {
    log.debug({ event: 'daemon.page_out_off' }, 'mapped files left resident (LVSD_PAGEOUT=1 unmaps what only the start touched)');
    return () => undefined;
  }
  const pageOut = 'pageOut' in opts ? opts.pageOut : nativePageOut();
  if (!pageOut) return () => undefined;
  const fileKb = opts.fileKb ?? rssFileKb;
  const policy = opts.policy ?? new PageOutPolicy();
  let stopped = false, running = false;
  let every: NodeJS.Timeout | undefined;
  const timers: NodeJS.Timeout[] = [];
  const run = (why: 'start' | 'regrown'): void => {
    if (running || stopped) return;
    running = true;
    const before = fileKb();
    pageOut(([bytes, advised, refused, errno, us, kept = 0]) => {
      running = false;
      if (advised === 0 && (refused > 0 || errno !== 0)) {
        // the kernel does not take the advice: say so once and never ask again
        stop();
        log.warn({ event: 'daemon.page_out_failed', errno, code: errnoText(errno), mappings: refused },
          `page-out of mapped files refused (madvise MADV_DONTNEED: ${errnoText(errno)}); mapped files stay resident`);
        return;
      }
      const after = fileKb();
      log.info({ event: 'daemon.paged_out', why, fileMiB: MiB(before), afterMiB: MiB(after), advisedMiB: Math.round(bytes / (1 << 20)), refused, kept, ms: Math.round(us / 1000) },
        `mapped files unmapped (${why}): ${MiB(before)} -> ${MiB(after)} MiB resident`);
    });
  };
  const at = opts.atMs ?? START_PAGE_OUTS_MS;
  at.forEach((ms, i) => timers.push(setTimeout(() => {
    run('start');
    if (i < at.length - 1) return;
    every = setInterval(() => {
      const kb = fileKb();
      if (kb !== undefined && policy.sample(kb)) run('regrown');
    }, opts.everyMs ?? CHECK_EVERY_MS).unref();
  }, ms).unref()));
  function stop(): void {
    stopped = true;
    for (const t of timers) clearTimeout(t);
    clearInterval(every);
  }
  return stop;
}

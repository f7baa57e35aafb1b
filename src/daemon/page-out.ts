/**
 * Gives back the pages of node's binary (and the libraries') that only the start touched: MADV_PAGEOUT over
 * the process's read-only file mappings, through the addon (native/src/page_out.c), on libuv's thread pool.
 *
 * Of lvsd's RSS at 10,000 TCP checks (~77 MiB natively), ~45 MiB were mapped file pages: node's text
 * (V8's builtins are in it), its read-only data (ICU's tables, the start-up snapshot), libraries. A start
 * touches most of them once; the steady state runs ~10 MiB of them. The kernel drops the others only when
 * memory is short, so they stay in the RSS. Paged out, they are gone from it, and one touched later is read
 * back from the file (a major fault; clean pages: nothing is written). The kernel itself skips a page
 * another process maps (a second node), so what is shared is left where it is.
 *
 * When: at START_PAGE_OUTS_MS after the start (20 s, with the first malloc trim; and 120 s: a start at
 * 10,000 checks is still weighting its real servers at 20 s, and what it ran after the first page-out came
 * back), and then again whenever the mapped file pages have grown by REGROW_KB over what the last
 * page-out left once its hot pages came back (the reading CHECK_EVERY_MS after it): a reload that ran code
 * the steady state does not, say. A steady daemon pages out twice.
 *
 * Off unless LVSD_PAGEOUT=1: natively it takes 25-28 MiB off the RSS at 10,000 checks at the same CPU per
 * probe, but MADV_PAGEOUT drops every page lvsd alone maps, hot ones too, out of the page cache: the hot set is
 * read back from the disk after each page-out, and a takeover reads 2-4 MiB of node from it every time (7-11
 * major faults against none; under a 2 GiB writer and drop_caches the takeover times of the two overlapped),
 * and in the TCG VM (node read over 9p) each of three starts at 10,000 checks with it flapped 108-271 real
 * servers on the way where none without it did.
 * A director's failover path should not wait on its disk for clean pages the kernel drops by itself when
 * memory is short: it is for hosts where resident memory is what is short (docs/operations.md, "Node's
 * mapped pages"; docs/benchmarks.md, 2026-12-06).
 *
 * A kernel that refuses the advice (EINVAL before Linux 5.4, or a seccomp filter's EPERM) for every
 * mapping (or /proc/self/maps unreadable): one warning (daemon.page_out_failed), and no page-out again; the
 * daemon is otherwise unchanged.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from '../log.js';
import { loadNative } from '../net/index.js';
import { errnoText } from '../net/native-errors.js';

export const START_PAGE_OUTS_MS: readonly number[] = [20_000, 120_000];
export const CHECK_EVERY_MS = 60_000;
/** mapped file pages grown by this much (KiB) over the floor: page out again */
export const REGROW_KB = 4096;
/** MADV_PAGEOUT (linux/mman.h) */
export const MADV_PAGEOUT = 21;

/** What a page-out did: [bytes advised, mappings advised, mappings refused, first errno, microseconds]. */
export type PageOutResult = [bytes: number, advised: number, refused: number, errno: number, us: number];
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
    return f ? (done) => f(MADV_PAGEOUT, done, simulateErrno) : undefined;
  } catch {
    return undefined;
  }
}

/** LVSD_PAGEOUT=1 (or on, true, yes) turns the page-out on; anything else (or nothing) leaves it off. */
export function pageOutEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.LVSD_PAGEOUT?.trim().toLowerCase();
  return v === '1' || v === 'on' || v === 'true' || v === 'yes';
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
  if (!pageOutEnabled(opts.env)) {
    log.debug({ event: 'daemon.page_out_off' }, 'page-out of mapped files off (LVSD_PAGEOUT=1 turns it on)');
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
    pageOut(([bytes, advised, refused, errno, us]) => {
      running = false;
      if (advised === 0 && (refused > 0 || errno !== 0)) {
        // the kernel does not take the advice: say so once and never ask again
        stop();
        log.warn({ event: 'daemon.page_out_failed', errno, code: errnoText(errno), mappings: refused },
          `page-out of mapped files refused by the kernel (madvise MADV_PAGEOUT: ${errnoText(errno)}); mapped files stay resident`);
        return;
      }
      const after = fileKb();
      log.info({ event: 'daemon.paged_out', why, fileMiB: MiB(before), afterMiB: MiB(after), advisedMiB: Math.round(bytes / (1 << 20)), refused, ms: Math.round(us / 1000) },
        `mapped files paged out (${why}): ${MiB(before)} -> ${MiB(after)} MiB resident`);
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

/**
 * Gives memory the daemon no longer uses back to the kernel, in two heaps:
 *
 * - the C heap (glibc's malloc_trim, through the addon) a little after the start and then once a minute.
 *   glibc's free() gives back only the top of the heap; a start, a reload or a status build leave free
 *   chunks between live ones, and those pages stayed in the RSS: 3.7 MiB of 10 at 10,000 TCP checks
 *   (docs/benchmarks.md, "RSS at 10,000 checks"). A trim of that heap takes well under a millisecond; the
 *   VRRP thread's allocations wait for it (one arena, MALLOC_ARENA_MAX=1).
 * - V8's heap (HeapSettle below): a full collection once the heap holds much more than after the last one
 *   and has stopped growing. A start or a large reload leaves tens of MiB of garbage in the old generation,
 *   and V8 collects it only when the old generation reaches a limit set from the start's peak (up to 4x the
 *   live data) or when its memory reducer judges the process idle, which a busy director (or a slow VM)
 *   may not be for minutes: the RSS at 10,000 checks read 74 or 100 MiB by where that fell.
 * - the mapped files (node's binary): their pages only the start touched, paged out (./page-out.ts).
 * - V8's memory mode (`--optimize-for-size`), set once the start is over: at the first collection the
 *   settling asks for (the start's allocation has ended), or MEMORY_MODE_MS after the start at the
 *   latest. From then on V8's full collections compact the old generation and give its free pages back;
 *   without it a busy host's daemon kept 35-40 MiB of heap committed for ~20 MiB live after each
 *   collection. Not a node flag of lvsd's: in a phase that builds a large heap (`lvsd check` of 110,000
 *   objects: 2.2 s against 1.1-2.0 s natively; a start at 100,000 real servers, set 20 s after it: every
 *   one weighted after 107 s against 75) it makes V8 collect more often while the heap grows.
 */
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import type { Logger } from '../log.js';
import { loadNative } from '../net/index.js';
import { startPageOut, type PageOutOptions } from './page-out.js';

/** The first trim: the start's first probe verdicts and table writes are done by then. */
export const FIRST_TRIM_MS = 20_000;
export const TRIM_EVERY_MS = 60_000;
/** V8's memory mode at the latest this long after the start (a heap that never settles: a saturated host). */
export const MEMORY_MODE_MS = 90_000;
/** How often V8's heap is looked at (one getHeapStatistics call, a few microseconds). */
export const SETTLE_EVERY_MS = 5_000;

const MiB = 1 << 20;

/**
 * When to ask V8 for a full collection, from the heap's used bytes read every SETTLE_EVERY_MS. Pure.
 * It collects when the heap holds `minExcess` (and half the floor) more than its floor, the lowest use
 * seen since the last collection it asked for, and grew less than `quiet` since the last reading: the
 * allocation that made the excess (a start, a reload) is over, so the garbage is there to take. The floor
 * is unknown until a first collection (the readings begin after the start's peak): the first quiet reading
 * over `minExcess` collects. A heap that keeps growing is left to V8's own limits; a collection that finds
 * the heap all live raises the floor, so the next one needs a new excess.
 *
 * And once the heap has been quiet for `idleReadings` readings in a row (20 s), a smaller excess is enough:
 * `idleExcess` (and a sixteenth of the floor). Garbage under half the floor (at 10,000 checks ~8.5 MiB),
 * made after the last collection (what the start's rising checks allocate after the first one, a few
 * reloads), otherwise stayed committed until V8's own next collection, which a daemon that then allocates
 * ~2 KiB/s does not reach for a long time. Natively it had nothing to take in any window measured (the heap
 * was back at its floor each time: docs/benchmarks.md, 2026-12-06 06:20); it is meant for the loaded
 * host's readings of RssAnon 49 MiB against 35 (not reproduced natively, so not shown to be that case). A
 * heap that is all live gives no excess, so no collection.
 */
export class HeapSettle {
  private low = 0;
  private last: number | undefined;
  /** quiet readings in a row */
  private still = 0;

  constructor(
    private readonly minExcess = 8 * MiB,
    private readonly quiet = 1 * MiB,
    private readonly idleReadings = 4,
    private readonly idleExcess = 2 * MiB,
  ) {}

  /** One reading; true when a collection should run now. */
  sample(used: number): boolean {
    const last = this.last;
    this.last = used;
    this.low = Math.min(this.low, used);
    if (last === undefined || used - last >= this.quiet) {
      this.still = 0;
      return false;
    }
    this.still++;
    const excess = used - this.low;
    const settled = excess >= Math.max(this.minExcess, this.low / 2);
    const idle = this.still >= this.idleReadings && excess >= Math.max(this.idleExcess, this.low / 16);
    if (!settled && !idle) return false;
    // the next floor is what the collection leaves: read from the next readings
    this.low = Infinity;
    this.last = undefined;
    this.still = 0;
    return true;
  }
}

/** V8's collector when node runs with --expose-gc (lvsd's node flags: src/cli/main.ts), else undefined. */
export type Collect = () => void;
function exposedGc(): Collect | undefined {
  const gc = (globalThis as { gc?: (o?: object) => void }).gc;
  if (typeof gc !== 'function') return undefined;
  // incremental marking, finished by V8's tasks: the event loop is not held for the whole collection
  return () => gc({ type: 'major', execution: 'async' });
}

export interface HeapTrimOptions {
  firstMs?: number;
  memoryModeMs?: number;
  /** tests: what turns V8's memory mode on (default: --optimize-for-size through node:v8) */
  memoryMode?: () => void;
  everyMs?: number;
  settleEveryMs?: number;
  /** tests: V8's collector (default: the exposed gc, if any) and the heap's used bytes */
  collect?: Collect | undefined;
  usedBytes?: () => number;
  settle?: HeapSettle;
  /** the page-out of node's mapped files (./page-out.ts; tests: false leaves it out) */
  pageOut?: PageOutOptions | false;
}

/**
 * Starts the trims and the heap settling; the returned function stops them. Without the addon (or glibc)
 * the C heap is left alone; without an exposed gc, V8's heap is.
 */
export function startHeapTrim(log: Logger, opts: HeapTrimOptions = {}): () => void {
  const stops: Array<() => void> = [];
  const setMode = opts.memoryMode ?? optimizeForSize;
  let modeOn = false;
  const memoryMode = (why: 'settled' | 'time'): void => {
    if (modeOn) return;
    modeOn = true;
    clearTimeout(latest);
    setMode();
    log.debug({ event: 'daemon.heap_memory_mode', why }, 'V8 heap in memory mode (--optimize-for-size)');
  };
  const latest = setTimeout(() => memoryMode('time'), opts.memoryModeMs ?? MEMORY_MODE_MS).unref();
  stops.push(() => clearTimeout(latest));
  const trim = mallocTrim();
  if (trim) {
    const run = (): void => {
      const us = trim();
      log.debug({ event: 'daemon.heap_trimmed', us: Math.round(us) }, `C heap trimmed in ${Math.round(us)} us`);
    };
    let every: NodeJS.Timeout | undefined;
    const first = setTimeout(() => {
      run();
      every = setInterval(run, opts.everyMs ?? TRIM_EVERY_MS).unref();
    }, opts.firstMs ?? FIRST_TRIM_MS).unref();
    stops.push(() => {
      clearTimeout(first);
      clearInterval(every);
    });
  }
  // the pages of node's binary only the start touched (./page-out.ts)
  if (opts.pageOut !== false) stops.push(startPageOut(log, opts.pageOut ?? {}));
  const collect = 'collect' in opts ? opts.collect : exposedGc();
  if (collect) {
    const used = opts.usedBytes ?? heapUsed;
    const settle = opts.settle ?? new HeapSettle();
    const look = setInterval(() => {
      const before = used();
      if (!settle.sample(before)) return;
      // the start's allocation is over: collect in memory mode (the collection compacts)
      memoryMode('settled');
      collect();
      log.debug({ event: 'daemon.heap_collected', usedMiB: Math.round(before / MiB) }, `V8 heap collected at ${Math.round(before / MiB)} MiB used`);
    }, opts.settleEveryMs ?? SETTLE_EVERY_MS).unref();
    stops.push(() => clearInterval(look));
  }
  return () => {
    for (const stop of stops) stop();
  };
}

function mallocTrim(): (() => number) | undefined {
  try {
    const native = loadNative();
    return typeof native.mallocTrim === 'function' ? () => native.mallocTrim() : undefined;
  } catch {
    return undefined;
  }
}

/** The main isolate's used heap bytes. */
function heapUsed(): number {
  return getHeapStatistics().used_heap_size;
}
/**
 * V8 reads the flag at each collection (its heap growing, which pages a full collection compacts); the
 * daemon's code is compiled and its code caches read by then, so V8's check of a cache's flags is past.
 */
function optimizeForSize(): void {
  setFlagsFromString('--optimize-for-size');
}

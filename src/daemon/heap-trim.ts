/**
 * Hands the free pages inside the C heap back to the kernel (glibc's malloc_trim, through the addon) a
 * little after the start and then once a minute. glibc's free() gives back only the top of the heap;
 * a start, a reload or a status build leave free chunks between live ones, and those pages stayed in
 * the RSS: 3.7 MiB of 10 at 10,000 TCP checks (docs/benchmarks.md, "RSS at 10,000 checks"). A trim
 * of that heap takes well under a millisecond; the VRRP thread's allocations wait for it (one arena,
 * MALLOC_ARENA_MAX=1).
 */
import type { Logger } from '../log.js';
import { loadNative } from '../net/index.js';

/** The first trim: the start's first probe verdicts and table writes are done by then. */
export const FIRST_TRIM_MS = 20_000;
export const TRIM_EVERY_MS = 60_000;

/** Starts the trims; the returned function stops them. Without the addon (or without glibc) it does nothing. */
export function startHeapTrim(log: Logger, firstMs = FIRST_TRIM_MS, everyMs = TRIM_EVERY_MS): () => void {
  let trim: () => number;
  try {
    const native = loadNative();
    if (typeof native.mallocTrim !== 'function') return () => undefined;
    trim = () => native.mallocTrim();
  } catch {
    return () => undefined;
  }
  const run = (): void => {
    const us = trim();
    log.debug({ event: 'daemon.heap_trimmed', us: Math.round(us) }, `C heap trimmed in ${Math.round(us)} us`);
  };
  let every: NodeJS.Timeout | undefined;
  const first = setTimeout(() => {
    run();
    every = setInterval(run, everyMs).unref();
  }, firstMs).unref();
  return () => {
    clearTimeout(first);
    clearInterval(every);
  };
}

/**
 * How long the event loop waited at worst while some work ran (a reload, a full pass): node's event loop
 * delay histogram, enabled for the work and read by it. The histograms are kept and reused, cleared
 * before each use: making one allocates and clears node's HDR histogram in C (counts for 1 ns to 2^63 ns
 * at three significant figures), and in the daemon that cost ~0.8 ms natively per reload of a one-weight
 * edit, a quarter of lvsd's own CPU for it (bench/_reload-profile.ts, docs/benchmarks.md 2026-12-06 06:00).
 * Works that overlap (a reload's load beside a drift pass) each hold one of their own.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

/** The resolution of the histograms' sampling timer, ms. */
export const LOOP_RESOLUTION_MS = 10;

/** Histograms not in use. At most as many as were ever in use at once (two or three). */
const spare: IntervalHistogram[] = [];

/** How many histograms were made so far (tests: reused, not made per use). */
export function loopHistogramsMade(): number {
  return made;
}
let made = 0;

/** A histogram, cleared and enabled; give it back with `releaseLoop` once read. */
export function watchLoop(): IntervalHistogram {
  let loop = spare.pop();
  if (loop === undefined) {
    loop = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
    made++;
  } else {
    loop.reset();
  }
  loop.enable();
  return loop;
}

/** Stops `loop` and keeps it for the next use; it must not be read after this. */
export function releaseLoop(loop: IntervalHistogram): void {
  loop.disable();
  spare.push(loop);
}

/** Runs `work` with a histogram watching the event loop (watchLoop), released when it settles. */
export async function watchingLoop<T>(work: (loop: IntervalHistogram) => Promise<T>): Promise<T> {
  const loop = watchLoop();
  try {
    return await work(loop);
  } finally {
    releaseLoop(loop);
  }
}

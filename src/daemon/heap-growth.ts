/**
 * How far V8 lets the old generation grow past what a full collection left live before it collects again:
 * `lvsd run` asks for 50 % (`--heap-growing-percent=50`) instead of V8's own factor, which goes up to 4x
 * on a machine with this much memory when the program allocates fast. At start (a 7 MB config parsed and
 * built, the table programmed, 100,000 real servers rising) lvsd allocates fast while ~150 MiB are live,
 * and V8 let the heap grow to ~600 MiB between collections: a director of 100,000 real servers peaked at
 * 730 MiB RSS to settle at 240. At 50 % the peak was 374 MiB and the settled RSS 215 (the rise no slower;
 * docs/benchmarks.md, 2026-12-05 14:20-16:30). Once settled the heap does not grow and the flag changes
 * nothing. Set at run time (the flag is read at every collection) so the command line, and with it the
 * code cache's key, stays as it is; a `--heap-growing-percent` given to node (argv or NODE_OPTIONS) wins.
 */
import { setFlagsFromString } from 'node:v8';

export const HEAP_GROWING_PERCENT = 50;

export function limitHeapGrowth(
  given: readonly string[] = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)],
  set: (flags: string) => void = setFlagsFromString,
): boolean {
  if (given.some((a) => /^--heap[-_]growing[-_]percent(=|$)/.test(a))) return false;
  set(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}

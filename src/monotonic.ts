/**
 * Monotonic milliseconds, for durations (as performance.now(), from another origin). node:perf_hooks loads
 * a dozen of node's internal modules at its first import, on the path of every `lvsd apply` (issue #11,
 * fast start); process.hrtime needs none.
 */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

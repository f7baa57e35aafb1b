/** Histogram bounds (seconds) of the duration metrics: reconciles and health probes (metrics.ts; the addon's TCP checks count into the same). */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

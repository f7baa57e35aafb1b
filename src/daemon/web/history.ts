/**
 * The status page's rate history: per service, connections/s and bytes/s over the last 15 minutes, in
 * fixed time buckets (10 s by default: 90 per series). Memory is bounded by construction: one Float32Array
 * ring per service (both series), nothing else grows. A bucket holds the mean of the samples taken during it; a bucket
 * with no sample (the daemon was busy, or the service was missing) is NaN, drawn as a gap.
 *
 * Pure: the caller passes the time of each sample.
 */

export interface HistoryOptions {
  bucketMs?: number;
  buckets?: number;
}

export interface RateSample {
  /** The service's config name. */
  name: string;
  /** Connections per second (the kernel's estimate). */
  cps: number;
  /** Bytes per second, both directions. */
  bps: number;
}

/** Completed buckets after `since`, oldest first: what the page appends to its sparklines. */
export interface HistoryDelta {
  bucketMs: number;
  /** The number of the last bucket included (bucket n covers [n * bucketMs, (n + 1) * bucketMs)). */
  to: number;
  /** The number of the first bucket included. */
  from: number;
  /** Per service name: one value per bucket from..to, null for a gap. */
  series: Record<string, { cps: Array<number | null>; bps: Array<number | null> }>;
}

/** One service: connections/s in slots [0, size), bytes/s in [size, 2 size) of one array (one allocation). */
interface Series {
  v: Float32Array;
  /** Samples averaged into the current bucket. */
  n: number;
}

export class RateHistory {
  readonly bucketMs: number;
  readonly size: number;
  private readonly series = new Map<string, Series>();
  /** The bucket the newest samples went into; -1 before the first. */
  private current = -1;
  /** The first bucket ever recorded: nothing before it is reported. */
  private first = -1;

  constructor(opts: HistoryOptions = {}) {
    this.bucketMs = opts.bucketMs ?? 10_000;
    this.size = opts.buckets ?? 90;
  }

  /** Records one sample of every service. Services absent from `samples` are forgotten (removed by a reload). */
  record(nowMs: number, samples: readonly RateSample[]): void {
    const bucket = Math.floor(nowMs / this.bucketMs);
    if (bucket < this.current) return; // the clock went back: drop rather than corrupt the ring
    const advanced = bucket !== this.current;
    if (advanced && this.current >= 0) {
      // buckets skipped entirely (no sample at all) become gaps, for every series
      const skipped = Math.min(bucket - this.current, this.size);
      for (const s of this.series.values()) {
        for (let i = 1; i <= skipped; i++) {
          const slot = (this.current + i) % this.size;
          s.v[slot] = NaN;
          s.v[this.size + slot] = NaN;
        }
        s.n = 0;
      }
    }
    this.current = bucket;
    if (this.first < 0) this.first = bucket;
    const slot = bucket % this.size;
    const seen = new Set<string>();
    for (const sample of samples) {
      seen.add(sample.name);
      let s = this.series.get(sample.name);
      if (!s) {
        s = { v: new Float32Array(2 * this.size).fill(NaN), n: 0 };
        this.series.set(sample.name, s);
      }
      const b = this.size + slot;
      if (s.n === 0) {
        s.v[slot] = sample.cps;
        s.v[b] = sample.bps;
      } else {
        s.v[slot] = (s.v[slot]! * s.n + sample.cps) / (s.n + 1);
        s.v[b] = (s.v[b]! * s.n + sample.bps) / (s.n + 1);
      }
      s.n++;
    }
    for (const name of this.series.keys()) if (!seen.has(name)) this.series.delete(name);
  }

  /** How many services have a history. */
  get count(): number {
    return this.series.size;
  }

  /** The last completed bucket's number; -1 when none completed yet. */
  get lastComplete(): number {
    return this.current - 1;
  }

  /**
   * The completed buckets after bucket `since` (all that are kept when `since` is older than the window,
   * e.g. 0 for a page just opened), or undefined when there is nothing new.
   */
  since(since: number): HistoryDelta | undefined {
    const to = this.current - 1;
    const from = Math.max(since + 1, to - this.size + 2, this.first); // the current bucket occupies one slot
    if (this.current < 0 || from > to) return undefined;
    const series: HistoryDelta['series'] = {};
    for (const [name, s] of this.series) {
      const cps: Array<number | null> = [];
      const bps: Array<number | null> = [];
      for (let b = from; b <= to; b++) {
        const slot = b % this.size;
        cps.push(round(s.v[slot]!));
        bps.push(round(s.v[this.size + slot]!));
      }
      series[name] = { cps, bps };
    }
    return { bucketMs: this.bucketMs, from, to, series };
  }
}

/** Three significant digits are all a sparkline shows; NaN (a gap) becomes null for JSON. */
function round(v: number): number | null {
  if (Number.isNaN(v)) return null;
  if (v === 0) return 0;
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
  return Number(v.toFixed(Math.min(digits, 3)));
}

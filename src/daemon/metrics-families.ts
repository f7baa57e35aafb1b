/**
 * Metric families whose series are made at scrape time and dropped once the text is written: nothing per
 * series stays in the registry between scrapes. prom-client's Gauge and Counter keep every series they
 * were given (a label object, a hash key string, a value object) until the next `reset()`, so the
 * per-real-server families at 10,000 real servers held ~18 MiB of heap between scrapes (docs/benchmarks.md,
 * "RSS at 10,000 checks"). The text is the one prom-client's own Gauge and Counter write for the same
 * series (test/unit/metrics-families.test.ts compares them): a series appears where its labels first came,
 * a counter's values for equal labels add up, a gauge keeps the last.
 */
import type { Registry } from 'prom-client';

export type SeriesLabels = Record<string, string | number>;
/** One series' labels and value; `put` of labels already put adds (counter) or replaces (gauge). */
export type PutSeries = (labels: SeriesLabels, value: number) => void;

interface Value {
  labels: SeriesLabels;
  value: number;
}

/**
 * Registers `name` in `registers`: at each scrape `fill` puts its series. `unique`: `fill` never puts the
 * same labels twice (its source is keyed by them), so no map of the labels is built to merge them.
 */
export function scrapeTimeFamily(
  registers: readonly Registry[], name: string, help: string, type: 'counter' | 'gauge', fill: (put: PutSeries) => void, unique = false,
): void {
  const values = (): Value[] => {
    const out: Value[] = [];
    if (unique) {
      fill((labels, value) => { out.push({ labels, value }); });
      return out;
    }
    const at = new Map<string, Value>();
    fill((labels, value) => {
      const key = Object.values(labels).join('\0');
      const had = at.get(key);
      if (!had) {
        const v = { labels, value };
        at.set(key, v);
        out.push(v);
      } else had.value = type === 'counter' ? had.value + value : value;
    });
    return out;
  };
  const metric = {
    name, help, type, aggregator: 'sum',
    reset: (): void => undefined,
    get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
  };
  for (const r of registers) r.registerMetric(metric as never);
}

/**
 * Values per (service, real server[, word]) kept as one string key and a number: ~60 bytes a series
 * where prom-client's own took ~400 (docs/benchmarks.md). Keys are the labels' values joined by NUL
 * (config text has no control characters); insertion order is the series' order, as prom-client's.
 */
export class SeriesValues {
  private readonly values = new Map<string, number>();

  constructor(private readonly labelNames: readonly string[]) {}

  static key(...labelValues: string[]): string {
    return labelValues.join('\0');
  }

  add(key: string, n: number): void {
    this.values.set(key, (this.values.get(key) ?? 0) + n);
  }

  set(key: string, n: number): void {
    this.values.set(key, n);
  }

  delete(key: string): void {
    this.values.delete(key);
  }

  /** Each series with its labels (made now, in labelNames' order). */
  put(put: PutSeries): void {
    const names = this.labelNames;
    for (const [key, value] of this.values) {
      const parts = key.split('\0');
      const labels: SeriesLabels = {};
      for (let i = 0; i < names.length; i++) labels[names[i]!] = parts[i]!;
      put(labels, value);
    }
  }
}

/**
 * The status page's sampler: takes a status snapshot every period, whether or not anyone watches, and
 * keeps what the page needs from it: the latest snapshot, the event list (diffs between snapshots) and
 * the 15-minute rate history. Page requests read only what is kept here: however many browsers poll,
 * the daemon dumps the kernel table once per period.
 *
 * The period adapts to the cost: at least `minPeriodMs` (2 s), and at least 20 times the last snapshot's
 * duration, so sampling never takes more than 5% of the main thread (a table that takes 200 ms to dump is
 * sampled every 4 s).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import { timerDelay } from '../../timer-delay.js';
import type { StatusSnapshot } from '../status.js';
import { diffEvents, EventLog } from './events.js';
import { RateHistory, type HistoryOptions } from './history.js';
import { rateSamples } from './view.js';

export interface SamplerOptions {
  take: () => Promise<StatusSnapshot>;
  log: Logger;
  minPeriodMs?: number;
  /** The period is at least this many times the last snapshot's duration. */
  costFactor?: number;
  history?: HistoryOptions;
  events?: number;
  now?: () => number;
}

export class Sampler {
  readonly history: RateHistory;
  readonly events: EventLog;
  latest: StatusSnapshot | undefined;
  /** Increases with every snapshot kept. */
  seq = 0;
  /** The period now in force, ms. */
  periodMs: number;
  lastDurationMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;
  private readonly minPeriodMs: number;
  private readonly costFactor: number;
  private readonly now: () => number;
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly opts: SamplerOptions) {
    this.minPeriodMs = opts.minPeriodMs ?? 2000;
    this.costFactor = opts.costFactor ?? 20;
    this.periodMs = this.minPeriodMs;
    this.history = new RateHistory(opts.history);
    this.events = new EventLog(opts.events ?? 50);
    this.now = opts.now ?? Date.now;
  }

  /** Samples now and then every period until close(). */
  start(): void {
    void this.sample().finally(() => this.schedule());
  }

  onSample(fn: () => void): void {
    this.listeners.push(fn);
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.sample().finally(() => this.schedule()), timerDelay(this.periodMs));
    this.timer.unref();
  }

  /** One sample; a failed snapshot is logged once (until one succeeds again) and skipped. */
  async sample(): Promise<void> {
    const t0 = performance.now();
    let snap: StatusSnapshot;
    try {
      snap = await this.opts.take();
    } catch (e) {
      if (!this.failing) this.opts.log.warn({ event: 'statuspage.sample_failed', err: (e as Error).message }, 'status page: cannot take a snapshot');
      this.failing = true;
      return;
    }
    this.failing = false;
    this.lastDurationMs = performance.now() - t0;
    this.periodMs = Math.max(this.minPeriodMs, Math.ceil(this.lastDurationMs * this.costFactor));
    this.events.add(diffEvents(this.latest, snap));
    this.history.record(this.now(), rateSamples(snap));
    this.latest = snap;
    this.seq++;
    for (const fn of this.listeners) fn();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

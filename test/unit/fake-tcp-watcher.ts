/**
 * The addon's TCP watches in memory, for tests of the health checker at scale: riseAll() calls every
 * watch's callback in one synchronous batch (connected, the rise-th success in a row), as the addon's
 * onOutcomes does, so a batch is exact.
 */
import type { TcpWatcher } from '../../src/health/index.js';
import type { TcpWatchCallback, TcpWatchOptions } from '../../src/net/index.js';

export class FakeWatcher implements TcpWatcher {
  readonly watches = new Map<number, { o: TcpWatchOptions; cb: TcpWatchCallback }>();
  private nextId = 0;
  watch(o: TcpWatchOptions, cb: TcpWatchCallback): number {
    const id = this.nextId++;
    this.watches.set(id, { o, cb });
    return id;
  }
  unwatch(id: number): void {
    this.watches.delete(id);
  }
  nice = undefined;
  next(): void {}
  limit(): void {}
  configure(): void {}
  stats() {
    return { thread: true, watches: this.watches.size, watchedUnderWay: 0, oneOffUnderWay: 0, skipped: 0, socketsReused: 0 };
  }
  watchState() {
    return () => undefined;
  }
  takeHistogram() {
    return { buckets: [0], sumSeconds: 0, count: 0 };
  }
  pullCounts(): void {}
  takeCounts(): [number, number] {
    return [0, 0];
  }
  /**
   * Every watch's outcome in one batch: refused (ECONNREFUSED), the fall-th failure in a row. A real server
   * down at start stays down (no change), but has been seen failing: its rise is then a health.change of its
   * own, not a first verdict counted in health.first_up (first-up-log.ts).
   */
  failAll(): void {
    for (const [id, { o, cb }] of [...this.watches]) cb(111, 1, o.fall, id);
  }
  /** Every watch's outcome in one batch: connected (errno 0), the rise-th success in a row. */
  riseAll(): void {
    for (const [id, { o, cb }] of [...this.watches]) cb(0, 1, o.rise, id);
  }
}

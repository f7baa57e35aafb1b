/**
 * Reads the outcomes the addon tells in one batch for at most `sliceMs` per turn of the event loop; the
 * rest wait here and are read a slice per turn, so the kernel's replies, timers and the reconciler keep
 * running. A batch of thousands comes with every real server's first verdict at start, a rack going dark,
 * or a loop that was held: under the TCG VM 10,000 first verdicts read in one go held the loop 163 s, and
 * the start pass could not program the table meanwhile.
 */
import { performance } from 'node:perf_hooks';

export class SlicedReader<T> {
  private backlog: T[] = [];
  private head = 0;
  private drainScheduled = false;
  /** When reading the addon's current batch began (cleared after the batch). */
  private sliceStartedAt: number | undefined;

  /**
   * `read`: reads one; `running`: false once stopped (what waits is then dropped); `afterSlice`: called
   * after each slice read from what waited (`waiting` then says whether more waits).
   */
  constructor(
    private readonly sliceMs: number, private readonly read: (item: T) => void, private readonly running: () => boolean,
    private readonly afterSlice?: () => void,
  ) {}

  /** Whether told items wait to be read in a later turn. */
  get waiting(): boolean {
    return this.head < this.backlog.length;
  }

  /** Whether one told now may be read at once: nothing waits, and the current batch is under its slice. */
  readNow(): boolean {
    const now = performance.now();
    if (this.sliceStartedAt === undefined) {
      this.sliceStartedAt = now;
      queueMicrotask(() => (this.sliceStartedAt = undefined)); // after the addon's batch
    }
    return this.head === this.backlog.length && now - this.sliceStartedAt < this.sliceMs;
  }

  /** Keeps one for a later turn (read in the order told). */
  defer(item: T): void {
    this.backlog.push(item);
    if (this.drainScheduled) return;
    this.drainScheduled = true;
    setImmediate(() => this.drain());
  }

  /** Drops what waits (stop). */
  clear(): void {
    this.backlog = [];
    this.head = 0;
  }

  private drain(): void {
    this.drainScheduled = false;
    const t0 = performance.now();
    while (this.head < this.backlog.length) {
      this.read(this.backlog[this.head++]!);
      if (performance.now() - t0 >= this.sliceMs) break;
    }
    if (this.head >= this.backlog.length) {
      this.clear();
    } else if (this.running()) {
      this.drainScheduled = true;
      setImmediate(() => this.drain());
    }
    this.afterSlice?.();
  }
}

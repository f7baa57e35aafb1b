/**
 * At most `max` tasks at once; the rest wait in order. `run(task)` for promises; `acquire(start)` and
 * `release()` for callers that track completion themselves (the scheduler's hot path: no promise per slot).
 */
export class Limiter {
  private running = 0;
  private readonly queue: Array<() => void> = [];
  private head = 0;
  private draining = false;

  constructor(private readonly max: number) {
    if (!(max >= 1)) throw new RangeError(`limiter needs at least 1 slot, got ${max}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Calls `start` now if a slot is free, else when one is; whoever was started must call release() once. */
  acquire(start: () => void): void {
    if (this.running < this.max) {
      this.running++;
      start();
    } else {
      this.queue.push(start);
    }
  }

  /** Frees a slot: waiters start in order while slots are free (a loop, so a waiter that releases at once nests nothing). */
  release(): void {
    this.running--;
    if (this.draining) return;
    this.draining = true;
    while (this.running < this.max && this.head < this.queue.length) {
      const next = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as () => void;
      this.running++;
      next();
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    this.draining = false;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.acquire(() => {
        let p: Promise<T>;
        try {
          p = task();
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(resolve, reject).finally(() => this.release());
      });
    });
  }
}

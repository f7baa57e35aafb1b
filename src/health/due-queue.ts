/**
 * The probes waiting for their turn, earliest first: an indexed binary min-heap, so the scheduler keeps one
 * timer for all of them (armed for the earliest) instead of one timer per probe, and can move or drop any
 * entry in O(log n). Pure: no clock, no I/O.
 */
export interface DueEntry {
  /** when it is due (ms, the scheduler's clock) */
  due: number;
  /** its place in the heap; undefined while not queued */
  queueIndex?: number | undefined;
}

export class DueQueue<T extends DueEntry> {
  private readonly heap: T[] = [];

  get size(): number {
    return this.heap.length;
  }

  /** The earliest entry, or undefined. */
  peek(): T | undefined {
    return this.heap[0];
  }

  has(e: T): boolean {
    return e.queueIndex !== undefined && this.heap[e.queueIndex] === e;
  }

  /** Queues `e` at `due`, or moves it there if it is queued already. */
  set(e: T, due: number): void {
    e.due = due;
    if (this.has(e)) {
      this.up(e.queueIndex!);
      this.down(e.queueIndex!);
      return;
    }
    e.queueIndex = this.heap.length;
    this.heap.push(e);
    this.up(e.queueIndex);
  }

  delete(e: T): void {
    if (!this.has(e)) return;
    const i = e.queueIndex!;
    e.queueIndex = undefined;
    const last = this.heap.pop()!;
    if (last === e) return;
    this.heap[i] = last;
    last.queueIndex = i;
    this.up(i);
    this.down(i);
  }

  /** Removes and returns every entry due at or before `t`, earliest first. */
  takeDue(t: number): T[] {
    const out: T[] = [];
    while (this.heap.length > 0 && this.heap[0]!.due <= t) {
      const e = this.heap[0]!;
      this.delete(e);
      out.push(e);
    }
    return out;
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.due <= h[i]!.due) return;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]!.due < h[m]!.due) m = l;
      if (r < h.length && h[r]!.due < h[m]!.due) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap;
    const x = h[a]!;
    h[a] = h[b]!;
    h[b] = x;
    h[a]!.queueIndex = a;
    h[b]!.queueIndex = b;
  }
}

/**
 * What the addon delivered to a netlink socket (up to 64 datagrams a wake, failures as values) and is not
 * read yet: read in order until this turn's reading time, every socket's together, is spent; the rest on a
 * later turn.
 */
import { monotonicMs } from '../monotonic.js';
import type { NetlinkItem } from '../net/index.js';
import { TURN_BUDGET_MS } from '../turn-budget.js';

/**
 * Milliseconds spent reading replies in this turn of the event loop, by every socket together. The addon
 * hands over what a wake read (up to 64 datagrams: the whole service list of a 10,000-service dump, 7-20
 * ms of parsing natively, about a second under TCG), and the sixteen dump sockets wake in the same poll
 * phase; past TURN_BUDGET_MS the rest waits in each socket's inbox for the next turn, so timers, health
 * probes and the control socket run in between.
 */
const turn = { spentMs: 0, resetArmed: false };

/** Adds `ms` of reading to this turn's. */
function account(ms: number): void {
  turn.spentMs += ms;
  if (turn.resetArmed) return;
  turn.resetArmed = true;
  setImmediate(() => {
    turn.spentMs = 0;
    turn.resetArmed = false;
  });
}

export class ReplyInbox {
  /** What the addon delivered and is not read yet, from head on. */
  private readonly items: NetlinkItem[] = [];
  private head = 0;
  private armed = false;

  constructor(private readonly read: (item: NetlinkItem) => void, private readonly closed: () => boolean) {}

  /** Whether items wait to be read (they count as heard: they are read on the next turns). */
  get unread(): boolean {
    return this.head < this.items.length;
  }

  push(items: NetlinkItem[]): void {
    for (const item of items) this.items.push(item);
    if (!this.armed) this.drain();
  }

  /** Reads the inbox in order until this turn's reading time is spent; the rest on a later turn. */
  private readonly drain = (): void => {
    this.armed = false;
    const t0 = monotonicMs();
    const first = this.head;
    while (this.head < this.items.length && !this.closed()) {
      // at least one item per drain, so reading always moves on
      if (this.head > first && turn.spentMs + (monotonicMs() - t0) >= TURN_BUDGET_MS) {
        this.armed = true;
        setImmediate(this.drain);
        break;
      }
      this.read(this.items[this.head++]!);
    }
    account(monotonicMs() - t0);
    if (this.closed() || this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  };
}

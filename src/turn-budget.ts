/**
 * Work that grows with the table (the drift pass's decode, view rebuild and plan) done a slice per turn of
 * the event loop, each slice bounded by time rather than by a count of objects: a count that takes 8 ms
 * natively takes ~1 s under the TCG test VM (50-100x slower), while a time budget holds the loop for the
 * same few milliseconds on any machine. Health probes, VRRP's messages and the control socket run between
 * slices.
 */
import { monotonicMs } from './monotonic.js';

/** Milliseconds of work between two turns of the event loop. */
export const TURN_BUDGET_MS = 5;

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

export class TurnBudget {
  private sliceStart = monotonicMs();
  /** Turns yielded so far. */
  turns = 0;

  constructor(private readonly budgetMs = TURN_BUDGET_MS) {}

  /** Whether this slice has used its time. */
  get spent(): boolean {
    return monotonicMs() - this.sliceStart >= this.budgetMs;
  }

  /** Yields a turn of the event loop when this slice has used its time; call it between two units of work. */
  async check(): Promise<void> {
    if (this.spent) await this.yield();
  }

  /** Yields a turn of the event loop and starts a new slice. */
  async yield(): Promise<void> {
    await nextTurn();
    this.turns++;
    this.sliceStart = monotonicMs();
  }
}

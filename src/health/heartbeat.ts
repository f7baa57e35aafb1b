/**
 * The health loop's heartbeat: a timer every `everyMs` while the scheduler runs, and how late each one
 * fired (the event loop's lag, as status shows it: lagMs, maxLagMs, lastTickAt).
 */
import type { Clock, TimerHandle } from './types.js';

export class Heartbeat {
  lagMs = 0;
  maxLagMs = 0;
  lastTickAt?: number;
  private due = 0;
  private timer?: TimerHandle;
  private running = false;

  constructor(private readonly clock: Clock, private readonly everyMs: number) {}

  start(now: number): void {
    this.running = true;
    this.due = now + this.everyMs;
    this.lastTickAt = now;
    this.timer = this.clock.setTimeout(() => this.tick(), this.everyMs);
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const now = this.clock.now();
    this.lagMs = Math.max(0, now - this.due);
    this.maxLagMs = Math.max(this.maxLagMs, this.lagMs);
    this.lastTickAt = now;
    if (!this.running) return;
    this.due = now + this.everyMs;
    this.timer = this.clock.setTimeout(() => this.tick(), this.everyMs);
  }
}

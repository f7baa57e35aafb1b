/**
 * Runs the probes this process makes in JavaScript (every check but the TCP ones the addon runs itself):
 * one timer for all of them, armed for the earliest turn; turns due within COALESCE_MS of each other share
 * a wake-up; at most `maxConcurrent` probes run at once (the rest wait in the limiter); a probe still
 * running when its next turn comes skips that turn. Each result goes to `deliver`.
 */
import { DueQueue } from './due-queue.js';
import type { Job, Turn } from './job.js';
import { Limiter } from './limiter.js';
import type { Clock, ProbeEnv, ProbeResult, Prober, TimerHandle } from './types.js';

/** Probes due within this many ms of one that is due are started with it (one wake-up for the batch). */
const COALESCE_MS = 10;

export class ProbeRunner {
  running = false;
  env: ProbeEnv = {};
  /** turns skipped because the previous probe of the same job was still running */
  skipped = 0;
  private limiter: Limiter;
  private readonly queue = new DueQueue<Turn>();
  private wake: TimerHandle | undefined;
  private wakeAt: number | undefined;
  /** probes fired and not finished (queued or running), and idle()'s waiters */
  private inFlight = 0;
  private readonly idleWaiters: Array<() => void> = [];

  constructor(
    private readonly clock: Clock,
    private readonly prober: Prober,
    maxConcurrent: number,
    private readonly deliver: (job: Job, result: ProbeResult) => void,
  ) {
    this.limiter = new Limiter(Math.max(1, maxConcurrent));
  }

  /** A new limit: probes under way finish in the slots they took. */
  limit(maxConcurrent: number): void {
    this.limiter = new Limiter(Math.max(1, maxConcurrent));
  }

  get queued(): number {
    return this.limiter.queued;
  }

  has(job: Job): boolean {
    return job.turn !== undefined && this.queue.has(job.turn);
  }

  /** When the job's next turn is, if it is queued. */
  dueOf(job: Job): number | undefined {
    return this.has(job) ? job.turn!.due : undefined;
  }

  /** The job's next turn at `due` (sooner or later than planned). */
  set(job: Job, due: number): void {
    const turn = (job.turn ??= { job, due, queueIndex: undefined, inFlight: undefined, ctl: undefined, probingSince: undefined });
    this.queue.set(turn, due);
    this.rearm();
  }

  /** No more turns; a probe under way is aborted (its result dropped). */
  delete(job: Job): void {
    const turn = job.turn;
    if (turn === undefined) return;
    this.queue.delete(turn);
    this.rearm();
    turn.inFlight?.abort();
  }

  /** Resolves once no probe is under way. */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** One timer for every probe: armed for the earliest turn (only re-set when that changes). */
  rearm(): void {
    const next = this.running ? this.queue.peek() : undefined;
    if (next && this.wakeAt === next.due && this.wake !== undefined) return;
    if (this.wake !== undefined) this.clock.clearTimeout(this.wake);
    this.wake = undefined;
    this.wakeAt = undefined;
    if (!next) return;
    this.wakeAt = next.due;
    this.wake = this.clock.setTimeout(() => this.onWake(), next.due - this.clock.now());
  }

  /**
   * Fires every probe due now or within COALESCE_MS: one wake-up for a batch rather than one per probe
   * (thousands a second), at the price of starting a probe at most that much early. Each probe keeps its
   * own cadence: its next turn counts from when it was due, not from when it ran.
   */
  private onWake(): void {
    this.wake = undefined;
    this.wakeAt = undefined;
    if (!this.running) return;
    for (const turn of this.queue.takeDue(this.clock.now() + COALESCE_MS)) this.fire(turn);
    this.rearm();
  }

  private fire(turn: Turn): void {
    const job = turn.job;
    if (!this.running || !job.alive) return;
    const now = this.clock.now();
    let due = turn.due + job.intervalMs;
    while (due <= now) due += job.intervalMs;
    this.queue.set(turn, due);
    if (turn.inFlight) {
      this.skipped++;
      return;
    }
    // one AbortController per job, replaced only once it has been aborted (delete): not one per probe
    const ctl = turn.ctl && !turn.ctl.signal.aborted ? turn.ctl : (turn.ctl = new AbortController());
    turn.inFlight = ctl;
    this.inFlight++;
    const limiter = this.limiter; // a reload may replace it: the slot goes back to the one it came from
    limiter.acquire(() => this.launch(turn, ctl, limiter));
  }

  /** Runs the probe in its limiter slot; callbacks, not a promise chain: this runs thousands of times a second. */
  private launch(turn: Turn, ctl: AbortController, limiter: Limiter): void {
    if (ctl.signal.aborted) return this.finish(turn, ctl, limiter, undefined);
    const job = turn.job;
    turn.probingSince = this.clock.now();
    let p: Promise<ProbeResult>;
    try {
      p = this.prober(job.check, job.target, ctl.signal, this.env);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (result) => this.finish(turn, ctl, limiter, result),
      (err: unknown) => this.finish(turn, ctl, limiter, { ok: false, latencyMs: 0, reason: `probe error ${(err as Error)?.message ?? err}` }),
    );
  }

  private finish(turn: Turn, ctl: AbortController, limiter: Limiter, result: ProbeResult | undefined): void {
    limiter.release();
    const job = turn.job;
    if (turn.inFlight === ctl) {
      turn.inFlight = undefined;
      turn.probingSince = undefined;
    }
    try {
      if (result && job.alive && this.running && !ctl.signal.aborted) this.deliver(job, result);
    } finally {
      if (--this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}

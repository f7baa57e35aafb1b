/**
 * What the reconciler's passes failed to do and when it tries again: each pass is counted and its failures
 * kept for status (a full pass's list replaces what was outstanding, another pass adds); while anything is
 * outstanding a repair (a full pass) is scheduled, backing off; the last full pass is remembered for status.
 */
import { timerDelay } from '../timer-delay.js';
import type { IpvsApplyStatus, PassKind, PassOutcome, ReconcilerOptions } from './reconciler-types.js';
import { DEFAULT_BACKOFF, RepairState, backoffMs } from './repair.js';

export interface RepairScheduleOptions {
  log: ReconcilerOptions['log'];
  events?: ReconcilerOptions['events'];
  backoff?: ReconcilerOptions['backoff'];
  /** Runs a repair pass (the reconciler's full pass, queued). */
  repair: () => void;
}

export class RepairSchedule {
  /** The failures outstanding and the repair's attempts. */
  readonly state = new RepairState();
  private timer: NodeJS.Timeout | undefined;
  private lastReconcile: IpvsApplyStatus['lastReconcile'] = null;
  private stopped = false;

  constructor(private readonly opts: RepairScheduleOptions) {}

  /** No repair is scheduled after this. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  status(): IpvsApplyStatus {
    const r = this.state;
    return {
      state: r.pending ? 'repairing' : 'ok',
      failedOps: r.count,
      failures: r.list(20).map((f) => ({
        service: f.service ?? f.serviceId, realServer: f.realServer, op: f.op, reason: f.reason, code: f.code, message: f.message,
        at: new Date(f.atMs).toISOString(),
      })),
      repair: r.pending
        ? {
          since: new Date(r.sinceMs ?? Date.now()).toISOString(), attempts: r.attempts,
          nextAttemptAt: r.nextAttemptAtMs === undefined ? null : new Date(r.nextAttemptAtMs).toISOString(),
        }
        : null,
      lastReconcile: this.lastReconcile,
    };
  }

  /** A pass over the whole table ended (status: lastReconcile). */
  noteReconcile(reason: string, outcome: PassOutcome): void {
    this.lastReconcile = {
      at: new Date().toISOString(), reason, result: outcome.result, ops: outcome.ops, failed: outcome.failures.length,
      error: outcome.error?.message ?? null,
    };
  }

  /**
   * Counts a pass and its failures and keeps them for status: a full pass's list replaces what was
   * outstanding (it read and planned everything), except one that failed as a whole; another pass adds.
   * While anything is outstanding a repair (a full pass) is scheduled, backing off.
   */
  afterPass(kind: PassKind, outcome: PassOutcome, full: boolean): void {
    const m = this.opts.events;
    m?.reconcilePass?.(kind, outcome.result);
    for (const f of outcome.failures) m?.ipvsOpFailed?.(f.op, f.reason);
    if (full && outcome.result !== 'failed') {
      const attempts = this.state.attempts;
      const since = this.state.sinceMs;
      if (this.state.replace(outcome.failures)) {
        this.opts.log.info({ event: 'daemon.repaired', kind, attempts, failedForMs: since === undefined ? null : Date.now() - since },
          `IPVS repaired: the kernel holds everything lvsd wants (after ${attempts} retr${attempts === 1 ? 'y' : 'ies'})`);
      }
    } else {
      this.state.add(outcome.failures);
    }
    m?.ipvsFailuresPending?.(this.state.count);
    if (this.state.pending) this.schedule();
    else if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private schedule(): void {
    if (this.stopped || this.timer) return;
    // a backoff's growth (or an injected base) must never reach setTimeout unclamped: Infinity is 1 ms
    const delay = timerDelay(backoffMs(this.state.attempts, this.opts.backoff ?? DEFAULT_BACKOFF));
    this.state.attempts++;
    this.state.nextAttemptAtMs = Date.now() + delay;
    const first = this.state.list(1)[0];
    this.opts.log.warn({
      event: 'daemon.repair_scheduled', attempt: this.state.attempts, inMs: delay, failedOps: this.state.count,
      ...(first ? { service: first.service ?? first.serviceId, realServer: first.realServer, op: first.op, reason: first.reason } : {}),
    }, `${this.state.count} IPVS operation(s) outstanding: full reconcile #${this.state.attempts} in ${delay} ms`);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.state.nextAttemptAtMs = undefined;
      this.opts.repair();
    }, delay);
    this.timer.unref();
  }
}

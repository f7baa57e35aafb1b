/**
 * Everything that changes the kernel's IPVS table goes through one queue here, so two passes never
 * interleave. A full pass (start, reload, drift timer, repair) dumps the whole table and plans everything;
 * a health change or drain plans only its service against the entry the last pass left, and touches only
 * that service. Every failed operation is logged, counted, kept for status (repair.ts) and retried by full
 * passes that back off, until one applies everything.
 */
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/types.js';
import type { DestSpec, IpvsClient, KernelEntry } from '../ipvs/types.js';
import type { Logger } from '../log.js';
import {
  applyPlan, canonicalServiceId, nextOwned, ownedAfterError, planReconcile, reconcile, saveOwned, type DesiredEntry,
} from '../reconcile/index.js';
import type { DaemonMetrics } from './daemon.js';
import { timerDelay } from '../timer-delay.js';
import { DEFAULT_BACKOFF, RepairState, backoffMs, passFailure, recordsOf, type BackoffOptions, type FailureRecord } from './repair.js';
import type { IpvsApplyStatus } from './status.js';

export type PassKind = 'start' | 'reload' | 'drift' | 'repair' | 'adopted' | 'health' | 'drain';
export type PassResult = 'ok' | 'partial' | 'failed';

export interface PassOutcome {
  result: PassResult;
  ops: number;
  failures: FailureRecord[];
  /** The first failure's code and message, when not ok. */
  error?: { code: string | undefined; message: string };
}

const NOTHING_TO_DO: PassOutcome = { result: 'ok', ops: 0, failures: [] };

/** What the passes read from the daemon. */
export interface KernelSyncHost {
  readonly log: Logger;
  readonly metrics?: DaemonMetrics | undefined;
  readonly backoff?: BackoffOptions | undefined;
  config(): Config;
  client(): IpvsClient | undefined;
  /** Creates the client if the config needs one; throws when IPVS cannot be reached. */
  ensureClient(): Promise<void>;
  /** The desired table now (health verdicts, adoption, drains). */
  desired(): DesiredEntry[];
  desiredFor(svc: Config['services'][number]): DesiredEntry;
  stateFile(): string;
  internalError(where: string, e: unknown): void;
}

export class KernelSync {
  /** Service ids lvsd applied (the state file). */
  owned = new Set<string>();
  private readonly kernel = new Map<string, KernelEntry>();
  private queue: Promise<unknown> = Promise.resolve();
  private fullPending: Promise<PassOutcome> | undefined;
  private readonly repair = new RepairState();
  private repairTimer: NodeJS.Timeout | undefined;
  private lastReconcile: IpvsApplyStatus['lastReconcile'] = null;
  private stopped = false;

  constructor(private readonly host: KernelSyncHost) {}

  /** No pass runs after this; resolves once the one running has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.repairTimer);
    this.repairTimer = undefined;
    await this.queue.catch(() => undefined);
  }

  /** Runs `task` after every queued kernel change. */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Dump, plan against everything declared and owned, apply. Coalesces: one pending full reconcile at most. Never rejects. */
  fullReconcile(reason: string, kind: PassKind = 'drift'): Promise<PassOutcome> {
    if (this.fullPending) return this.fullPending;
    const p = this.enqueue(async () => {
      this.fullPending = undefined;
      return this.reconcileAll(reason, kind);
    });
    this.fullPending = p;
    return p;
  }

  /** One full pass; `kernel`: the table as read a moment ago in the same queue turn (the reload's). Never throws. */
  async reconcileAll(reason: string, kind: PassKind, kernel?: KernelEntry[]): Promise<PassOutcome> {
    if (this.stopped) return NOTHING_TO_DO;
    const started = performance.now();
    let desired: DesiredEntry[] = [];
    let outcome: PassOutcome;
    try {
      desired = this.host.desired();
      await this.host.ensureClient();
      const client = this.host.client();
      if (!client) return NOTHING_TO_DO;
      const result = await reconcile(client, desired, {
        owned: this.owned,
        ownWholeTable: this.host.config().ipvs.ownWholeTable,
        ...(this.host.config().ipvs.timeouts ? { timeouts: this.host.config().ipvs.timeouts } : {}),
        ...(kernel ? { kernel } : {}),
        log: this.host.log.child({ component: 'reconcile', reason }),
      });
      this.owned = nextOwned(desired, this.owned, result.report);
      await saveOwned(this.host.stateFile(), this.owned).catch((e: Error) =>
        this.host.log.error({ event: 'state.save_failed', file: this.host.stateFile(), err: e.message }, 'cannot save the state file'));
      this.kernel.clear();
      // The plan was applied; what the kernel holds now is the desired table minus failures. The next
      // drift pass re-reads it; until then targeted changes plan against the desired entries.
      const failed = new Set([...result.report.failed, ...result.report.skipped].map((f) => f.op.serviceId));
      for (const e of desired) {
        const id = canonicalServiceId(e.service.key);
        if (!failed.has(id)) this.kernel.set(id, { service: e.service, dests: e.dests.map(asKernelDest) });
      }
      const failures = recordsOf(result.report, (id) => this.nameOf(id), Date.now());
      this.host.metrics?.reconcile((performance.now() - started) / 1000, failures.length);
      outcome = { result: failures.length > 0 ? 'partial' : 'ok', ops: result.plan.ops.length, failures, ...firstError(failures) };
      this.host.log[failures.length > 0 ? 'warn' : 'info']({
        event: 'daemon.reconcile', reason, ops: result.plan.ops.length, failed: failures.length,
        ms: Math.round(performance.now() - started),
      }, `reconcile (${reason}): ${result.plan.ops.length} operations${failures.length > 0 ? `, ${failures.length} failed` : ''}`);
    } catch (e) {
      // Nobody knows what landed: own everything declared (and owned before) so the next pass can clean up.
      this.owned = ownedAfterError(desired, this.owned);
      await saveOwned(this.host.stateFile(), this.owned).catch(() => undefined);
      this.kernel.clear();
      this.host.metrics?.reconcile((performance.now() - started) / 1000, 1);
      const failure = passFailure(this.host.client() ? 'reconcile' : 'connect', e, Date.now());
      outcome = { result: 'failed', ops: 0, failures: [failure], ...firstError([failure]) };
      this.host.log.error({ event: 'daemon.reconcile_failed', reason, err: failure.message, code: failure.code },
        `reconcile (${reason}) failed: ${failure.message}`);
    }
    this.afterPass(kind, outcome, true);
    this.lastReconcile = {
      at: new Date().toISOString(), reason, result: outcome.result, ops: outcome.ops, failed: outcome.failures.length,
      error: outcome.error?.message ?? null,
    };
    return outcome;
  }

  /** The config name of a service id (canonical), when it is declared. */
  private nameOf(id: string): string | undefined {
    if (this.namesOf?.config !== this.host.config()) {
      this.namesOf = { config: this.host.config(), map: new Map(this.host.config().services.map((s) => [canonicalServiceId(s.spec.key), s.name])) };
    }
    return this.namesOf.map.get(id);
  }

  private namesOf: { config: Config; map: Map<string, string> } | undefined;

  /**
   * Counts a pass and its failures and keeps them for status: a full pass's list replaces what was
   * outstanding (it read and planned everything), except one that failed as a whole; a targeted pass adds.
   * While anything is outstanding a repair (a full reconcile) is scheduled, backing off.
   */
  private afterPass(kind: PassKind, outcome: PassOutcome, full: boolean): void {
    const m = this.host.metrics;
    m?.reconcilePass?.(kind, outcome.result);
    for (const f of outcome.failures) m?.ipvsOpFailed?.(f.op, f.reason);
    let repaired = false;
    if (full && outcome.result !== 'failed') {
      const attempts = this.repair.attempts;
      const since = this.repair.sinceMs;
      repaired = this.repair.replace(outcome.failures);
      if (repaired) {
        this.host.log.info({ event: 'daemon.repaired', kind, attempts, failedForMs: since === undefined ? null : Date.now() - since },
          `IPVS repaired: the kernel holds everything lvsd wants (after ${attempts} retr${attempts === 1 ? 'y' : 'ies'})`);
      }
    } else {
      this.repair.add(outcome.failures);
    }
    m?.ipvsFailuresPending?.(this.repair.count);
    if (this.repair.pending) this.scheduleRepair();
    else if (this.repairTimer) {
      clearTimeout(this.repairTimer);
      this.repairTimer = undefined;
    }
  }

  private scheduleRepair(): void {
    if (this.stopped || this.repairTimer) return;
    // a backoff's growth (or an injected base) must never reach setTimeout unclamped: Infinity is 1 ms
    const delay = timerDelay(backoffMs(this.repair.attempts, this.host.backoff ?? DEFAULT_BACKOFF));
    this.repair.attempts++;
    this.repair.nextAttemptAtMs = Date.now() + delay;
    const first = this.repair.list(1)[0];
    this.host.log.warn({
      event: 'daemon.repair_scheduled', attempt: this.repair.attempts, inMs: delay, failedOps: this.repair.count,
      ...(first ? { service: first.service ?? first.serviceId, realServer: first.realServer, op: first.op, reason: first.reason } : {}),
    }, `${this.repair.count} IPVS operation(s) outstanding: full reconcile #${this.repair.attempts} in ${delay} ms`);
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      this.repair.nextAttemptAtMs = undefined;
      void this.fullReconcile('repair', 'repair');
    }, delay);
    this.repairTimer.unref();
  }

  status(): IpvsApplyStatus {
    const r = this.repair;
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

  /**
   * A health change: plan and apply only the services concerned. Changes coalesce: they mark their service
   * dirty, and one queued flush takes every service marked by the time it runs, in one plan and one
   * pipelined batch (a rack going dark, or 10,000 real servers rising at start, is a handful of batches,
   * not one kernel round trip and log line per real server).
   */
  markDirty(service: string, reason: string): void {
    this.healthDirty.set(service, reason);
    if (this.healthFlushQueued) return;
    this.healthFlushQueued = true;
    this.enqueue(() => {
      this.healthFlushQueued = false;
      const batch = new Map(this.healthDirty);
      this.healthDirty.clear();
      return this.reconcileServices(batch, 'health');
    }).catch((e: unknown) => this.host.internalError('health.flush', e));
  }

  private readonly healthDirty = new Map<string, string>();
  private healthFlushQueued = false;

  /** Plans the named services (name -> why) against the kernel entries of the last dump, and applies. Never throws. */
  async reconcileServices(batch: ReadonlyMap<string, string>, kind: 'health' | 'drain'): Promise<void> {
    const client = this.host.client();
    if (this.stopped || !client || batch.size === 0) return;
    const byName = this.servicesByName();
    const entries: Array<{ name: string; desired: DesiredEntry; id: string; cached: KernelEntry }> = [];
    for (const name of batch.keys()) {
      const svc = byName.get(name);
      if (!svc) continue;
      const desired = this.host.desiredFor(svc);
      const id = canonicalServiceId(desired.service.key);
      const cached = this.kernel.get(id);
      if (!cached) {
        // not in the last dump (none yet, or a failure dropped it): one full pass covers the whole batch
        await this.reconcileAll(`${kind}:${name}${batch.size > 1 ? ` and ${batch.size - 1} more` : ''}`, kind);
        return;
      }
      entries.push({ name, desired, id, cached });
    }
    if (entries.length === 0) return;
    const plan = planReconcile({ desired: entries.map((e) => e.desired), kernel: entries.map((e) => e.cached), owned: new Set(), ownWholeTable: false });
    if (plan.ops.length === 0) return;
    const [first] = batch;
    const context = batch.size === 1
      ? { reason: first![1], service: first![0] }
      : { reason: `health: ${batch.size} services (${first![1]}, ...)`, services: batch.size };
    const log = this.host.log.child({ component: 'reconcile', ...context });
    let report: Awaited<ReturnType<typeof applyPlan>>;
    try {
      report = await applyPlan(client, plan, { log });
    } catch (e) {
      // the client failed (socket closed, replies lost): nobody knows which of these landed
      for (const entry of entries) this.kernel.delete(entry.id);
      const at = Date.now();
      const failures = plan.ops.map((op) => ({
        ...passFailure(op.command.cmd, e, at),
        serviceId: op.serviceId ?? null, service: (op.serviceId !== undefined ? this.nameOf(op.serviceId) : undefined) ?? null,
        realServer: op.destId ?? null,
      }));
      for (const f of failures) {
        log.warn({ event: 'ipvs.op_failed', op: f.op, service: f.serviceId, dest: f.realServer, reason: f.message, code: f.code },
          `failed: ${f.op} ${f.serviceId ?? ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}`);
      }
      this.afterPass(kind, { result: 'failed', ops: plan.ops.length, failures, ...firstError(failures) }, false);
      return;
    }
    const failed = new Set([...report.failed, ...report.skipped].map((f) => f.op.serviceId));
    for (const e of entries) {
      if (failed.has(e.id)) this.kernel.delete(e.id);
      else this.kernel.set(e.id, { service: e.desired.service, dests: e.desired.dests.map(asKernelDest) });
    }
    const failures = recordsOf(report, (id) => this.nameOf(id), Date.now());
    this.afterPass(kind, { result: failures.length > 0 ? 'partial' : 'ok', ops: plan.ops.length, failures, ...firstError(failures) }, false);
  }

  private servicesByNameOf: { config: Config; map: Map<string, Config['services'][number]> } | undefined;

  private servicesByName(): Map<string, Config['services'][number]> {
    if (this.servicesByNameOf?.config !== this.host.config()) {
      this.servicesByNameOf = { config: this.host.config(), map: new Map(this.host.config().services.map((s) => [s.name, s])) };
    }
    return this.servicesByNameOf.map;
  }
}

export function firstError(failures: readonly FailureRecord[]): Pick<PassOutcome, 'error'> {
  const f = failures[0];
  return f ? { error: { code: f.code ?? undefined, message: `${f.op}${f.service ?? f.serviceId ? ` ${f.service ?? f.serviceId}` : ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}` } } : {};
}

function asKernelDest(d: DestSpec): KernelEntry['dests'][number] {
  return { ...d, activeConns: 0, inactiveConns: 0, persistentConns: 0 };
}

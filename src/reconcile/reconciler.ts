/**
 * The reconciler that owns the IPVS table: the desired table, the kernel view it last read and has since
 * changed by its own successful operations (view.ts, view-sync.ts), the owned set (the state file:
 * ownership.ts), and the queue every change to the kernel goes through, so two passes never interleave. The daemon calls four things:
 *
 * - applyDesired: a new desired table (start, reload, end of adoption): the services whose desired entry
 *   changed (and those with outstanding failures or a stale view) are planned against the kept view and
 *   only their operations are sent; no dump. The first pass, before any read, reads the whole table.
 * - update: desired entries of some services (a health change, a drain): coalesced, planned against the
 *   kept view, sent in one pipelined batch.
 * - repairDrift: the one full read: the view is replaced by the kernel's table, everything is planned
 *   (a slice of services per turn of the event loop: sliced.ts) and the difference sent. The drift timer
 *   and the repair of failed operations call it. Its read runs outside the queue (KeptView.readAside): a
 *   reload, a health change or a drain goes ahead of it and is not waited for; each service their
 *   operations touched after it was read is read again, first outside the queue in rounds, and what is
 *   still left in the queue once those ended; the pass, planned there against the desired table then in
 *   force, never sets what they replaced.
 * - snapshot / status: the kept view, and what failed.
 *
 * Every failed operation is logged, counted, kept for status (repair.ts) and retried by full passes that
 * back off until one applies everything (repair-schedule.ts). An operation whose outcome is unknown (the socket failed, a reply
 * was lost) marks its service stale: it is read again before it is planned, and the full pass reads all.
 */
import { performance, type IntervalHistogram } from 'node:perf_hooks';
import { releaseLoop, watchLoop } from '../loop-delay.js';
import type { IpvsClient } from '../ipvs/types.js';
import type { DesiredEntry, KernelEntry, Timeouts } from '../table/index.js';
import { applyPlan, logApplied, mergeReports, sendChunk, type ApplyReport } from './apply.js';
import { OwnedSet } from './ownership.js';
import type { Plan, PlannedOp } from './plan.js';
import {
  NOTHING_TO_DO, firstError, hasTimeouts, sameEntry, sameTimeouts,
  type DesiredChanges, type DesiredTable, type IpvsApplyStatus, type PassKind, type PassOutcome, type ReconcilerOptions,
} from './reconciler-types.js';
import { passFailure, recordsOf, sendFailures } from './repair.js';
import { RepairSchedule } from './repair-schedule.js';
import { planSliced } from './sliced.js';
import { KeptView } from './view.js';
import { NO_STATS, followSend, readAgainAside, readWholeAside, readWholeTable, sendLost } from './view-sync.js';
import type { AsideRead } from './view.js';
import { TurnBudget } from '../turn-budget.js';
import { serviceIdOf } from './service-id.js';

/**
 * Rounds of reading again, outside the queue, what other passes changed during a drift pass's read
 * (view-sync.ts readAgainAside). Each round reads only what changed during the one before; what is left
 * after the last is read in the queue.
 */
const AGAIN_ROUNDS = 4;

/** Passes that plan the whole desired table (and so own the owned set and show as the last reconcile). */
const TABLE_KINDS: ReadonlySet<PassKind> = new Set(['start', 'reload', 'drift', 'repair', 'adopted']);

/** A drift pass's read, made outside the queue (Reconciler.driftPass), handed to its plan in the queue. */
interface ReadOutside {
  read: AsideRead;
  /** The kernel's timeouts read with it (when the table in force wanted any). */
  timeouts: Timeouts | undefined;
  /** When the pass began (its read), performance.now(). */
  started: number;
  readMs: number;
  /** The services read again outside the queue after the read (view-sync.ts readAgainAside), in how many rounds, and how long they took. */
  again: { services: number; rounds: number };
  againMs: number;
  /** Passes counted when the read began (Reconciler.passes): those since went ahead of this one. */
  passesBefore: number;
  /**
   * The event loop's delay since the read began (the pass's line reports the whole pass, the read included:
   * until 2026-12-06 it covered the plan and sends only, at 110,000 objects a fifth of the pass). The drift
   * pass owns it and releases it after the pass.
   */
  loop: IntervalHistogram;
}

export class Reconciler {
  /** The services lvsd owns and the state file (ownership.ts). */
  private readonly ownedSet: OwnedSet;
  private readonly view = new KeptView();
  private table: DesiredTable = { entries: [], names: new Map(), ownWholeTable: false };
  /** The desired entries by canonical id (first declaration wins), table order; update() replaces some. */
  private desired = new Map<string, DesiredEntry>();
  /** Whether the last whole table had one entry per canonical id (applyChangesNow replaces entries by id). */
  private unique = true;
  private queue: Promise<unknown> = Promise.resolve();
  private fullPending: Promise<PassOutcome> | undefined;
  /** The full passes asked for (repairDrift), one after the other: each reads outside the queue. */
  private driftChain: Promise<unknown> = Promise.resolve();
  /** Passes begun in the queue (a drift pass's line says how many went ahead of its read). */
  private passes = 0;
  private readonly dirty = new Map<string, { reason: string; kind: 'health' | 'drain' }>();
  private flushPending: Promise<void> | undefined;
  /** What failed, the repair passes scheduled for it, the last full pass (repair-schedule.ts). */
  private readonly repairs: RepairSchedule;
  private stopped = false;

  constructor(private readonly opts: ReconcilerOptions) {
    this.ownedSet = new OwnedSet(() => opts.stateFile(), opts.log);
    this.repairs = new RepairSchedule({
      log: opts.log, events: opts.events, backoff: opts.backoff, repair: () => void this.repairDrift('repair', 'repair'),
    });
  }

  /** Service ids lvsd applied (the state file). */
  get owned(): Set<string> {
    return this.ownedSet.ids;
  }

  set owned(ids: Set<string>) {
    this.ownedSet.ids = ids;
  }

  /**
   * No pass runs after this; resolves once the one running in the queue has ended. A drift pass still
   * reading (outside the queue) is not waited for: it changes nothing, and once its read ends it sees
   * the stop and drops what it read.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.repairs.stop();
    await this.queue.catch(() => undefined);
  }

  /** Runs `task` after every queued kernel change (a reload holds the queue while it switches). */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Reads the whole table into the view and returns it (start: adoption looks at it). Throws when it cannot. */
  async read(): Promise<KernelEntry[]> {
    const client = await this.opts.client();
    if (!client) return [];
    const kernel = await client.dump(undefined, NO_STATS);
    await this.view.replaceAllSliced(kernel);
    return kernel;
  }

  /**
   * A new desired table, applied after what is queued. Never rejects. `sent`: called once the kernel has
   * answered the pass's operations, before the state file is written (the start tells VRRP then); not
   * called when the pass sent nothing or failed before sending.
   */
  applyDesired(table: DesiredTable, reason: string, kind: PassKind, sent?: (outcome: PassOutcome) => void): Promise<PassOutcome> {
    return this.enqueue(() => this.applyDesiredNow(table, reason, kind, sent));
  }

  /**
   * A new desired table, applied now: call it from inside the queue (the reload's switch holds it). Only
   * the services whose desired entry changed, or that have outstanding failures or a stale view, are
   * planned, against the kept view; a start (or a first pass) reads the whole table. Never rejects.
   */
  async applyDesiredNow(table: DesiredTable, reason: string, kind: PassKind, sent?: (outcome: PassOutcome) => void): Promise<PassOutcome> {
    const old = this.table;
    const oldDesired = this.desired;
    this.setTable(table);
    if (this.stopped) return NOTHING_TO_DO;
    if (kind === 'start' || !this.view.known || old.ownWholeTable !== table.ownWholeTable || this.repairs.state.hasGlobal) {
      return this.fullPass(reason, kind, kind === 'start' && this.view.known, sent);
    }
    const ids = new Set<string>();
    for (const [id, e] of this.desired) if (!sameEntry(oldDesired.get(id), e)) ids.add(id);
    for (const id of oldDesired.keys()) if (!this.desired.has(id)) ids.add(id);
    for (const id of this.view.stale()) ids.add(id);
    for (const id of this.repairs.state.serviceIds()) ids.add(id);
    return this.pass(ids, reason, kind, !sameTimeouts(old.timeouts, table.timeouts));
  }

  /**
   * The table in force with some services' entries replaced (a reload that changed those services in
   * place), applied now, from inside the queue: what applyDesiredNow does with the whole table, in
   * proportion to the change. Only the entries given are compared with those in force; the services with
   * outstanding failures or a stale view are planned too. Returns undefined, having changed nothing, when
   * it cannot be exact this way (an entry whose id the table does not have, a first pass, a change of
   * ownWholeTable, a failure that is not one service's): apply the whole table then.
   */
  applyChangesNow(changes: DesiredChanges, reason: string, kind: PassKind): Promise<PassOutcome> | undefined {
    const old = this.table;
    if (this.stopped || kind === 'start' || !this.view.known || !this.unique || old.ownWholeTable !== changes.ownWholeTable
      || this.repairs.state.hasGlobal) return undefined;
    const replaced = new Map<string, DesiredEntry>();
    for (const e of changes.entries) {
      const id = serviceIdOf(e.service.key);
      if (!this.desired.has(id) || replaced.has(id)) return undefined;
      replaced.set(id, e);
    }
    this.table = { entries: [], names: changes.names, ownWholeTable: changes.ownWholeTable, timeouts: changes.timeouts };
    const ids = new Set<string>();
    for (const [id, e] of replaced) {
      if (!sameEntry(this.desired.get(id), e)) ids.add(id);
      this.desired.set(id, e); // in place: the table's order stays
    }
    for (const id of this.view.stale()) ids.add(id);
    for (const id of this.repairs.state.serviceIds()) ids.add(id);
    return this.pass(ids, reason, kind, !sameTimeouts(old.timeouts, changes.timeouts));
  }

  /**
   * Some services' desired entries changed (a health verdict, a drain): they are planned against the kept
   * view after what is queued. Changes coalesce: everything marked by the time the flush runs goes out in
   * one plan and one pipelined batch. Entries of services not in the desired table are ignored. Never rejects.
   */
  update(entries: readonly DesiredEntry[], reason: string, kind: 'health' | 'drain'): Promise<void> {
    for (const e of entries) {
      const id = serviceIdOf(e.service.key);
      if (!this.desired.has(id)) continue;
      this.desired.set(id, e);
      this.dirty.set(id, { reason, kind });
    }
    this.flushPending ??= this.enqueue(async () => {
      this.flushPending = undefined;
      const batch = new Map(this.dirty);
      this.dirty.clear();
      if (batch.size === 0) return;
      const [firstId, first] = batch.entries().next().value as [string, { reason: string; kind: 'health' | 'drain' }];
      const kind = [...batch.values()].some((b) => b.kind === 'drain') ? 'drain' : 'health';
      const name = this.table.names.get(firstId) ?? firstId;
      const reason = batch.size === 1 ? first.reason : `${first.kind}: ${batch.size} services (${first.reason}, ...)`;
      await this.pass(new Set(batch.keys()), reason, kind, false, batch.size === 1 ? name : undefined);
    }).catch((e: unknown) => this.opts.internalError('reconcile.flush', e));
    return this.flushPending;
  }

  /**
   * The one full read: the view is replaced by the kernel's table and everything planned. Coalesces (a
   * call before the pass begins to read joins it). The read runs outside the queue; what the queue runs
   * meanwhile goes ahead (driftPass). Never rejects.
   */
  repairDrift(reason = 'drift', kind: PassKind = 'drift'): Promise<PassOutcome> {
    if (this.fullPending) return this.fullPending;
    const p = this.driftChain.then(() => {
      this.fullPending = undefined;
      return this.driftPass(reason, kind);
    });
    this.driftChain = p.catch(() => undefined);
    this.fullPending = p;
    return p;
  }

  /** Whether a drift pass is reading the kernel's table now (a pass that runs meanwhile goes ahead of it). */
  get driftReading(): boolean {
    return this.view.readingAside;
  }

  /**
   * A drift (or repair) pass: the whole table read outside the queue into a view built aside, then, in
   * the queue, that read committed (KeptView.readAside: each service a pass touched meanwhile goes
   * stale), the stale services read again, and everything planned and sent as the full pass does. Before the first whole read the pass runs whole in the queue. Never rejects.
   */
  private async driftPass(reason: string, kind: PassKind): Promise<PassOutcome> {
    if (this.stopped) return NOTHING_TO_DO;
    if (!this.view.known || this.nothingToManage()) return this.enqueue(() => this.fullPass(reason, kind, false));
    const started = performance.now();
    const passesBefore = this.passes;
    let client: IpvsClient | undefined;
    let read: AsideRead | undefined;
    let timeouts: Timeouts | undefined;
    let readMs = 0;
    let again = { services: 0, rounds: 0 };
    const loop = watchLoop();
    try {
      client = await this.opts.client();
      if (!client) {
        releaseLoop(loop);
        return NOTHING_TO_DO;
      }
      read = this.view.readAside();
      const budget = new TurnBudget();
      timeouts = await readWholeAside(client, read, hasTimeouts(this.table.timeouts), budget);
      readMs = performance.now() - started;
      // what other passes changed while it read, read again here rather than in the queue (view-sync.ts)
      again = await readAgainAside(client, read, budget, AGAIN_ROUNDS, () => this.stopped);
    } catch (e) {
      releaseLoop(loop);
      read?.abandon();
      if (this.stopped) return NOTHING_TO_DO;
      const connected = client !== undefined;
      return this.enqueue(async () => {
        const outcome = await this.passFailed(reason, e, connected, started);
        this.repairs.afterPass(kind, outcome, true);
        this.repairs.noteReconcile(reason, outcome);
        return outcome;
      });
    }
    const outside: ReadOutside = { read, timeouts, started, readMs, againMs: performance.now() - started - readMs, again, passesBefore, loop };
    return this.enqueue(() => this.fullPass(reason, kind, false, undefined, outside)).finally(() => {
      read.abandon();
      releaseLoop(loop);
    });
  }

  /** lvsd manages only what it declares or owns: with neither (a VRRP-only config, or every service gone and removed) there is nothing to repair. */
  private nothingToManage(): boolean {
    return this.desired.size === 0 && this.owned.size === 0 && !this.table.ownWholeTable;
  }

  /** The kept view of these services (canonical ids), counters 0; undefined while the view knows nothing. */
  snapshot(ids: Iterable<string>): KernelEntry[] | undefined {
    if (!this.view.known) return undefined;
    const out: KernelEntry[] = [];
    for (const id of ids) {
      const e = this.view.entry(id);
      if (e) out.push(e);
    }
    return out;
  }

  /** Services and real servers in the kept view. */
  get viewSize(): { services: number; objects: number } {
    return { services: this.view.size, objects: this.view.objects };
  }

  /** What failed and is being repaired, and the last full pass (repair-schedule.ts). */
  status(): IpvsApplyStatus {
    return this.repairs.status();
  }

  private setTable(table: DesiredTable): void {
    // the entries live on in `desired` (which update() keeps current), not in the table: kept there they
    // held the table of the last applyDesired, every real server of it, long after health changed them
    // (at start: a weight-0 copy of each real server for as long as the config ran)
    this.table = { entries: [], names: table.names, ownWholeTable: table.ownWholeTable, timeouts: table.timeouts };
    const desired = new Map<string, DesiredEntry>();
    for (const e of table.entries) {
      const id = serviceIdOf(e.service.key);
      if (!desired.has(id)) desired.set(id, e);
    }
    this.desired = desired;
    this.unique = desired.size === table.entries.length;
    this.ownedSet.idsChanged();
  }

  private nameOf = (id: string): string | undefined => this.table.names.get(id);

  /**
   * Sends a plan and makes the view follow what the kernel accepted. A refusal leaves the kernel as it
   * was; an operation that failed otherwise (a lost reply) may have landed: its service goes stale. When
   * the client itself fails nobody knows what landed: every service of the plan goes stale, and it throws.
   */
  private async send(client: IpvsClient, planOrChunk: Plan | PlannedOp[], log: ReconcilerOptions['log']): Promise<ApplyReport> {
    // a chunk of a plan (fullPass) is sent without the plan's log line, which is logged once for all of them
    const plan = Array.isArray(planOrChunk) ? { ops: planOrChunk } : planOrChunk;
    let report: ApplyReport;
    try {
      report = Array.isArray(planOrChunk) ? await sendChunk(client, planOrChunk, { log }) : await applyPlan(client, planOrChunk, { log });
    } catch (e) {
      sendLost(this.view, plan.ops);
      throw e;
    }
    followSend(this.view, plan.ops, report);
    return report;
  }

  /**
   * The full pass: the whole table read (or, at start, the read adoption made a moment ago), everything
   * planned a slice at a time, the difference sent. Its failures replace what was outstanding. Never throws.
   */
  private async fullPass(
    reason: string, kind: PassKind, useView: boolean, sent?: (outcome: PassOutcome) => void, outside?: ReadOutside,
  ): Promise<PassOutcome> {
    if (this.stopped) return NOTHING_TO_DO;
    this.passes++;
    if (this.nothingToManage()) {
      // the kernel's table is not read (or what a drift pass read is dropped)
      this.repairs.afterPass(kind, NOTHING_TO_DO, true);
      this.repairs.noteReconcile(reason, NOTHING_TO_DO);
      return NOTHING_TO_DO;
    }
    const started = outside?.started ?? performance.now();
    // what a drift pass read outside the queue: the services other passes touched meanwhile are read again
    let aside: { readAgain: number; passesAhead: number; againOutside: number; againRounds: number; againMs: number } | undefined;
    const log = this.opts.log.child({ component: 'reconcile', reason });
    let outcome: PassOutcome;
    let client: IpvsClient | undefined;
    // how long the event loop (health outcomes, timers, the control socket) waited at worst during the pass
    // (a drift pass's since its read began: it holds that one)
    const loop = outside?.loop ?? watchLoop();
    const budget = new TurnBudget();
    try {
      client = await this.opts.client();
      if (!client) return NOTHING_TO_DO;
      const table = this.table;
      const wantTimeouts = hasTimeouts(table.timeouts);
      let readMs: number;
      if (outside) {
        const kept = outside.read.commit(outside.timeouts);
        aside = {
          readAgain: Math.max(0, kept), passesAhead: this.passes - 1 - outside.passesBefore,
          againOutside: outside.again.services, againRounds: outside.again.rounds, againMs: Math.round(outside.againMs),
        };
        // a service other passes touched since it was last read (after the rounds outside the queue) is read
        // again (what was read of it may be from before, during or after their operations), here, in the
        // queue: nothing changes it now
        const stale = this.view.stale();
        if (stale.length > 0) this.view.replaceSome(new Set(stale), await client.dump(new Set(stale), NO_STATS));
        if (wantTimeouts && !this.view.timeouts) this.view.timeouts = await client.getTimeouts();
        readMs = outside.readMs;
      } else {
        if (!useView) {
          await readWholeTable(client, this.view, wantTimeouts, budget);
        } else if (wantTimeouts) {
          this.view.timeouts = await client.getTimeouts();
        }
        readMs = performance.now() - started;
      }
      // a large table goes out a chunk of operations at a time as it is planned (sliced.ts sink), so the
      // start does not hold every operation of 110,000 objects, their commands and replies at once
      const chunks: ApplyReport[] = [];
      let sunk = 0;
      const sink = async (ops: PlannedOp[]): Promise<void> => {
        sunk += ops.length;
        chunks.push(await this.send(client!, ops, log));
      };
      const plan = await planSliced({
        // the desired table as it is when each slice is planned (sliced.ts): update() replaces entries in
        // place (no new ids: only a table pass, which waits for this one in the queue, changes those)
        desired: this.desired.values(), view: this.view, candidates: [...this.view.ids()],
        owned: this.owned, ownWholeTable: table.ownWholeTable,
        ...(wantTimeouts ? { timeouts: { desired: table.timeouts!, ...(this.view.timeouts ? { kernel: this.view.timeouts } : {}) } } : {}),
        ...(this.opts.sliceObjects ? { sliceObjects: this.opts.sliceObjects } : {}), budget,
        sink, ...(this.opts.sinkOps ? { sinkOps: this.opts.sinkOps } : {}),
      });
      const ops = sunk + plan.ops.length;
      let report: ApplyReport;
      if (chunks.length === 0) report = await this.send(client, plan, log);
      else {
        chunks.push(await this.send(client, plan.ops, log));
        report = mergeReports(chunks);
        logApplied(log, ops, plan.summary, report);
      }
      const failures = recordsOf(report, this.nameOf, Date.now());
      outcome = { result: failures.length > 0 ? 'partial' : 'ok', ops, failures, ...firstError(failures) };
      sent?.(outcome);
      await this.ownedSet.settle(this.desired, this.view, budget);
      this.opts.events?.reconcile?.((performance.now() - started) / 1000, failures.length);
      this.opts.log[failures.length > 0 ? 'warn' : 'info']({
        event: 'daemon.reconcile', reason, read: !useView, ops, failed: failures.length,
        services: this.view.size, readMs: Math.round(readMs), ms: Math.round(performance.now() - started), ...aside,
        loopDelayMaxMs: Math.round(loop.max / 1e6), loopDelayP99Ms: Math.round(loop.percentile(99) / 1e6),
      }, `reconcile (${reason}): ${ops} operations${failures.length > 0 ? `, ${failures.length} failed` : ''}`);
    } catch (e) {
      outcome = await this.passFailed(reason, e, client !== undefined, started);
    } finally {
      if (!outside) releaseLoop(loop);
    }
    this.repairs.afterPass(kind, outcome, true);
    this.repairs.noteReconcile(reason, outcome);
    return outcome;
  }

  /**
   * A pass over some services (canonical ids): stale ones read first, then planned against the view and
   * sent. A table pass (reload, adopted) also removes what is no longer declared and may set timeouts;
   * a health or drain pass only edits declared services. Its failures add to what is outstanding.
   */
  private async pass(ids: ReadonlySet<string>, reason: string, kind: PassKind, timeouts: boolean, service?: string): Promise<PassOutcome> {
    if (this.stopped) return NOTHING_TO_DO;
    if (!this.view.known) return this.fullPass(`${reason}`, kind, false);
    this.passes++;
    // a drift pass is reading the table outside the queue: this pass went ahead of it (its line says so)
    const aheadOfDrift = this.view.readingAside;
    const tableKind = TABLE_KINDS.has(kind);
    const started = performance.now();
    const log = this.opts.log.child({ component: 'reconcile', reason, ...(service !== undefined ? { service } : {}) });
    let outcome: PassOutcome;
    let client: IpvsClient | undefined;
    let plan: Plan | undefined;
    try {
      client = await this.opts.client();
      if (!client) return NOTHING_TO_DO;
      const stale = [...ids].filter((id) => this.view.isStale(id));
      if (stale.length > 0) this.view.replaceSome(new Set(stale), await client.dump(new Set(stale), NO_STATS));
      const wantTimeouts = tableKind && timeouts && hasTimeouts(this.table.timeouts);
      if (wantTimeouts) this.view.timeouts = await client.getTimeouts();
      // in the order of `ids` (a whole table's: the table's), not a walk of the whole table
      const desired: DesiredEntry[] = [];
      for (const id of ids) {
        const e = this.desired.get(id);
        if (e !== undefined) desired.push(e);
      }
      plan = await planSliced({
        desired, view: this.view, candidates: tableKind ? [...ids].filter((id) => !this.desired.has(id)) : [],
        owned: tableKind ? this.owned : new Set(), ownWholeTable: tableKind && this.table.ownWholeTable,
        ...(wantTimeouts ? { timeouts: { desired: this.table.timeouts!, ...(this.view.timeouts ? { kernel: this.view.timeouts } : {}) } } : {}),
        ...(this.opts.sliceObjects ? { sliceObjects: this.opts.sliceObjects } : {}),
      });
      const report = plan.ops.length > 0 || tableKind ? await this.send(client, plan, log) : undefined;
      if (tableKind) await this.ownedSet.settle(this.desired, this.view, new TurnBudget());
      const failures = report ? recordsOf(report, this.nameOf, Date.now()) : [];
      outcome = { result: failures.length > 0 ? 'partial' : 'ok', ops: plan.ops.length, failures, ...firstError(failures) };
      if (tableKind) {
        this.opts.events?.reconcile?.((performance.now() - started) / 1000, failures.length);
        this.opts.log[failures.length > 0 ? 'warn' : 'info']({
          event: 'daemon.reconcile', reason, read: false, services: ids.size, ops: plan.ops.length, failed: failures.length,
          ms: Math.round(performance.now() - started), ...(aheadOfDrift && { aheadOfDrift }),
        }, `reconcile (${reason}): ${plan.ops.length} operations${failures.length > 0 ? `, ${failures.length} failed` : ''}`);
      }
    } catch (e) {
      if (plan && plan.ops.length > 0 && !tableKind) {
        // the client failed while sending: nobody knows which of these landed (their services are stale)
        const failures = sendFailures(plan.ops, e, Date.now(), this.nameOf);
        for (const f of failures) {
          log.warn({ event: 'ipvs.op_failed', op: f.op, service: f.serviceId, dest: f.realServer, reason: f.message, code: f.code },
            `failed: ${f.op} ${f.serviceId ?? ''}${f.realServer ? ` ${f.realServer}` : ''}: ${f.message}`);
        }
        outcome = { result: 'failed', ops: plan.ops.length, failures, ...firstError(failures) };
      } else {
        for (const id of ids) this.view.markStale(id);
        outcome = await this.passFailed(reason, e, client !== undefined, started, tableKind);
      }
    }
    this.repairs.afterPass(kind, outcome, false);
    if (tableKind) this.repairs.noteReconcile(reason, outcome);
    return outcome;
  }

  /** A pass that could not complete (the table unreadable, the socket failed). */
  private async passFailed(reason: string, e: unknown, connected: boolean, started: number, ownsTable = true): Promise<PassOutcome> {
    if (ownsTable) {
      // Nobody knows what landed: own everything declared (and owned before) so a later pass can clean up.
      await this.ownedSet.afterError([...this.desired.values()]);
    }
    this.opts.events?.reconcile?.((performance.now() - started) / 1000, 1);
    const failure = passFailure(connected ? 'reconcile' : 'connect', e, Date.now());
    this.opts.log.error({ event: 'daemon.reconcile_failed', reason, err: failure.message, code: failure.code },
      `reconcile (${reason}) failed: ${failure.message}`);
    return { result: 'failed', ops: 0, failures: [failure], ...firstError([failure]) };
  }
}
